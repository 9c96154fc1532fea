"""Duality gaps of the L1 problems (Lasso / elastic net and L1 logistic), in dopt's sum-of-losses scaling."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import log_expit, xlogy

from dopt.bcd.problem import BCDProblem


def lasso_gap(A: np.ndarray | sp.spmatrix, b: np.ndarray, x: np.ndarray, l1: float, l2: float = 0.0) -> float:
    """P(x) - D(theta) for 1/2||Ax-b||^2 + l2/2||x||^2 + l1||x||_1, theta the rescaled residual (>= 0, 0 at optimum).

    The elastic net is the Lasso on [A; sqrt(l2) I], [b; 0], whose residual is [r; -sqrt(l2) x].
    """
    r = b - A @ x
    return lasso_gap_from_residual(A.T @ r - l2 * x, r, b, x, l1, l2)


def lasso_gap_from_residual(
    corr: np.ndarray, r: np.ndarray, b: np.ndarray, x: np.ndarray, l1: float, l2: float
) -> float:
    """The Lasso gap given r = b - Ax and corr = A'r - l2 x."""
    primal = 0.5 * _sq(r) + 0.5 * l2 * _sq(x) + l1 * float(np.abs(x).sum())
    top = float(np.max(np.abs(corr), initial=0.0))
    scale = 1.0 if top <= l1 else l1 / top
    # D(theta) = 1/2||b||^2 - 1/2||b_aug - theta||^2 with theta = scale * [r; -sqrt(l2) x]
    dual = 0.5 * _sq(b) - 0.5 * _sq(b - scale * r) - 0.5 * l2 * scale**2 * _sq(x)
    return primal - dual


def _sq(v: np.ndarray) -> float:
    """||v||^2 without BLAS (whose threads cost more than they give on short vectors under load)."""
    return float(np.einsum("i,i->", v, v))


def logistic_gap(A: np.ndarray | sp.spmatrix, y: np.ndarray, x: np.ndarray, l1: float) -> float:
    """P(x) - D(theta) for sum_i log(1 + exp(-y_i a_i.x)) + l1||x||_1 with theta_i = sigmoid(-y_i a_i.x) rescaled."""
    z = A @ x
    theta = np.exp(log_expit(-y * z))
    return logistic_gap_from_theta(A.T @ (y * theta), z, y, x, theta, l1)


def logistic_gap_from_theta(
    corr: np.ndarray, z: np.ndarray, y: np.ndarray, x: np.ndarray, theta: np.ndarray, l1: float
) -> float:
    """The L1-logistic gap given z = Ax, theta = sigmoid(-y z) and corr = A'(y theta)."""
    primal = -float(np.sum(log_expit(y * z))) + l1 * float(np.abs(x).sum())
    top = float(np.max(np.abs(corr), initial=0.0))
    t = theta if top <= l1 else theta * (l1 / top)
    dual = -float(np.sum(xlogy(t, t) + xlogy(1.0 - t, 1.0 - t)))
    return primal - dual


def duality_gap(problem: BCDProblem, x: np.ndarray) -> float | None:
    """The duality gap of an L1 least-squares or logistic problem at ``x`` (None for other problems)."""
    if problem.l1 <= 0:
        return None
    if problem.loss == "least_squares":
        return lasso_gap(problem.A, problem.b, x, problem.l1, problem.l2)
    if problem.loss == "logistic" and problem.l2 == 0:
        return logistic_gap(problem.A, problem.b, x, problem.l1)
    return None
