"""dmmv.local against HiGHS, CP-SAT and Gurobi at equal time limits, and the cost of one move-evaluation pass.

Run:  python benchmarks/dmmv_report.py --sizes 50 300 1000 3000 --time-limit 10 --out benchmarks/results

Writes ``dmmv.md`` (tables) and ``dmmv.json`` (every measurement) in the output folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np

import dopt
from dopt.bench.runner import warm_up
from dopt.dmmv.bench import LEVELS, off_grid_instance
from dopt.dmmv.gurobi import runs_here
from dopt.dmmv.state import CpuState


def compare(n: int, time_limit: float, seed: int) -> dict:
    """Solve one instance with dmmv.local, dmmv.round and the MILP peers; return the figures.

    Gurobi runs where gurobipy is installed and pip's size-limited licence takes the model.
    """
    problem = off_grid_instance(n, seed)
    local = dopt.solve(problem, "dmmv.local", time_limit=time_limit, seed=seed)
    milp = dopt.solve(problem, "dmmv.milp", time_limit=time_limit)
    rounded = dopt.solve(problem, "dmmv.round", time_limit=max(time_limit, 60.0))
    highs_found = "fallback" not in milp.extras
    cpsat = dopt.solve(problem, "dmmv.cpsat", time_limit=time_limit) if find_spec("ortools") else None
    cpsat_found = cpsat is not None and "fallback" not in cpsat.extras
    gurobi = dopt.solve(problem, "dmmv.gurobi", time_limit=time_limit) if runs_here(problem) else None
    return {
        "gurobi": None if gurobi is None or "fallback" in gurobi.extras else gurobi.objective,
        "gurobi_status": "not run (not installed or over the pip licence)" if gurobi is None else gurobi.status,
        "gurobi_time": None if gurobi is None else gurobi.wall_time,
        "n": n,
        "m": problem.shape[0],
        "seed": seed,
        "local": local.objective,
        "local_time": local.wall_time,
        "highs": milp.objective if highs_found else None,
        "highs_bound": milp.extras.get("bound"),
        "highs_status": milp.status,
        "highs_time": milp.wall_time,
        "cpsat": cpsat.objective if cpsat_found else None,
        "cpsat_status": "not installed" if cpsat is None else cpsat.status,
        "cpsat_time": None if cpsat is None else cpsat.wall_time,
        "rounded_lp": rounded.objective,
        "lp_bound": rounded.extras.get("bound"),
    }


def pass_time(n: int, repeats: int = 5) -> dict:
    """Seconds per full move-evaluation pass (every value of every variable) on a dense instance."""
    problem = off_grid_instance(n, seed=0)
    state = CpuState(problem)
    state.load(np.random.default_rng(0).integers(0, LEVELS, size=n))
    t_obj = state.objective()
    state.full_pass(t_obj, 3, 1e-9 * t_obj)  # compile / warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state.full_pass(t_obj, 3, 1e-9 * t_obj)
        times.append(time.perf_counter() - start)
    seconds = min(times)  # the least disturbed run on a shared machine
    work = problem.shape[0] * n * LEVELS
    return {"n": n, "m": problem.shape[0], "work": work, "seconds": seconds, "ns_per_unit": 1e9 * seconds / work}


def _found(value: float | None, status: str = "") -> str:
    if value is not None:
        return f"{value:.4f}"
    return "not installed" if status == "not installed" else "none found"


def _ratio(ours: float, theirs: float | None) -> str:
    return "—" if theirs is None else f"{ours / theirs:.3f}"


def markdown(rows: list[dict], passes: list[dict], time_limit: float) -> str:
    """The two tables of the report."""
    lines = [
        f"### dmmv.local vs HiGHS, CP-SAT and Gurobi, {time_limit:g} s each "
        f"(off-grid Gaussian, m = 3n, {LEVELS} levels)",
        "",
        "| n | m | dmmv.local | HiGHS incumbent | HiGHS bound | HiGHS wall s | CP-SAT incumbent | CP-SAT wall s "
        "| Gurobi incumbent | rounded LP | local / HiGHS | local / CP-SAT | local / Gurobi | local / rounded LP |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpsat_time = "—" if r["cpsat_time"] is None else f"{r['cpsat_time']:.1f}"
        gurobi = "—" if r["gurobi_time"] is None else _found(r["gurobi"])
        lines.append(
            f"| {r['n']} | {r['m']} | **{r['local']:.4f}** | {_found(r['highs'])} | {r['highs_bound']:.4f} | "
            f"{r['highs_time']:.1f} | {_found(r['cpsat'], r['cpsat_status'])} | {cpsat_time} | {gurobi} | "
            f"{r['rounded_lp']:.4f} | {_ratio(r['local'], r['highs'])} | {_ratio(r['local'], r['cpsat'])} | "
            f"{_ratio(r['local'], r['gurobi'])} | {r['local'] / r['rounded_lp']:.3f} |"
        )
    lines += ["", "Gurobi (pip's size-limited licence) runs where the model has at most 2000 rows: n <= 333."]
    lines += [
        "",
        "### Time per full move-evaluation pass (CPU, dense A, every value of every variable)",
        "",
        "| n | m | n·m·\\|D\\| | seconds | ns per (row, value) |",
        "|---|---|---|---|---|",
    ]
    for p in passes:
        lines.append(f"| {p['n']} | {p['m']} | {p['work']:.3g} | {p['seconds']:.4f} | {p['ns_per_unit']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 300, 1000, 3000])
    parser.add_argument("--pass-sizes", type=int, nargs="+", default=[100, 300, 1000, 3000])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warm_up("dmmv")  # kernels compiled outside the timed runs
    rows = []
    for n in args.sizes:
        rows.append(compare(n, args.time_limit, args.seed))
        print(json.dumps(rows[-1]), flush=True)
    passes = [pass_time(n) for n in args.pass_sizes]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    report = f"Generated {time.strftime('%Y-%m-%d')} on {machine} by `python benchmarks/dmmv_report.py`.\n\n"
    report += markdown(rows, passes, args.time_limit)
    (args.out / "dmmv.md").write_text(report)
    (args.out / "dmmv.json").write_text(json.dumps({"machine": machine, "compare": rows, "passes": passes}, indent=1))
    print(report)


if __name__ == "__main__":
    main()
