"""The DMMV LP relaxation: ``lp_relaxation``'s default paths (bounded least-squares fit, PDLP) against the simplex.

Run:  python benchmarks/dmmv_lp_report.py --time-limit 60 --out benchmarks/results

Times ``lp_relaxation(problem)`` and ``lp_relaxation(problem, solver="simplex")`` on sparse off-grid
systems, discrete tomography (with and without a noise tolerance), a dense off-grid system and a FIR
design, and writes ``dmmv_lp.md`` with both bounds (a valid lower bound each; equal when both finish).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dopt.dmmv import fir, relax, tomography
from dopt.dmmv.bench import off_grid_instance, sparse_off_grid_instance
from dopt.dmmv.problem import DMMVProblem


def instances() -> list[tuple[str, DMMVProblem]]:
    """The measured instances, smallest first within each kind."""
    cases = [(f"sparse off-grid n = {n}", sparse_off_grid_instance(n, 7)) for n in (3000, 10_000)]
    for size, angles, eps in ((64, 8, 0.0), (64, 16, 0.0), (128, 64, 1000.0), (128, 64, 0.0)):
        spec = tomography.TomographySpec(size=size, angles=angles, levels=2, noise=1000.0, tolerance=eps)
        cases.append((f"tomography {size}², {angles} angles, ε = {eps:g}", tomography.make_instance(spec).problem()))
    cases.append(("dense off-grid n = 1000", off_grid_instance(1000, 0)))
    cases.append(("FIR lowpass-55-10", fir.fir_problem(fir.PRESETS["lowpass-55-10"])))
    return cases


def timed(problem: DMMVProblem, solver: str, time_limit: float) -> tuple[relax.LPRelaxation, float]:
    start = time.perf_counter()
    lp = relax.lp_relaxation(problem, time_limit=time_limit, solver=solver)
    return lp, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per LP solve")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    lines = [
        f"### DMMV LP relaxation: default paths against the simplex ({args.time_limit:g} s limit)",
        "",
        "| instance | nnz | default (s) | status | bound | simplex (s) | status | bound |",
        "|---|---:|---:|---|---:|---:|---|---:|",
    ]
    for name, problem in instances():
        nnz = problem.A.nnz if problem.is_sparse else problem.A.size
        auto, auto_s = timed(problem, "auto", args.time_limit)
        simplex, simplex_s = timed(problem, "simplex", args.time_limit)
        lines.append(
            f"| {name} | {nnz:,} | {auto_s:.2f} | {auto.status} | {auto.bound:.6g} "
            f"| {simplex_s:.2f} | {simplex.status} | {simplex.bound:.6g} |"
        )
        print(lines[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dmmv_lp.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
