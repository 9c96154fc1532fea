"""Numba kernels of the l2 order score: PSD Cholesky and O(L^2) swap evaluation by Givens re-triangularisation.

For an order pi and the data covariance C = X^T X / n, factor C[pi, pi] = L L^T. The
diagonal entry L_kk^2 is the residual variance of node pi_k regressed on its
predecessors, so the unpenalised l2 score of the order is 0.5 * sum_k L_kk^2.
Swapping the nodes at positions a < b changes only the residuals of positions
a..b; their new values are the squared diagonal of the lower-triangular factor of
the block L[a:b+1, a:b+1] with its first and last rows exchanged.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from dopt.core.jit import SerialOrParallel

PIVOT_TOL = 1e-13  # relative pivot below which a node is an exact linear function of its predecessors


@njit(cache=True)
def cholesky_psd(C: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a symmetric PSD matrix; a (numerically) zero pivot gives a zero column."""
    d = C.shape[0]
    L = np.zeros((d, d))
    scale = 0.0
    for i in range(d):
        scale = max(scale, C[i, i])
    tol = PIVOT_TOL * max(scale, 1e-300)
    for j in range(d):
        s = C[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if s <= tol:
            continue
        pivot = math.sqrt(s)
        L[j, j] = pivot
        for i in range(j + 1, d):
            t = C[i, j]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            L[i, j] = t / pivot
    return L


@njit(cache=True)
def _rotate(work: np.ndarray, col: int, x: float, y: float, row_start: int, row_stop: int, also_row0: bool) -> None:
    """Apply the column rotation (col, col+1) that maps (x, y) to (hypot, 0) to rows [row_start, row_stop)."""
    rho = math.hypot(x, y)
    if rho == 0.0:
        return
    c, s = x / rho, y / rho
    if also_row0:
        u, w = work[0, col], work[0, col + 1]
        work[0, col] = c * u + s * w
        work[0, col + 1] = -s * u + c * w
    for r in range(row_start, row_stop):
        u, w = work[r, col], work[r, col + 1]
        work[r, col] = c * u + s * w
        work[r, col + 1] = -s * u + c * w


@njit(cache=True)
def swap_block_residuals(Lf: np.ndarray, a: int, b: int, work: np.ndarray) -> float:
    """Sum of squared residual scales of positions a..b after swapping the nodes at a and b (a < b)."""
    n = b - a + 1
    for r in range(n):
        src = a + (n - 1 if r == 0 else (0 if r == n - 1 else r))
        for c in range(n):
            work[r, c] = Lf[src, a + c] if c <= src - a else 0.0
    # sweep 1: fold the full first row into its first column; rows 1..n-2 gain one superdiagonal entry
    for j in range(n - 1, 0, -1):
        _rotate(work, j - 1, work[0, j - 1], work[0, j], max(j - 1, 1), n, True)
    # sweep 2: remove the superdiagonal, top to bottom
    for r in range(1, n - 1):
        _rotate(work, r, work[r, r], work[r, r + 1], r, n, False)
    total = 0.0
    for r in range(n):
        total += work[r, r] * work[r, r]
    return total


PARALLEL_WORK = 200_000  # candidate work (sum of squared interval lengths) above which threads pay off


def swap_deltas(Lf: np.ndarray, pos_a: np.ndarray, pos_b: np.ndarray) -> np.ndarray:
    """Change of the l2 order score for each candidate swap of positions (pos_a[k], pos_b[k]), pos_a < pos_b."""
    work = float(np.sum((pos_b - pos_a + 1.0) ** 2))
    return _SWAP_DELTAS(work, Lf, pos_a, pos_b)


def _swap_deltas(Lf: np.ndarray, pos_a: np.ndarray, pos_b: np.ndarray) -> np.ndarray:
    m = pos_a.size
    out = np.empty(m)
    for k in prange(m):
        a, b = pos_a[k], pos_b[k]
        work = np.empty((b - a + 1, b - a + 1))
        old = 0.0
        for t in range(a, b + 1):
            old += Lf[t, t] * Lf[t, t]
        out[k] = 0.5 * (swap_block_residuals(Lf, a, b, work) - old)
    return out


_SWAP_DELTAS = SerialOrParallel(_swap_deltas, PARALLEL_WORK)


@njit(cache=True)
def path_weights(A: np.ndarray) -> np.ndarray:
    """(I - A)^{-1} for a strictly upper-triangular A: entry [a, b] is the total weight of the paths a ~> b."""
    d = A.shape[0]
    P = np.eye(d)
    for b in range(d):
        for a in range(b - 1, -1, -1):
            t = 0.0
            for c in range(a + 1, b + 1):
                t += A[a, c] * P[c, b]
            P[a, b] = t
    return P
