"""DMMV at scale on the CPU: time per full move-evaluation pass of dmmv.local as nnz(A) * |D| grows to 1.6e8.

Run:  python benchmarks/dmmv_scale.py [--sizes 10000 30000 100000] [--per-column 10 100] [--levels 4 16]
      [--solve-seconds 20] [--out benchmarks/results]

Instances: sparse Gaussian A with n columns, n / 2 rows and ``per_column`` nonzeros per column, b = A z with z
off the grid. A pass scores every value of every variable from the maintained residuals, so its cost should
be O(nnz(A) |D|): the table reports nanoseconds per (nonzero, value) and the log-log slope of seconds against
nnz(A) |D| (1 is linear). The largest instance is then solved end to end for ``--solve-seconds``.
Writes ``dmmv_scale.md`` and ``dmmv_scale.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import dopt
from dopt.dmmv.bench import sparse_off_grid_instance
from dopt.dmmv.state import CpuState


def pass_seconds(n: int, per_column: int, levels: int, repeats: int) -> dict:
    """The fastest of ``repeats`` full passes (every value of every variable) from random levels."""
    problem = sparse_off_grid_instance(n, per_column, seed=0, levels=levels)
    state = CpuState(problem)
    state.load(np.random.default_rng(0).integers(0, levels, size=n))
    t_obj = state.objective()
    state.full_pass(t_obj, 3, 1e-9 * t_obj)  # compile / warm the caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state.full_pass(t_obj, 3, 1e-9 * t_obj)
        times.append(time.perf_counter() - start)
    work = problem.A.nnz * levels
    seconds = min(times)
    return {
        "n": n,
        "m": problem.shape[0],
        "nnz": int(problem.A.nnz),
        "levels": levels,
        "work": work,
        "seconds": seconds,
        "ns_per_unit": 1e9 * seconds / work,
    }


def end_to_end(n: int, per_column: int, levels: int, seconds: float) -> dict:
    """dmmv.local on the largest instance for ``seconds``: the start's and the end's max violation."""
    problem = sparse_off_grid_instance(n, per_column, seed=0, levels=levels)
    result = dopt.solve(problem, "dmmv.local", time_limit=seconds, seed=0)
    start = result.history[0][1] if result.history else float("nan")
    return {
        "n": n,
        "nnz": int(problem.A.nnz),
        "levels": levels,
        "start": start,
        "objective": result.objective,
        "passes": result.iterations,
        "wall_time": result.wall_time,
        "status": result.status,
    }


def slope(rows: list[dict]) -> float:
    """Least-squares slope of log(seconds) against log(nnz |D|)."""
    work = np.log([r["work"] for r in rows])
    secs = np.log([r["seconds"] for r in rows])
    return float(np.polyfit(work, secs, 1)[0])


def markdown(rows: list[dict], solve: dict | None, command: str) -> str:
    """The pass-time table, its slope, and the end-to-end run."""
    lines = [
        "#### dmmv.local at scale: one full move-evaluation pass (CPU, sparse A, every value of every variable)",
        "",
        f"`{command}` on {platform.machine()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}.",
        "",
        "| n | m | nnz(A) | \\|D\\| | nnz·\\|D\\| | seconds per pass | ns per (nonzero, value) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["work"]):
        lines.append(
            f"| {r['n']:,} | {r['m']:,} | {r['nnz']:.2e} | {r['levels']} | {r['work']:.2e} "
            f"| {r['seconds']:.4f} | {r['ns_per_unit']:.2f} |"
        )
    lines += ["", f"Log-log slope of seconds against nnz(A)·|D|: **{slope(rows):.2f}** (1 = linear)."]
    if solve is not None:
        lines += [
            "",
            f"End to end, n = {solve['n']:,}, nnz = {solve['nnz']:.1e}, |D| = {solve['levels']}: max violation "
            f"{solve['start']:.4g} at the start (rounded least squares) → {solve['objective']:.4g} after "
            f"{solve['passes']} passes in {solve['wall_time']:.1f} s ({solve['status']}).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--per-column", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--levels", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solve-seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for k in args.per_column:
            for levels in args.levels:
                rows.append(pass_seconds(n, k, levels, args.repeats))
                print(rows[-1], flush=True)
    solve = None
    if args.solve_seconds > 0:
        solve = end_to_end(max(args.sizes), max(args.per_column), max(args.levels), args.solve_seconds)
        print(solve, flush=True)
    flags = {"--sizes": args.sizes, "--per-column": args.per_column, "--levels": args.levels}
    command = "python benchmarks/dmmv_scale.py " + " ".join(f"{k} {' '.join(map(str, v))}" for k, v in flags.items())
    command += f" --solve-seconds {args.solve_seconds:g}"
    text = markdown(rows, solve, command)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dmmv_scale.md").write_text(text)
    (args.out / "dmmv_scale.json").write_text(json.dumps({"passes": rows, "solve": solve}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
