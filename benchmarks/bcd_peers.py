"""Lasso / L1-logistic head-to-head: dopt's bcd.lasso vs scikit-learn, skglm and celer, one stopping rule for all.

Every solver (best of 3 timed runs, after an untimed warm-up) is asked for a duality gap <= target * gap(0)
in dopt's scaling (sum of losses + l1 ||x||_1).
Peers have their own stopping rules and scalings (mean losses, absolute KKT), so each peer runs with its own
tolerance tightened tenfold until dopt's gap function confirms the target; the time reported is that run's.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

import dopt
from dopt.bcd import BCDProblem
from dopt.bcd.duality import lasso_gap, logistic_gap

PEERS = ("scikit-learn", "skglm", "celer")
MODULES = {"scikit-learn": "sklearn", "skglm": "skglm", "celer": "celer"}
REPEATS = 3  # each timing is the best of this many runs (the machine is shared)
GIVE_UP_S = 60.0  # a peer run longer than this ends its tolerance search


@dataclass
class Run:
    """One solver's outcome on one problem."""

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
    return gap_of(problem, np.zeros(problem.n_features))


def _fit(peer: str, problem: BCDProblem, tol: float) -> np.ndarray:
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


def run_peer(peer: str, problem: BCDProblem, target: float, start_tol: float = 1e-4) -> Run:
    """Time the peer at the loosest tolerance (start_tol, /10, ...) whose answer meets the relative gap target."""
    if not installed(peer):
        return Run(peer, float("nan"), float("nan"), float("nan"), note="not installed")
    gap0 = initial_gap(problem)
    tol = start_tol
    _fit(peer, problem, tol)  # warm-up: JIT compilation and imports are not timed
    for _ in range(10):
        t0 = time.perf_counter()
        x = _fit(peer, problem, tol)
        seconds = time.perf_counter() - t0
        rel = gap_of(problem, x) / gap0
        if not rel <= 1.0 or seconds > GIVE_UP_S:  # diverged (or NaN), or too slow to tighten further
            note = "diverged" if not rel <= 1.0 else f"over {GIVE_UP_S:.0f} s"
            return Run(peer, seconds, problem.objective(x), rel, tol, note=note)
        if rel <= target:
            for _ in range(REPEATS - 1):
                t0 = time.perf_counter()
                _fit(peer, problem, tol)
                seconds = min(seconds, time.perf_counter() - t0)
            return Run(peer, seconds, problem.objective(x), rel, tol)
        tol /= 10
    return Run(peer, seconds, problem.objective(x), rel, tol * 10, note="target not reached")


def run_dopt(problem: BCDProblem, target: float, **options: float) -> Run:
    """bcd.lasso at tol = target (after one warm-up solve for Numba compilation)."""
    dopt.solve(problem, "bcd.lasso", tol=target, **options)
    seconds = np.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        res = dopt.solve(problem, "bcd.lasso", tol=target, **options)
        seconds = min(seconds, time.perf_counter() - t0)
    rel = gap_of(problem, res.x) / initial_gap(problem)
    return Run("dopt bcd.lasso", seconds, res.objective, rel, note=res.status)


def head_to_head(problem: BCDProblem, target: float = 1e-6) -> list[Run]:
    """dopt and every peer on one problem."""
    runs = [run_dopt(problem, target)]
    runs += [run_peer(peer, problem, target) for peer in PEERS]
    return runs


def lambda_max(A: np.ndarray | sp.sparray, b: np.ndarray, loss: str) -> float:
    """The smallest l1 weight with x = 0 optimal."""
    v = b if loss == "least_squares" else b / 2.0
    return float(np.max(np.abs(A.T @ v)))
