"""The LP relaxation of DMMV (a lower bound and a starting point) and rounding onto the domains.

Relaxing each x_j in D_j to the interval [min D_j, max D_j] turns DMMV into a
Chebyshev-type LP: minimise t subject to w_i (a_i.x - u_i) <= t and
w_i (l_i - a_i.x) <= t. Its optimum is a valid lower bound on the DMMV optimum.

The dual simplex is slow on the large, degenerate LPs of sparse instances
(sparse off-grid systems, tomography): 32 s at n = 3000 and nnz 21k, over a
minute at n = 10^4. Those (sparse, nnz >= ``PDLP_MIN_NNZ``) go to HiGHS's
first-order PDLP solver when highspy is installed (0.13 s and 0.47 s there;
``benchmarks/dmmv_lp_report.py``). Its
solution is approximate, so the bound reported is not its objective but the
weak-duality bound of its dual multipliers, valid for any multipliers.

Dense instances whose data come from a point inside the box have an LP
optimum of zero; a bounded least-squares fit (a direct solve, cheap at these
sizes) finds such a point (0.5 s against 36 s for the simplex at n = 1000,
m = 3000), so ``lp_relaxation`` tries it first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog, lsq_linear

from dopt.dmmv.problem import DMMVProblem

MIN_TIME_LIMIT = 1e-3  # HiGHS needs a positive time limit; an exhausted budget still gets this much
ZERO_VIOLATION = 1e-9  # a fit whose largest violation is below this (relative to the targets) meets every constraint
FIT_MAX_FLOPS = 2e10  # the zero-violation fit runs on dense A with m n^2 below this
PDLP_MIN_NNZ = 20_000  # sparse LPs at least this large go to PDLP (with highspy)


@dataclass(frozen=True)
class LPRelaxation:
    """The relaxation's continuous point ``x``, its valid lower ``bound`` and the LP ``status``.

    ``status`` is ``optimal``, ``time_limit``, ``iteration_limit`` or ``failed``;
    unless it is ``optimal``, ``bound`` is the trivial 0 and ``x`` may be the
    midpoint of each domain's range.
    """

    x: np.ndarray
    bound: float
    status: str


@dataclass(frozen=True)
class EpigraphRows:
    """The rows of ``w_i (s_i - u_i) <= t`` and ``w_i (l_i - s_i) <= t`` for ``s = B y + shift``.

    ``upper`` holds ``[w_i B_i, -1]`` with right-hand side ``upper_rhs`` (rows
    of finite ``u``, read ``<=``); ``lower`` holds ``[w_i B_i, +1]`` with
    ``lower_rhs`` (rows of finite ``l``, read ``>=``). ``t`` is the last column.
    """

    upper: sp.csr_array
    upper_rhs: np.ndarray
    lower: sp.csr_array
    lower_rhs: np.ndarray


def epigraph_rows(problem: DMMVProblem, B: np.ndarray | sp.sparray, shift: np.ndarray) -> EpigraphRows:
    """The epigraph constraints of the weighted violations of ``B y + shift``, ``t`` appended last."""
    B = sp.csr_array(B)
    up = np.flatnonzero(np.isfinite(problem.upper))
    lo = np.flatnonzero(np.isfinite(problem.lower))
    w = problem.weights
    return EpigraphRows(
        upper=_weighted_block(B, up, w[up], -1.0),
        upper_rhs=w[up] * (problem.upper[up] - shift[up]),
        lower=_weighted_block(B, lo, w[lo], 1.0),
        lower_rhs=w[lo] * (problem.lower[lo] - shift[lo]),
    )


def _weighted_block(B: sp.csr_array, rows: np.ndarray, w: np.ndarray, t_coef: float) -> sp.csr_array:
    """``[diag(w) B[rows], t_coef]`` in CSR form."""
    scaled = sp.diags_array(w) @ B[rows]
    t_column = sp.csr_array(np.full((rows.size, 1), t_coef))
    return sp.hstack([scaled, t_column], format="csr")


def lp_relaxation(
    problem: DMMVProblem, time_limit: float | None = None, solver: Literal["auto", "simplex"] = "auto"
) -> LPRelaxation:
    """Solve the LP relaxation within ``time_limit`` seconds: a zero-violation box point from a bounded
    least-squares fit when there is one, else HiGHS's PDLP for large sparse LPs (with highspy) or its
    simplex (through scipy); ``solver="simplex"`` always takes the simplex (an exact vertex)."""
    if solver not in ("auto", "simplex"):
        raise ValueError(f"solver must be 'auto' or 'simplex', got {solver!r}")
    feasible = zero_violation_point(problem) if solver == "auto" else None
    if feasible is not None:
        return LPRelaxation(x=feasible, bound=0.0, status="optimal")
    n = problem.shape[1]
    rows = epigraph_rows(problem, problem.A, np.zeros(problem.shape[0]))
    a_ub = sp.vstack([rows.upper, -rows.lower], format="csr")
    b_ub = np.concatenate([rows.upper_rhs, -rows.lower_rhs])
    lo, hi = domain_range(problem)
    limit = None if time_limit is None else max(time_limit, MIN_TIME_LIMIT)
    large_sparse = problem.is_sparse and problem.A.nnz >= PDLP_MIN_NNZ
    if solver == "auto" and large_sparse and find_spec("highspy") is not None:
        x, status, y = _solve_pdlp(a_ub, b_ub, lo, hi, limit)
        bound = dual_bound(a_ub, b_ub, lo, hi, y) if status == "optimal" else 0.0
    else:
        bounds = np.column_stack([np.append(lo, 0.0), np.append(hi, np.inf)])
        cost = np.zeros(n + 1)
        cost[n] = 1.0
        options = {} if limit is None else {"time_limit": limit}
        res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", options=options)
        x, status = res.x, _lp_status(res.status, res.message)
        bound = max(float(res.fun), 0.0) if status == "optimal" else 0.0
    if x is None or not np.isfinite(x).all():
        return LPRelaxation(x=(lo + hi) / 2, bound=0.0, status=status)
    return LPRelaxation(x=np.clip(x[:n], lo, hi), bound=bound, status=status)


def _solve_pdlp(
    a_ub: sp.csr_array, b_ub: np.ndarray, lo: np.ndarray, hi: np.ndarray, time_limit: float | None
) -> tuple[np.ndarray | None, str, np.ndarray]:
    """min t s.t. a_ub [x, t] <= b_ub, x in [lo, hi], t >= 0 by HiGHS's PDLP: (point, status, row multipliers)."""
    import highspy

    h = quiet_highs()
    h.setOptionValue("solver", "pdlp")
    if time_limit is not None:
        h.setOptionValue("time_limit", time_limit)
    n1 = a_ub.shape[1]
    csc = sp.csc_array(a_ub)
    cost = np.zeros(n1)
    cost[-1] = 1.0
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n1, a_ub.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_, lp.col_upper_ = np.append(lo, 0.0), np.append(hi, inf)
    lp.row_lower_, lp.row_upper_ = np.full(a_ub.shape[0], -inf), b_ub
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    h.passModel(lp)
    h.run()
    model_status = h.getModelStatus()
    solution = h.getSolution()
    if model_status == highspy.HighsModelStatus.kOptimal:
        status = "optimal"
    elif model_status == highspy.HighsModelStatus.kTimeLimit:
        status = "time_limit"
    elif model_status == highspy.HighsModelStatus.kIterationLimit:
        status = "iteration_limit"
    else:
        status = "failed"
    x = np.asarray(solution.col_value) if solution.value_valid else None
    return x, status, np.asarray(solution.row_dual, dtype=np.float64)


def quiet_highs() -> Any:
    """A silent ``highspy.Highs`` (its first construction prints a banner from C++, before any option applies)."""
    import highspy

    with _stdout_silenced():
        h = highspy.Highs()
    h.silent()
    return h


@contextmanager
def _stdout_silenced() -> Iterator[None]:
    """Point file descriptor 1 at /dev/null for the duration (C++ output bypasses sys.stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def dual_bound(a_ub: sp.csr_array, b_ub: np.ndarray, lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> float:
    """A valid lower bound on min t s.t. a_ub [x, t] <= b_ub, x in [lo, hi], t >= 0, from any row multipliers.

    Weak duality: for u >= 0 with sum(u) <= 1 (the t column is -1 in every row), the Lagrangian
    t + u.(a_ub [x, t] - b_ub) is at most t on the feasible set, and its minimum over the box is
    -u.b_ub + sum_j min(r_j lo_j, r_j hi_j) with r = a_ub[:, :n]^T u. ``y`` may use either sign
    convention; both are tried and the larger bound kept (never below the trivial 0).
    """
    best = 0.0
    for u in (np.maximum(y, 0.0), np.maximum(-y, 0.0)):
        u = u / max(1.0, float(u.sum()))
        r = a_ub[:, :-1].T @ u
        best = max(best, float(np.minimum(r * lo, r * hi).sum() - u @ b_ub))
    return best


def fit_targets(problem: DMMVProblem) -> tuple[np.ndarray, np.ndarray]:
    """The rows with a finite bound and their fit targets: the middle of [lower, upper], or the finite end."""
    lo, up = problem.lower, problem.upper
    rows = np.flatnonzero(np.isfinite(lo) | np.isfinite(up))
    lo, up = lo[rows], up[rows]
    target = np.where(np.isfinite(lo), lo, up)
    both = np.isfinite(lo) & np.isfinite(up)  # only these may add: -inf + inf would warn
    target[both] = 0.5 * (lo[both] + up[both])
    return rows, target


def zero_violation_point(problem: DMMVProblem) -> np.ndarray | None:
    """A point of the box [min D_j, max D_j] meeting every constraint (an LP optimum of value 0), or None.

    Fits the weighted rows to their targets by bounded least squares (scipy's ``lsq_linear``);
    variables of one value stay fixed. Dense A only, with m n^2 <= ``FIT_MAX_FLOPS`` (the fit's
    direct solves); None there too, or when the fit leaves a violation above ``ZERO_VIOLATION``
    times the largest weighted target.
    """
    m, n = problem.shape
    if problem.is_sparse or m * n * n > FIT_MAX_FLOPS:
        return None
    rows, target = fit_targets(problem)
    lo, hi = domain_range(problem)
    free = np.flatnonzero(hi > lo)
    x = np.where(hi > lo, 0.0, lo)  # the fixed variables' values; the fit sets the free ones
    w = problem.weights[rows]
    A = problem.A[rows]
    rhs = w * (target - A @ x)
    if free.size and rows.size:
        fit = lsq_linear(w[:, None] * A[:, free], rhs, bounds=(lo[free], hi[free]))
        x[free] = np.clip(fit.x, lo[free], hi[free])
    scale = max(1.0, float(np.max(np.abs(w * target), initial=0.0)))
    return x if problem.objective(x) <= ZERO_VIOLATION * scale else None


def _lp_status(code: int, message: str) -> str:
    """scipy's linprog status code as an LPRelaxation status."""
    if code == 0:
        return "optimal"
    if code == 1:
        return "time_limit" if "time" in message.lower() else "iteration_limit"
    return "failed"


def domain_range(problem: DMMVProblem) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest value of every domain."""
    return np.nanmin(problem.values, axis=1), np.nanmax(problem.values, axis=1)


def round_to_domain(problem: DMMVProblem, x: np.ndarray) -> np.ndarray:
    """Level index of the value of each D_j nearest to x_j (ties go to the lower value)."""
    x = np.asarray(x, dtype=np.float64)
    filled = np.where(np.isnan(problem.values), np.inf, problem.values)
    return np.argmin(np.abs(filled - x[:, None]), axis=1)
