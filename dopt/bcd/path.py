"""Regularisation paths: a descending grid of L1 weights solved in turn, each warm-started from the last.

Warm starts put the previous support at the head of the first working set
(features ranked by how close they are to entering, a sequential strong-rule
ordering), and gap-safe screening at each weight drops the features proven
inactive before any coordinate work is spent on them.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dopt.bcd.lasso import Design, _LassoSolver, one_blas_thread
from dopt.bcd.problem import BCDProblem
from dopt.core.context import SolveContext
from dopt.core.errors import ProblemError
from dopt.core.registry import build_options, get_method
from dopt.core.solve import solve


@dataclass
class PathResult:
    """Coefficients (p x n_values), objectives, duality gaps and seconds per L1 weight."""

    l1_values: np.ndarray
    coefs: np.ndarray
    objectives: np.ndarray
    gaps: np.ndarray
    seconds: np.ndarray
    statuses: list[str]

    @property
    def total_seconds(self) -> float:
        return float(self.seconds.sum())


def lambda_max(problem: BCDProblem) -> float:
    """The smallest L1 weight at which x = 0 is optimal (least squares or logistic, l2 ignored)."""
    if problem.loss == "least_squares":
        return float(np.max(np.abs(problem.A.T @ problem.b)))
    if problem.loss == "logistic":
        return float(np.max(np.abs(problem.A.T @ problem.b))) / 2.0
    raise ProblemError(f"lambda_max: defined for least_squares and logistic, not {problem.loss!r}")


def regularization_path(
    problem: BCDProblem,
    l1_values: Any = None,
    *,
    n_values: int = 20,
    eps: float = 1e-3,
    tol: float = 1e-6,
    method: str = "bcd.lasso",
    **options: Any,
) -> PathResult:
    """Solve ``problem`` for each L1 weight (default: n_values log-spaced from lambda_max down to eps * lambda_max)."""
    if l1_values is None:
        top = lambda_max(problem)
        l1_values = np.geomspace(top, eps * top, n_values)
    values = np.sort(np.asarray(l1_values, dtype=np.float64))[::-1]
    if values.size == 0 or not (values > 0).all():
        raise ProblemError("l1_values: need at least one positive weight")
    x = np.zeros(problem.x_shape)
    coefs, objectives, gaps, seconds, statuses = [], [], [], [], []
    fast = method == "bcd.lasso"
    if fast:  # convert A once for the whole path
        base = build_options(get_method(method, problem.kind), {"tol": tol, **options})
        design = Design.of(problem.A)
    with one_blas_thread(problem.A):
        for lam in values:
            t0 = time.perf_counter()
            if fast:
                opts = dataclasses.replace(base, x0=x)
                res = _LassoSolver(problem, opts, SolveContext(), design, float(lam)).run()
            else:
                res = solve(dataclasses.replace(problem, l1=float(lam)), method, tol=tol, x0=x, **options)
            seconds.append(time.perf_counter() - t0)
            x = np.asarray(res.x, dtype=np.float64)
            coefs.append(x.copy())
            objectives.append(res.objective)
            gaps.append(res.extras.get("duality_gap", np.nan))
            statuses.append(res.status)
    return PathResult(
        values, np.stack(coefs, axis=-1), np.array(objectives), np.array(gaps), np.array(seconds), statuses
    )
