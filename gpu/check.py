"""Check and time the GPU path of ``dmmv.local`` on a machine with an NVIDIA GPU; write a markdown report.

Runs the ``gpu``-marked tests and the CPU/GPU state comparisons of tests/test_dmmv_cuda.py
natively (no simulator), times ``CudaState.full_pass`` and ``apply`` against ``CpuState``
on dense and sparse random instances, times the batched pass and recheck of several
populations (``CudaPopulations``), compares ``dopt.solve`` on both devices, races one CPU
population against GPU populations to a common target (time_to_target.py), and times the
tomography steps on each device (tomography_times.py). See gpu/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from time_to_target import race_to_target, target_table
from tomography_times import tomography_row, tomography_table

ROOT = Path(__file__).resolve().parents[1]
HOST_BYTES_PER_ENTRY = 80  # A, the CPU state's dense and CSC copies, the GPU state's staging copies
DEVICE_BYTES_PER_ENTRY = 20  # row-major dense matrix + CSC values and int32 rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "gpu" / "report.md", help="markdown report path")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000], help="n of the dense instances")
    parser.add_argument("--levels", type=int, default=16, help="values per domain")
    parser.add_argument(
        "--sparse-n", type=int, default=100_000, help="n of the sparse instance (m = 2n, 10 per column)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per state (best is kept)")
    parser.add_argument("--apply-cands", type=int, default=1000, help="candidates of the timed apply")
    parser.add_argument(
        "--solve-sizes", type=int, nargs=2, default=[300, 2000], help="n of the dense and sparse compared solves"
    )
    parser.add_argument("--rounds", type=int, default=30, help="max_rounds of the compared solves")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the compared solves")
    parser.add_argument(
        "--populations-n", type=int, default=10_000, help="n of the sparse instance of the population timings"
    )
    parser.add_argument("--populations", type=int, nargs="+", default=[1, 8, 32], help="population counts to time")
    parser.add_argument(
        "--target-sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000], help="n of the time-to-target runs"
    )
    parser.add_argument(
        "--target-populations", type=int, nargs="+", default=[1, 8, 32], help="GPU population counts racing the CPU"
    )
    parser.add_argument("--target-time", type=float, default=10.0, help="time limit (s) of each time-to-target run")
    parser.add_argument("--tomo-size", type=int, default=128, help="image side of the tomography instances")
    parser.add_argument("--tomo-angles", type=int, nargs="+", default=[64, 8], help="projection angles")
    parser.add_argument("--tomo-levels", type=int, nargs="+", default=[2, 4], help="grey levels")
    parser.add_argument("--tomo-time", type=float, default=10.0, help="time limit (s) of each tomography step")
    parser.add_argument("--repair-cycles", type=int, default=6, help="smooth_and_repair cycles")
    parser.add_argument("--sart-iterations", type=int, default=1000, help="SART sweeps of the start image")
    parser.add_argument(
        "--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS), help="what to run, in this order"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes; runs under NUMBA_ENABLE_CUDASIM=1 to test this script"
    )
    return parser.parse_args(argv)


def gpu_facts() -> dict[str, str]:
    """Model, compute capability and memory of the current CUDA device (or the simulator's stand-in), host facts."""
    from numba import cuda

    host = {
        "CPU": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores",
        "Python": platform.python_version(),
        "numba / numba-cuda": f"{_version('numba')} / {_version('numba-cuda')}",
    }
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return {"GPU": "Numba CUDA simulator (--smoke: no timing here means anything)", **SIMULATED, **host}
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    free, total = cuda.current_context().get_memory_info()
    major, minor = device.compute_capability
    return {
        "GPU": name,
        "compute capability": f"{major}.{minor}",
        "GPU memory": f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)",
        **host,
    }


SIMULATED = {"compute capability": "simulated", "GPU memory": "simulated"}


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def run_pytest(args: list[str]) -> tuple[bool, str]:
    """Run pytest in the repository root; (passed, its summary line)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode == 0, lines[-1].strip("= ") if lines else f"exit code {proc.returncode}"


def max_rows(n: int) -> int:
    """Most rows of a dense m x n instance that fit in half the free host memory and 80% of the free GPU memory."""
    from numba import cuda

    gpu_free = cuda.current_context().get_memory_info()[0]
    host_free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return int(min(0.5 * host_free / (HOST_BYTES_PER_ENTRY * n), 0.8 * gpu_free / (DEVICE_BYTES_PER_ENTRY * n)))


def dense_instance(m: int, n: int, levels: int, seed: int) -> Any:
    """Random dense A, equalities A z = b for a z off the grid, one shared domain of ``levels`` values."""
    from dopt.dmmv import DMMVProblem

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = A @ rng.uniform(-1, 1, size=n)
    return DMMVProblem(A, np.linspace(-1.0, 1.0, levels), b=b, name=f"dense-{m}x{n}")


def sparse_instance(n: int, levels: int, seed: int, per_column: int = 10) -> Any:
    """Random sparse A (m = 2n, about ``per_column`` entries per column), ranges around A z."""
    from dopt.dmmv import DMMVProblem

    rng = np.random.default_rng(seed)
    m = 2 * n
    rows = rng.integers(0, m, size=n * per_column)
    cols = np.repeat(np.arange(n), per_column)
    A = sp.csc_array((rng.standard_normal(rows.size), (rows, cols)), shape=(m, n))
    centre = A @ rng.uniform(-1, 1, size=n)
    return DMMVProblem(
        A, np.linspace(-1.0, 1.0, levels), lower=centre - 0.01, upper=centre + 0.01, name=f"sparse-{m}x{n}"
    )


def best_time(call: Callable[[], Any], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call (compilation)."""
    from numba import cuda

    call()
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def _improving(out: tuple[np.ndarray, np.ndarray, np.ndarray], t: float, limit: int) -> np.ndarray:
    """The improving moves of a pass in merit order (as ``dmmv.local`` ranks them), at most ``limit``."""
    level, new_max, ds = out
    tol = 1e-9 * t
    cands = np.flatnonzero((level >= 0) & ((new_max < t - tol) | ((new_max <= t) & (ds < -1e-9))))
    return cands[np.lexsort((ds[cands], new_max[cands]))][:limit]


def time_states(problem: Any, repeats: int, apply_cands: int) -> dict[str, Any]:
    """Time one full pass and one apply of the same candidates on the CPU and the GPU state."""
    from numba import cuda

    from dopt.dmmv.cuda_state import CudaPopulations
    from dopt.dmmv.state import CpuState

    levels = (np.random.default_rng(1).random(problem.shape[1]) * problem.sizes).astype(np.int64)
    store = CudaPopulations(problem)
    cpu, gpu = CpuState(problem), store.state(0)
    states = [("cpu", cpu), ("gpu", gpu)]
    if store.listed_rows:  # the recheck scanning every row per candidate; without lists gpu already scans
        states.append(("scan", CudaPopulations(problem, moved_rows=0).state(0)))
    for _, state in states:
        state.load(levels)
    t = cpu.objective()
    tol = 1e-9 * t
    row: dict[str, Any] = {"name": problem.name, "nnz": problem.A.nnz if problem.is_sparse else problem.A.size}
    row["scan_apply"] = row["scan_applied"] = None
    row["cpu_pass"] = best_time(lambda: cpu.full_pass(t, 3, tol), repeats)
    row["gpu_pass"] = best_time(lambda: gpu.full_pass(t, 3, tol), repeats)
    cpu_out = cpu.full_pass(t, 3, tol)
    row["same_level"] = float(np.mean(cpu_out[0] == gpu.full_pass(t, 3, tol)[0]))
    cands = _improving(cpu_out, t, apply_cands + 1)
    row["cands"] = max(cands.size - 1, 0)
    for name, state in states:
        state.apply(cands[:1], t, 3, tol, 1e-9)  # warm-up (compilation)
        start = time.perf_counter()
        row[f"{name}_applied"] = state.apply(cands[1:], t, 3, tol, 1e-9)
        cuda.synchronize()
        row[f"{name}_apply"] = time.perf_counter() - start
    return row


def time_populations(problem: Any, counts: list[int], repeats: int, apply_cands: int) -> list[dict[str, Any]]:
    """Per population count P: one batched full pass over all P populations and one batched recheck."""
    from numba import cuda

    from dopt.dmmv.cuda_state import CudaPopulations

    rows = []
    rng = np.random.default_rng(3)
    for count in counts:
        starts = [(rng.random(problem.shape[1]) * problem.sizes).astype(np.int64) for _ in range(count)]
        pops = list(range(count))
        row: dict[str, Any] = {"name": problem.name, "P": count, "scan_apply": None, "scan_applied": None}
        stores = [CudaPopulations(problem, count)]  # the recheck as dmmv.local runs it, then scanning all rows
        if stores[0].listed_rows:  # without lists the first store scans already
            stores.append(CudaPopulations(problem, count, moved_rows=0))
        for key, store in zip(("", "scan_"), stores, strict=False):
            for pop, levels in enumerate(starts):
                store.load(pop, levels)
            t = [store.objective(pop) for pop in pops]
            tols = [1e-9 * x for x in t]
            if not key:
                row["pass"] = best_time(lambda: store.full_pass(pops, t, [3] * count, tols), repeats)  # noqa: B023
            outs = store.full_pass(pops, t, [3] * count, tols)
            cands = [_improving(out, x, apply_cands + 1) for out, x in zip(outs, t, strict=True)]
            store.apply(pops, [c[:1] for c in cands], t, [3] * count, tols, [1e-9] * count)  # warm-up (compilation)
            start = time.perf_counter()
            applied = store.apply(pops, [c[1:] for c in cands], t, [3] * count, tols, [1e-9] * count)
            cuda.synchronize()
            row[f"{key}apply"], row[f"{key}applied"] = time.perf_counter() - start, sum(applied)
        rows.append(row)
    return rows


def _seconds(value: float | None) -> str:
    """A timing cell; '—' where the run was not made (the GPU recheck scans all rows already)."""
    return "—" if value is None else f"{value:.4f}"


def _count(value: int | None) -> str:
    return "—" if value is None else str(value)


def population_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table of the batched population timings."""
    lines = [
        "| instance | populations P | batched pass (s) | per population (s) | batched recheck (s) "
        "| batched recheck, scanning all rows (s) | moves applied (list / scan) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['P']} | {r['pass']:.4f} | {r['pass'] / r['P']:.5f} | {r['apply']:.4f} "
            f"| {_seconds(r['scan_apply'])} | {r['applied']} / {_count(r['scan_applied'])} |"
        )
    return lines


def compare_solves(problem: Any, seeds: list[int], rounds: int) -> list[dict[str, Any]]:
    """``dopt.solve`` on cpu and gpu with the same seeds and max_rounds."""
    import dopt

    dopt.solve(problem, "dmmv.local", device="gpu", seed=0, max_rounds=2, time_limit=None)  # compile kernels
    rows = []
    for seed in seeds:
        cpu = dopt.solve(problem, "dmmv.local", device="cpu", seed=seed, max_rounds=rounds, time_limit=None)
        gpu = dopt.solve(problem, "dmmv.local", device="gpu", seed=seed, max_rounds=rounds, time_limit=None)
        rows.append({"name": problem.name, "seed": seed, "cpu": cpu, "gpu": gpu, "same": np.array_equal(cpu.x, gpu.x)})
    return rows


def timing_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table of the timed passes and applies."""
    lines = [
        "| instance | nnz | CPU pass (s) | GPU pass (s) | pass speedup | same best level | apply candidates "
        "| CPU apply (s) | GPU apply (s) | GPU apply, scanning all rows (s) | moves applied (CPU / GPU / scan) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['nnz']:,} | {r['cpu_pass']:.4f} | {r['gpu_pass']:.4f} "
            f"| {r['cpu_pass'] / r['gpu_pass']:.1f}x | {100 * r['same_level']:.2f}% | {r['cands']} "
            f"| {r['cpu_apply']:.4f} | {r['gpu_apply']:.4f} | {_seconds(r['scan_apply'])} "
            f"| {r['cpu_applied']} / {r['gpu_applied']} / {_count(r['scan_applied'])} |"
        )
    return lines


def solve_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table of the compared solves."""
    lines = [
        "| instance | seed | CPU objective | GPU objective | same x | rounds (CPU / GPU) | CPU (s) | GPU (s) |",
        "|---|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in rows:
        cpu, gpu = r["cpu"], r["gpu"]
        lines.append(
            f"| {r['name']} | {r['seed']} | {cpu.objective:.10g} | {gpu.objective:.10g} "
            f"| {'yes' if r['same'] else 'no'} "
            f"| {cpu.iterations} / {gpu.iterations} | {cpu.wall_time:.2f} | {gpu.wall_time:.2f} |"
        )
    return lines


def write_report(path: Path, facts: dict[str, str], done: dict[str, Any], args: argparse.Namespace) -> None:
    """Write the markdown report of the sections ``done`` so far (rewritten after each, so a cut run keeps them)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# dopt GPU check ({stamp})", ""]
    lines += [f"- **{key}**: {value}" for key, value in facts.items()]
    for name, rows in done.items():
        section = SECTIONS[name]
        lines += ["", f"## {section.heading(args)}", "", *section.table(rows)]
        if section.footnote:
            lines += ["", section.footnote]
    lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def tests_table(rows: list[tuple[str, bool, str]]) -> list[str]:
    """Markdown table of the test suites run."""
    lines = ["| suite | result | summary |", "|---|---|---|"]
    return lines + [f"| `{suite}` | {'pass' if ok else 'FAIL'} | {summary} |" for suite, ok, summary in rows]


def run_tests() -> list[tuple[str, bool, str]]:
    """The gpu-marked tests and the native CPU/GPU state comparisons."""
    suites = [["-m", "gpu", "tests"], ["-o", "python_functions=check_*", "tests/test_dmmv_cuda.py"]]
    return [(" ".join(["pytest", *args]), *run_pytest(args)) for args in suites]


def main(argv: list[str] | None = None) -> int:
    """Check, time, compare and report each chosen section; exit status 1 when a test fails."""
    args = parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" and not args.smoke:
        sys.exit("gpu/check.py needs a real GPU: unset NUMBA_ENABLE_CUDASIM (or pass --smoke to try the script)")
    from dopt.core.device import gpu_usable

    if not gpu_usable():
        sys.exit("no CUDA device is visible (pip install -e '.[gpu,test]' on a machine with an NVIDIA GPU)")
    if args.smoke:
        shrink(args)
    facts = gpu_facts()
    print(f"GPU: {facts['GPU']}, compute capability {facts['compute capability']}, {facts['GPU memory']}")
    done: dict[str, Any] = {}
    for section in args.sections:
        started = time.perf_counter()
        done[section] = SECTIONS[section].run(args)
        write_report(args.out, facts, done, args)
        print(f"section {section} done in {time.perf_counter() - started:.1f} s", flush=True)
    print(f"report written to {args.out}")
    return 0 if all(ok for _, ok, _ in done.get("tests", [])) else 1


def states_section(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One pass and one apply on the dense instances of ``--sizes`` and the sparse one of ``--sparse-n``."""
    timings = []
    for n in args.sizes:
        problem = dense_instance(min(3 * n, max_rows(n)) if not args.smoke else 3 * n, n, args.levels, seed=n)
        timings.append(time_states(problem, args.repeats, args.apply_cands))
        print(timing_table(timings)[-1], flush=True)
    timings.append(time_states(sparse_instance(args.sparse_n, args.levels, seed=7), args.repeats, args.apply_cands))
    print(timing_table(timings)[-1], flush=True)
    return timings


def solves_section(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``dopt.solve`` on both devices, a dense and a sparse instance."""
    dense_n, sparse_n = args.solve_sizes
    solves = compare_solves(dense_instance(3 * dense_n, dense_n, args.levels, seed=11), args.seeds, args.rounds)
    return solves + compare_solves(sparse_instance(sparse_n, args.levels, seed=12), args.seeds, args.rounds)


def populations_section(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Batched pass and recheck timings of each population count."""
    problem = sparse_instance(args.populations_n, args.levels, seed=13)
    batched = time_populations(problem, args.populations, args.repeats, args.apply_cands)
    print("\n".join(population_table(batched)), flush=True)
    return batched


def targets_section(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Time to a common target on sparse instances of ``--target-sizes`` variables."""
    warm_up(args.levels)
    rows = []
    for n in args.target_sizes:
        rows.append(race_to_target(sparse_instance(n, args.levels, seed=n), args.target_time, args.target_populations))
        print("\n".join(target_table(rows[-1:])[2:]), flush=True)
    return rows


def tomography_section(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The tomography steps on both devices for each ``--tomo-levels`` x ``--tomo-angles``."""
    warm_up(args.levels)
    return [
        tomography_row(args.tomo_size, angles, levels, args.tomo_time, args.repair_cycles, args.sart_iterations)
        for angles in args.tomo_angles
        for levels in args.tomo_levels
    ]


def warm_up(levels: int) -> None:
    """Compile the CPU and GPU kernels of dmmv.local on a tiny instance, so no timed run pays for it."""
    import dopt

    for device in ("cpu", "gpu"):
        dopt.solve(sparse_instance(50, levels, seed=0), "dmmv.local", device=device, max_rounds=2, time_limit=None)


@dataclass(frozen=True)
class Section:
    """One part of the check: what it runs, and how the report shows its rows."""

    run: Callable[[argparse.Namespace], Any]
    heading: Callable[[argparse.Namespace], str]
    table: Callable[[Any], list[str]]
    footnote: str = ""


SECTIONS: dict[str, Section] = {
    "tests": Section(lambda args: run_tests(), lambda args: "Tests", tests_table),
    "states": Section(
        states_section,
        lambda args: f"dmmv.local state: one full pass and one apply ({args.levels} levels, p = 8)",
        timing_table,
        "Pass: best of the repeats after a warm-up. Apply: the sequential recheck of the pass's improving "
        "candidates in merit order (on the GPU one launch of a one-block kernel for the whole list). The GPU "
        "recheck reads each candidate's maxima from the launch's most violated rows and the rows moved since; "
        "the scan column is the same recheck reading every row per candidate (``moved_rows=0``).",
    ),
    "solves": Section(
        solves_section,
        lambda args: f"dopt.solve(..., 'dmmv.local', max_rounds={args.rounds}) on cpu and gpu",
        solve_table,
        "Runs may part ways where FMA rounding on the GPU flips a near-tie between moves.",
    ),
    "populations": Section(
        populations_section,
        lambda args: "Populations: one batched pass and one batched recheck for P populations",
        population_table,
        "The pass scores every level of every variable for all P populations in one launch; the recheck runs "
        "one block per population, so P sequential rechecks share the multiprocessors. Before each recheck "
        "launch the host lists every population's most violated rows (O(P m)); the scan column skips that "
        "and reads all m rows per candidate instead.",
    ),
    "targets": Section(
        targets_section,
        lambda args: (
            f"Equal time and time to a target ({args.target_time:g} s per run, sparse, m = 2n): "
            "CPU with one population, GPU with each count"
        ),
        target_table,
        "The target is the worst final objective of the runs on that instance, so each run reaches it.",
    ),
    "tomography": Section(
        tomography_section,
        lambda args: f"Tomography on CPU and GPU ({args.tomo_time:g} s per step, noise ±1000)",
        tomography_table,
        "smooth_and_repair stops once every ray is within the noise bound, so its time is a time to solution; "
        "dmmv.local runs to the limit; the last column reads when each device reached the worse device's final "
        "objective (the largest violation beyond the noise bound).",
    ),
}


def shrink(args: argparse.Namespace) -> None:
    """--smoke: sizes small enough for the CUDA simulator, so the script itself can be tested without a GPU."""
    args.sizes, args.sparse_n, args.levels, args.repeats, args.apply_cands = [12], 200, 4, 1, 5  # 400 rows: lists
    args.solve_sizes, args.seeds, args.rounds = [8, 10], [0], 3
    args.populations_n, args.populations = 20, [1, 2]
    args.target_sizes, args.target_populations, args.target_time = [20], [2], 0.5
    args.tomo_size, args.tomo_angles, args.tomo_levels, args.tomo_time = 8, [4], [2], 0.5
    args.repair_cycles, args.sart_iterations = 1, 5


if __name__ == "__main__":
    sys.exit(main())
