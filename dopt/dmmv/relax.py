"""The LP relaxation of DMMV (a lower bound and a starting point) and rounding onto the domains.

Relaxing each x_j in D_j to the interval [min D_j, max D_j] turns DMMV into a
Chebyshev-type LP: minimise t subject to w_i (a_i.x - u_i) <= t and
w_i (l_i - a_i.x) <= t. Its optimum is a valid lower bound on the DMMV optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from dopt.dmmv.problem import DMMVProblem

MIN_TIME_LIMIT = 1e-3  # HiGHS needs a positive time limit; an exhausted budget still gets this much


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


def lp_relaxation(problem: DMMVProblem, time_limit: float | None = None) -> LPRelaxation:
    """Solve the LP relaxation with HiGHS (through scipy), within ``time_limit`` seconds."""
    n = problem.shape[1]
    rows = epigraph_rows(problem, problem.A, np.zeros(problem.shape[0]))
    a_ub = sp.vstack([rows.upper, -rows.lower], format="csr")
    b_ub = np.concatenate([rows.upper_rhs, -rows.lower_rhs])
    lo, hi = domain_range(problem)
    bounds = np.column_stack([np.append(lo, 0.0), np.append(hi, np.inf)])
    cost = np.zeros(n + 1)
    cost[n] = 1.0
    options = {} if time_limit is None else {"time_limit": max(time_limit, MIN_TIME_LIMIT)}
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", options=options)
    status = _lp_status(res.status, res.message)
    if res.x is None or not np.isfinite(res.x).all():
        return LPRelaxation(x=(lo + hi) / 2, bound=0.0, status=status)
    bound = max(float(res.fun), 0.0) if status == "optimal" else 0.0
    return LPRelaxation(x=np.clip(res.x[:n], lo, hi), bound=bound, status=status)


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
