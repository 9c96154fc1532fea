"""Lasso / L1-logistic head-to-head: bcd.lasso vs scikit-learn, skglm and celer, one stopping rule for all.

Every solver (best of ``repeats`` timed runs, more for runs under MIN_TIMED_S, after an untimed
warm-up) is asked for a duality gap <= target * gap(0) in dopt's scaling (sum of losses +
l1 ||x||_1). Peers have their own stopping rules and scalings (mean losses, absolute KKT), so
each peer runs with its own tolerance tightened tenfold until dopt's gap function confirms the
target; the time reported is that run's. The peers are imported only when called; :func:`installed`
says which are there.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dopt.bcd.duality import lasso_gap, logistic_gap
from dopt.bcd.path import lambda_max as problem_lambda_max
from dopt.bcd.problem import BCDProblem
from dopt.core.result import Result

PEERS = ("scikit-learn", "skglm", "celer")
MODULES = {"scikit-learn": "sklearn", "skglm": "skglm", "celer": "celer"}
REPEATS = 3  # each timing is the best of this many runs (the machine may be shared)
GIVE_UP_S = 60.0  # a peer run longer than this ends its tolerance search
MIN_TIMED_S = 0.25  # runs shorter than this are repeated more often (up to 100 times), for dopt and peers alike


def runs_for(seconds: float, repeats: int) -> int:
    """Timed runs for a solve of ``seconds``: ``repeats``, or more when a few millisecond runs would be all noise."""
    return max(repeats, min(100, int(MIN_TIMED_S / max(seconds, 1e-6))))


@dataclass
class Run:
    """One solver's outcome on one problem (``note`` is empty when it reached the target)."""

    solver: str
    seconds: float
    objective: float
    relative_gap: float
    peer_tol: float | None = None
    note: str = ""


def installed(peer: str) -> bool:
    """True when the peer's package can be imported."""
    return importlib.util.find_spec(MODULES[peer]) is not None


def gap_of(problem: BCDProblem, x: np.ndarray) -> float:
    """dopt's duality gap of x (least squares or logistic, L1)."""
    if problem.loss == "least_squares":
        return lasso_gap(problem.A, problem.b, x, problem.l1)
    return logistic_gap(problem.A, problem.b, x, problem.l1)


def initial_gap(problem: BCDProblem) -> float:
    """The duality gap at x = 0, the scale of the relative target."""
    return gap_of(problem, np.zeros(problem.n_features))


def lambda_max(A: np.ndarray | sp.sparray, b: np.ndarray, loss: str) -> float:
    """The smallest l1 weight with x = 0 optimal."""
    return problem_lambda_max(BCDProblem(loss=loss, A=A, b=b))


def fit(peer: str, problem: BCDProblem, tol: float) -> np.ndarray:
    """The peer's coefficients for ``problem`` (no intercept) at its own tolerance ``tol``."""
    A, b, n, lam = problem.A, problem.b, problem.A.shape[0], problem.l1
    ls = problem.loss == "least_squares"
    if peer == "scikit-learn":
        from sklearn.linear_model import Lasso, LogisticRegression

        if ls:
            model = Lasso(alpha=lam / n, fit_intercept=False, tol=tol, max_iter=1_000_000, selection="cyclic")
        else:
            model = LogisticRegression(
                C=1.0 / lam, l1_ratio=1.0, solver="liblinear", fit_intercept=False, tol=tol, max_iter=1_000_000
            )
    elif peer == "skglm":
        from skglm import Lasso, SparseLogisticRegression

        if ls:
            model = Lasso(alpha=lam / n, fit_intercept=False, tol=tol, max_iter=1000, max_epochs=1_000_000)
        else:
            model = SparseLogisticRegression(alpha=lam / n, fit_intercept=False, tol=tol, max_iter=1000)
    else:
        from celer import Lasso, LogisticRegression

        if ls:
            model = Lasso(alpha=lam / n, fit_intercept=False, tol=tol, max_iter=1000, max_epochs=1_000_000)
        else:
            model = LogisticRegression(C=1.0 / lam, fit_intercept=False, tol=tol, max_iter=1000, max_epochs=1_000_000)
    Afit = sp.csc_matrix(A) if sp.issparse(A) else A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(Afit, b)
    return np.asarray(model.coef_, dtype=np.float64).ravel()


def run_peer(
    peer: str,
    problem: BCDProblem,
    target: float,
    start_tol: float = 1e-4,
    *,
    repeats: int = REPEATS,
    give_up_s: float = GIVE_UP_S,
) -> Run:
    """Time the peer at the loosest tolerance (start_tol, /10, ...) whose answer meets the relative gap target."""
    if not installed(peer):
        return Run(peer, float("nan"), float("nan"), float("nan"), note="not installed")
    gap0 = initial_gap(problem)
    tol = start_tol
    fit(peer, problem, tol)  # warm-up: JIT compilation and imports are not timed
    for _ in range(10):
        t0 = time.perf_counter()
        x = fit(peer, problem, tol)
        seconds = time.perf_counter() - t0
        rel = gap_of(problem, x) / gap0
        if not rel <= 1.0 or seconds > give_up_s:  # diverged (or NaN), or too slow to tighten further
            note = "diverged" if not rel <= 1.0 else f"over {give_up_s:.0f} s"
            return Run(peer, seconds, problem.objective(x), rel, tol, note=note)
        if rel <= target:
            for _ in range(runs_for(seconds, repeats) - 1):
                t0 = time.perf_counter()
                fit(peer, problem, tol)
                seconds = min(seconds, time.perf_counter() - t0)
            return Run(peer, seconds, problem.objective(x), rel, tol)
        tol /= 10
    return Run(peer, seconds, problem.objective(x), rel, tol * 10, note="target not reached")


def run_dopt(problem: BCDProblem, target: float, *, repeats: int = REPEATS, **options: float) -> Run:
    """bcd.lasso at tol = target (after one warm-up solve for Numba compilation).

    Timed as a user calls it, like a peer's ``fit``: the problem is built from the arrays (validation) and solved.
    """
    from dopt.core.solve import solve

    def timed() -> tuple[float, Result]:
        t0 = time.perf_counter()
        fresh = BCDProblem(loss=problem.loss, A=problem.A, b=problem.b, l1=problem.l1, l2=problem.l2)
        res = solve(fresh, "bcd.lasso", tol=target, **options)
        return time.perf_counter() - t0, res

    solve(problem, "bcd.lasso", tol=target, **options)
    seconds, res = timed()
    for _ in range(runs_for(seconds, repeats) - 1):
        seconds = min(seconds, timed()[0])
    rel = gap_of(problem, res.x) / initial_gap(problem)
    note = "" if rel <= target else f"target not reached ({res.status})"
    return Run("dopt bcd.lasso", seconds, res.objective, rel, note=note)


def head_to_head(problem: BCDProblem, target: float = 1e-6, *, repeats: int = REPEATS) -> list[Run]:
    """dopt and every peer on one problem."""
    runs = [run_dopt(problem, target, repeats=repeats)]
    runs += [run_peer(peer, problem, target, repeats=repeats) for peer in PEERS]
    return runs
