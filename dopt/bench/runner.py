"""Run the suites of the chosen families and keep every measurement, whatever fails."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from dopt.bench.suite import Case, Entry, Outcome
from dopt.core.errors import MethodError
from dopt.core.jit import compile_parallel_twins
from dopt.core.registry import FAMILIES

SUITES = ("smoke", "quick", "full")  # smoke: seconds, for tests; quick: under 10 minutes on 2 cores; full: the README


def family_cases(family: str, suite: str, device: str = "auto") -> list[Case] | None:
    """The family's cases for ``suite``, or None when the family has no benchmark suite yet."""
    if importlib.util.find_spec(f"dopt.{family}") is None or importlib.util.find_spec(f"dopt.{family}.bench") is None:
        return None
    return importlib.import_module(f"dopt.{family}.bench").cases(suite, device)


def run_suite(
    suite: str = "quick",
    families: list[str] | None = None,
    *,
    device: str = "auto",
    progress: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every case of ``suite`` for ``families`` (default: all); return the machine and the measurements.

    ``on_row`` receives each measurement as soon as it is taken (the CLI logs them, so a long run that dies
    keeps what it measured).
    """
    if suite not in SUITES:
        raise MethodError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
    chosen = list(families) if families else list(FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise MethodError(f"unknown family {', '.join(unknown)}; families: {', '.join(FAMILIES)}")
    cases: list[Case] = []
    missing_suites = []
    for family in chosen:
        found = family_cases(family, suite, device)
        if found is None:
            missing_suites.append(family)
        else:
            cases += found
    rows = []
    warmed: set[str] = set()
    bar = _bar(sum(len(c.entries) for c in cases), progress)
    for case in cases:
        if case.family not in warmed:
            warm_up(case.family, device)
            warmed.add(case.family)
        for entry in case.entries:
            if bar is not None:
                bar.set_description(f"{case.family} {case.instance} {entry.label}")
            rows.append(measure(case, entry))
            if on_row is not None:
                on_row(rows[-1])
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    facts = {"machine": machine(), "suite": suite, "device": device, "families": chosen}
    return {**facts, "no_suite": missing_suites, "rows": rows}


def warm_up(family: str, device: str = "auto") -> None:
    """Compile the family's JIT kernels before anything of it is timed: its bench module's ``warm_up(device)``,
    where it has one, then the parallel variants of the kernels that run compiled (``dopt.core.jit``).
    Numba caches compiled kernels on disk, but a fresh install or a changed kernel file compiles on first
    use, which would otherwise fall inside the first timed run. A failing warm-up is logged, not raised:
    the runs themselves record their errors."""
    hook = getattr(importlib.import_module(f"dopt.{family}.bench"), "warm_up", None)
    if hook is None:
        return
    try:
        with _quiet():
            hook(device)
            compile_parallel_twins()  # the warm-up's tiny inputs ran only the serial variants
    except Exception as exc:  # noqa: BLE001 - e.g. device="gpu" without one: every run will say so
        logging.getLogger("dopt").warning("%s warm-up failed (%s: %s)", family, type(exc).__name__, exc)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """dopt's log at warnings only: no "solving ... on cpu" line for each benchmark run."""
    log = logging.getLogger("dopt")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def measure(case: Case, entry: Entry) -> dict[str, Any]:
    """Run one entry on one case; a missing package or an error is recorded, never raised."""
    row = {
        "family": case.family,
        "instance": case.instance,
        "size": case.size,
        "quality_name": case.quality_name,
        "compare": case.compare,
        "label": entry.label,
        "peer": entry.peer,
    }
    missing = [mod for mod in entry.requires if importlib.util.find_spec(mod) is None]
    if missing:
        return {**row, "quality": None, "seconds": None, "status": "not installed", "notes": ", ".join(missing)}
    try:
        with _quiet():
            outcome = entry.run()
    except Exception as exc:  # noqa: BLE001 - a failing solver is a result of the benchmark, not its end
        outcome = Outcome(None, float("nan"), "error", f"{type(exc).__name__}: {exc}")
    return {**row, **outcome.__dict__}


def machine() -> dict[str, str]:
    """What the measurements ran on."""
    facts = {
        "date": time.strftime("%Y-%m-%d"),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "command": " ".join(["dopt", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("dopt") else "",
    }
    from dopt.core.device import real_gpu_available

    if real_gpu_available():
        from numba import cuda

        name = cuda.get_current_device().name
        facts["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
    return facts


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="run", file=sys.stderr, leave=False)
