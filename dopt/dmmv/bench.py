"""DMMV's benchmark suite: dmmv.local against HiGHS, CP-SAT and Gurobi, and rounding of the LP, at equal time limits.

Gurobi runs where pip's size-limited licence accepts the model (at most 2000 rows and columns).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dopt.bench.suite import Case, solve_entry
from dopt.dmmv.fir import FIRSpec, fir_problem, paper_spec
from dopt.dmmv.gurobi import pip_licence_accepts
from dopt.dmmv.problem import DMMVProblem

LEVELS = 16
# suite -> (off-grid sizes n, seconds per solver). The dense MILP peers stop being timed fairly above n = 1000:
# building CP-SAT's model of the 9000 x 3000 instance alone ran past 7 minutes, outside any time limit.
OFF_GRID = {"smoke": ((12,), 1.0), "quick": ((50, 300), 5.0), "full": ((50, 300, 1000), 10.0)}


def off_grid_instance(n: int, seed: int = 0, rows_per_variable: int = 3, levels: int = LEVELS) -> DMMVProblem:
    """Gaussian A (3n x n), b = A z with z uniform in the domain's range: no grid point is planted."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(rows_per_variable * n, n))
    values = np.linspace(-1.0, 1.0, levels)
    z = rng.uniform(-1.0, 1.0, size=n)
    return DMMVProblem(A, values, b=A @ z, name=f"off-grid-n{n}-s{seed}")


def sparse_off_grid_instance(
    n: int, per_column: int, seed: int = 0, rows_per_variable: float = 0.5, levels: int = LEVELS
) -> DMMVProblem:
    """Sparse Gaussian A (``rows_per_variable`` n rows, ``per_column`` distinct rows per column), b = A z off the grid.

    The scale instances: nnz(A) = n * per_column, built column by column without ever forming a dense matrix.
    """
    m = max(per_column, int(rows_per_variable * n))
    rng = np.random.default_rng(seed)
    # distinct rows per column: a random start plus increasing offsets whose total stays below m
    gaps = rng.integers(1, m // per_column + 1, size=(n, per_column))
    rows = ((rng.integers(0, m, size=(n, 1)) + np.cumsum(gaps, axis=1)) % m).ravel()
    indptr = np.arange(0, n * per_column + 1, per_column, dtype=np.int64)
    A = sp.csc_array((rng.normal(size=rows.size), rows, indptr), shape=(m, n))
    values = np.linspace(-1.0, 1.0, levels)
    z = rng.uniform(-1.0, 1.0, size=n)
    return DMMVProblem(A, values, b=A @ z, name=f"sparse-off-grid-n{n}-k{per_column}-s{seed}")


def warm_up(device: str = "auto") -> None:
    """Compile dmmv.local's kernels (dense and sparse passes, rechecks, triple moves) on two tiny instances."""
    from dopt.core.solve import solve

    for problem in (off_grid_instance(12, seed=0), sparse_off_grid_instance(40, 3, seed=0)):
        solve(problem, "dmmv.local", max_rounds=30, seed=0, device=device)


def cases(suite: str, device: str = "auto") -> list[Case]:
    """The off-grid instances of the suite, then (quick and full) the FIR designs; dmmv.local runs on ``device``."""
    sizes, seconds = OFF_GRID[suite]
    problems = [off_grid_instance(n, seed=1) for n in sizes]
    if suite != "smoke":
        lowpass = FIRSpec(taps=35, bits=8, bands=((0.0, 0.2, 1.0, 1.0), (0.3, 0.5, 0.0, 1.0)))
        problems += [fir_problem(paper_spec(), name="fir-paper"), fir_problem(lowpass, name="fir-lowpass-35")]
    return [_case(problem, seconds, device) for problem in problems]


def _case(problem: DMMVProblem, seconds: float, device: str) -> Case:
    entries = [
        solve_entry("dmmv.local", problem, "dmmv.local", time_limit=seconds, seed=1, device=device),
        solve_entry("dmmv.round", problem, "dmmv.round", time_limit=seconds),
        solve_entry("HiGHS", problem, "dmmv.milp", peer=True, requires=("highspy",), time_limit=seconds),
        solve_entry("CP-SAT", problem, "dmmv.cpsat", peer=True, requires=("ortools",), time_limit=seconds),
    ]
    if pip_licence_accepts(problem):
        entries.append(
            solve_entry("Gurobi", problem, "dmmv.gurobi", peer=True, requires=("gurobipy",), time_limit=seconds)
        )
    return Case("dmmv", problem.name, problem.shape[1], "max violation", tuple(entries))
