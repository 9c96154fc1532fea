"""The ``dopt`` command: solve, check, list methods and generate problem files; a thin layer over the library.

Exit codes: 0 solved, 1 internal error, 2 bad input or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import sys
import tomllib
import traceback
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dopt
from dopt.core import registry
from dopt.core.device import DEVICES, gpu_usable, real_gpu_available
from dopt.core.errors import DoptError, FormatError, MethodError
from dopt.core.registry import MethodSpec

KIND_HELP = "read FILE as a data file of this kind (bcd: LIBSVM), params as --PARAM VALUE (--loss logistic --l1 0.01)"
EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SOLVE_ARGUMENTS = frozenset(inspect.signature(dopt.solve).parameters)
GENERATORS = {
    "fir": "dmmv",
    "tomography": "dmmv",
    "maxquant": "dmmv",
    "dag": "dag",
    "completion": "completion",
    "ratings": "completion",
}  # generator -> family


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        args.params = data_file_params(parser, args, extra)
    except SystemExit as exc:  # --help, --version, or a usage error already printed by argparse
        return int(exc.code or 0)
    debug = args.debug
    try:
        with _logging(quiet=getattr(args, "quiet", False), debug=debug):
            return args.command(args)
    except KeyboardInterrupt:
        print("dopt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (``dopt ... | head``): not an error of dopt's
        _silence_stdout()
        return EXIT_OK
    except DoptError as exc:
        _print_traceback(debug)
        print(f"dopt: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: report it in one line, traceback on --debug
        _print_traceback(debug)
        print(f"dopt: internal error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        if not debug:
            print("dopt: rerun with --debug to see the traceback", file=sys.stderr)
        return EXIT_INTERNAL


def cmd_solve(args: argparse.Namespace) -> int:
    """``dopt solve``: solve one problem file (summary, optional result file) or many (a batch)."""
    options = parse_options(args.option)
    files = expand_inputs(args.files)
    batch = len(files) > 1 or args.workers > 1 or args.scheduler is not None or args.files[0].is_dir()
    if batch and args.kind is not None:
        raise FormatError("--kind reads one data file; write manifests to solve many")
    if batch:
        return _solve_batch(files, args, options)
    if args.out is not None and not args.out.resolve().parent.is_dir():
        raise FormatError(f"{args.out}: the folder to write the result into does not exist")
    source = files[0] if args.kind is None else dopt.load(files[0], args.kind, **args.params)
    result = dopt.solve(
        source,
        args.method,
        device=args.device,
        time_limit=args.time_limit,
        seed=args.seed,
        progress=sys.stderr.isatty() and not args.quiet,
        **options,
    )
    if not result.has_solution:
        raise RuntimeError(f"method {result.method} returned no solution")
    print(result.summary())
    if args.out is not None:
        try:
            written = result.save(args.out)
        except OSError as exc:
            raise FormatError(f"{args.out}: cannot write the result ({exc})") from None
        logging.getLogger("dopt").info("dopt: wrote %s", written)
    return EXIT_OK


def expand_inputs(inputs: Sequence[Path]) -> list[Path]:
    """Problem files named directly, inside folders (``*.toml``, ``*.npz``) or by glob patterns, in order."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found = sorted([*item.glob("*.toml"), *filter(_is_problem_npz, item.glob("*.npz"))])
            if not found:
                raise FormatError(f"{item}: no problem files (*.toml, *.npz) in this folder")
            files += found
        elif any(c in str(item) for c in "*?["):
            found = sorted(Path().glob(str(item))) if not item.is_absolute() else sorted(Path("/").glob(str(item)[1:]))
            if not found:
                raise FormatError(f"{item}: no file matches this pattern")
            files += found
        else:
            files.append(item)
    return files


def _is_problem_npz(path: Path) -> bool:
    """True for a self-contained problem .npz (it has a ``kind`` entry), not a manifest's data file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "kind.npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return True  # let the loader report what is wrong with it


def _solve_batch(files: list[Path], args: argparse.Namespace, options: dict[str, str]) -> int:
    """Solve many files (in this process, or on Dask with --workers/--scheduler); print the summary table."""
    from dopt.core.batch import Failure, summary_row, summary_table

    if args.out is not None and args.out.suffix == ".json":
        raise FormatError(f"{args.out}: with several problem files --out names a folder, not a .json file")
    results = dopt.solve_many(
        files,
        args.method,
        workers=args.workers,
        scheduler=args.scheduler,
        out_dir=args.out,
        progress=not args.quiet,
        device=args.device,
        time_limit=args.time_limit,
        seed=args.seed,
        **options,
    )
    names = [path.stem for path in files]
    print(summary_table([summary_row(n, r) for n, r in zip(names, results, strict=True)]), end="")
    failed = sum(isinstance(r, Failure) for r in results)
    if failed:
        print(f"dopt: error: {failed} of {len(files)} problems could not be solved", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """``dopt check``: load and validate a problem file (and its ``[solve]`` table) without solving."""
    problem = dopt.load(args.file) if args.kind is None else dopt.load(args.file, args.kind, **args.params)
    _check_solve_defaults(problem)
    facts = problem.summary()
    if problem.defaults:
        facts["solve defaults"] = problem.defaults
    width = max(len(key) for key in facts)
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
    return EXIT_OK


def cmd_methods(args: argparse.Namespace) -> int:
    """``dopt methods``: list problem kinds and their methods, devices, requirements and options."""
    if args.name is not None:
        spec = _find_method(args.name)
        groups = {spec.kind: [spec]}
    elif args.kind is not None:
        registry.problem_class(args.kind)  # MethodError naming the known kinds
        groups = {args.kind: registry.methods(args.kind)}
    else:
        kinds = sorted(set(registry.kinds()) | {spec.kind for spec in registry.methods()})
        groups = {kind: registry.methods(kind) for kind in kinds}
    verbose = args.verbose or args.name is not None
    for kind, specs in groups.items():
        print(_kind_title(kind))
        if not specs:
            print("  (no methods registered)")
        width = max((len(spec.name) for spec in specs), default=0)
        for spec in specs:
            print(_method_line(spec, width))
            if verbose:
                print(*_option_lines(spec), sep="\n")
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    """``dopt generate GENERATOR ...``: write an application's problem file (each family's ``generate`` module)."""
    family = GENERATORS.get(args.arguments[0] if args.arguments else "", "dmmv")  # dmmv's parser reports the rest
    module = importlib.import_module(f"dopt.{family}.generate")
    try:
        return module.main(args.arguments)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return EXIT_USAGE if exc.code else EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    """``dopt bench``: run the benchmark suite, write results.json, report.md and plots (and the README's tables)."""
    from dopt.bench import report, run_suite

    results = run_suite(
        args.suite, args.family, device=args.device, progress=not args.quiet, on_row=report.row_logger(args.out)
    )
    for path in report.write(results, args.out):
        logging.getLogger("dopt").info("dopt: wrote %s", path)
    text = report.markdown(results)
    if args.readme is not None:
        try:
            report.update_readme(args.readme, text)
        except (OSError, ValueError) as exc:
            raise FormatError(str(exc)) from None
    print(text, end="")
    return EXIT_OK


def parse_options(pairs: Sequence[str]) -> dict[str, str]:
    """``["key=value", ...]`` as a dict (later keys win); MethodError on bad syntax or a solve argument."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MethodError(f"--option expects key=value, got {pair!r}")
        if key in SOLVE_ARGUMENTS:
            raise MethodError(f"--option {key}: {key!r} is an argument of the solve, not a method option")
        options[key] = value.strip()
    return options


def data_file_params(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """``--key value`` / ``--key=value`` words left over after ``--kind``: the [params] of a data file.

    Values are read as TOML values (``0.01`` a number, ``true`` a boolean), else kept as text (``logistic``).
    Anything left over without ``--kind`` is the usage error argparse would have reported.
    """
    if extra and getattr(args, "kind", None) is None:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    params: dict[str, Any] = {}
    words = iter(extra)
    for word in words:
        key, sep, value = word.partition("=")
        if not key.startswith("--") or len(key) == 2:
            parser.error(f"expected --PARAM VALUE after --kind, got {word!r}")
        if not sep:
            value = next(words, None)
            if value is None or value.startswith("--"):
                parser.error(f"{word} needs a value")
        try:
            params[key[2:].replace("-", "_")] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            params[key[2:].replace("-", "_")] = value
    return params


def _check_solve_defaults(problem: dopt.Problem) -> None:
    """Raise MethodError if the file's ``[solve]`` method or options would be refused by a solve."""
    defaults = problem.defaults
    if "method" in defaults or "options" in defaults:
        spec = registry.get_method(defaults.get("method"), problem.kind)
        registry.build_options(spec, defaults.get("options", {}))


def _find_method(name: str) -> MethodSpec:
    """The registered method called ``name``, or MethodError listing every method."""
    for spec in registry.methods():
        if spec.name == name:
            return spec
    valid = ", ".join(spec.name for spec in registry.methods())
    raise MethodError(f"unknown method {name!r}; methods: {valid}")


def _kind_title(kind: str) -> str:
    """``kind: <first line of the family's description>``."""
    cls = registry.kinds().get(kind)
    doc = inspect.getdoc(sys.modules.get(cls.__module__)) if cls is not None else None
    return f"{kind}: {doc.splitlines()[0]}" if doc else kind


def _method_line(spec: MethodSpec, width: int) -> str:
    """One method: name, default marker, devices with their availability here, summary, missing packages."""
    marker = "default" if spec.default else ""
    line = f"  {spec.name:<{width}}  {marker:<7}  {_devices(spec.devices):<24}  {spec.summary}"
    missing = spec.missing_requirements()
    if missing:
        line += f"  [missing: {', '.join(missing)}]"
    return line.rstrip()


def _devices(devices: tuple[str, ...]) -> str:
    """``cpu, gpu`` with ``gpu`` marked when it cannot run here."""
    labels = []
    for device in devices:
        if device == "gpu" and not real_gpu_available():
            device = "gpu (simulator)" if gpu_usable() else "gpu (none here)"
        labels.append(device)
    return ", ".join(labels)


def _option_lines(spec: MethodSpec) -> Iterator[str]:
    """``name: type = default  doc`` for every option of ``spec``."""
    rows = spec.option_docs()
    if not rows:
        yield "      (no options)"
        return
    for name, type_name, default, doc in rows:
        yield f"      {name}: {type_name} = {default!r}" + (f"  {doc}" if doc else "")


def _one_line(exc: BaseException) -> str:
    """The exception's message folded onto one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test's captured stdout)
        pass


def _print_traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)


@contextmanager
def _logging(*, quiet: bool, debug: bool) -> Iterator[None]:
    """Send the library's ``dopt`` log records to stderr for the length of one command."""
    logger = logging.getLogger("dopt")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous = logger.level
    logger.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dopt`` command and its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")

    parser = argparse.ArgumentParser(prog="dopt", description="Fast solvers for structured discrete optimization.")
    parser.add_argument("--version", action="version", version=f"dopt {dopt.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    solve = commands.add_parser("solve", parents=[common], help="solve a problem file, or many in parallel")
    solve.set_defaults(command=cmd_solve)
    solve.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help="problem files (.toml or .npz), folders or glob patterns"
    )
    solve.add_argument("--method", "-m", help="method name (default: the file's, else the family's default)")
    solve.add_argument("--device", choices=DEVICES, help="where to run (default: the file's, else auto)")
    solve.add_argument("--time-limit", type=float, metavar="S", help="seconds; returns the best solution found")
    solve.add_argument("--seed", type=int, metavar="N", help="random seed (default: the file's, else 0)")
    solve.add_argument(
        "--out", "-o", type=Path, metavar="PATH", help="write the result as JSON (several files: a folder of results)"
    )
    solve.add_argument("--workers", type=int, default=1, metavar="N", help="solve N files at once (local Dask cluster)")
    solve.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler (tcp://host:8786) to solve on")
    solve.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no log lines")
    solve.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="a method option (repeatable)"
    )
    solve.add_argument("--kind", help=KIND_HELP)

    check = commands.add_parser("check", parents=[common], help="validate a problem file without solving it")
    check.set_defaults(command=cmd_check)
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--kind", help=KIND_HELP)

    methods = commands.add_parser("methods", parents=[common], help="list methods, devices and options")
    methods.set_defaults(command=cmd_methods)
    methods.add_argument("name", nargs="?", help="show one method with its options")
    methods.add_argument("--kind", help="only methods for this problem kind")
    methods.add_argument("--verbose", "-v", action="store_true", help="also list every method's options")

    bench = commands.add_parser("bench", parents=[common], help="run dopt and its peers on the benchmark suite")
    bench.set_defaults(command=cmd_bench)
    bench.add_argument("--suite", choices=("smoke", "quick", "full"), default="quick", help="quick: < 10 min")
    bench.add_argument("--family", action="append", metavar="F", help="only this family (repeatable)")
    bench.add_argument("--device", choices=DEVICES, default="auto", help="where dopt's methods run")
    bench.add_argument("--out", type=Path, default=Path("bench-results"), metavar="DIR", help="results folder")
    bench.add_argument("--readme", type=Path, metavar="README.md", help="also write the tables into this README")
    bench.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    generate = commands.add_parser(
        "generate",
        parents=[common],
        help="write a problem file (fir, tomography, maxquant, dag, completion, ratings)",
        description="Write an application problem file; 'dopt generate GENERATOR --help' lists its options.",
    )
    generate.set_defaults(command=cmd_generate)
    generate.add_argument(
        "arguments", nargs=argparse.REMAINDER, metavar="GENERATOR ...", help="a generator (see above), then its options"
    )
    return parser
