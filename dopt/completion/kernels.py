"""Numba CPU kernels of the completion family: per-row ridge solves (exact and CG) and entry predictions.

A half-sweep of alternating minimisation updates every row r of one factor
independently: x_r = argmin_x sum_{t in row r} (y_t - W[idx_t] . x)^2 + lam_r |x|^2,
where ``idx``/``ptr`` are the CSR (or CSC) view of the observed entries and W
is the other side's factor. Each kernel is compiled twice: rows in parallel
(``prange``) for large inputs, and serially for small ones, where waking the
thread pool costs more than the work (and stalls on a busy machine).
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit, prange

FASTMATH = {"contract", "arcp", "reassoc", "nsz"}
PARALLEL_WORK = 200_000  # entries x rank below which the serial kernels run


@njit(cache=True, inline="always")
def _cholesky_solve(G: np.ndarray, b: np.ndarray, L: np.ndarray, out: np.ndarray) -> bool:
    """Solve G x = b (G symmetric, upper triangle used) by Cholesky into ``out``; False if G is not PD."""
    d = b.size
    for j in range(d):
        s = G[j, j]
        for p in range(j):
            s -= L[j, p] * L[j, p]
        if not s > 0.0:
            return False
        ljj = math.sqrt(s)
        L[j, j] = ljj
        for i in range(j + 1, d):
            s = G[j, i]
            for p in range(j):
                s -= L[i, p] * L[j, p]
            L[i, j] = s / ljj
    for i in range(d):  # forward: L z = b
        s = b[i]
        for p in range(i):
            s -= L[i, p] * out[p]
        out[i] = s / L[i, i]
    for i in range(d - 1, -1, -1):  # backward: L^T x = z
        s = out[i]
        for p in range(i + 1, d):
            s -= L[p, i] * out[p]
        out[i] = s / L[i, i]
    return True


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _gather(ptr: np.ndarray, idx: np.ndarray, W: np.ndarray, r: int) -> np.ndarray:
    """The rows of W that row r observes, transposed (d x count): the Gram entries become contiguous dot products."""
    start, cnt = ptr[r], ptr[r + 1] - ptr[r]
    d = W.shape[1]
    AT = np.empty((d, cnt))
    for t in range(cnt):
        w = W[idx[start + t]]
        for a in range(d):
            AT[a, t] = w[a]
    return AT


def _exact_rows(ptr: np.ndarray, idx: np.ndarray, y: np.ndarray, W: np.ndarray, lam: np.ndarray, X: np.ndarray) -> None:
    """X[r] = exact ridge solution of row r from its k x k normal equations (Cholesky); rows without entries get 0."""
    nrows = ptr.size - 1
    d = W.shape[1]
    for r in prange(nrows):
        start, cnt = ptr[r], ptr[r + 1] - ptr[r]
        if cnt == 0:
            X[r, :] = 0.0
            continue
        AT = _gather(ptr, idx, W, r)
        yr = y[start : start + cnt]
        G = np.empty((d, d))
        b = np.empty(d)
        trace = 0.0
        for a in range(d):
            xa = AT[a]
            s = 0.0
            for t in range(cnt):
                s += xa[t] * yr[t]
            b[a] = s
            for c in range(a, d):
                xc = AT[c]
                s = 0.0
                for t in range(cnt):
                    s += xa[t] * xc[t]
                G[a, c] = s
            G[a, a] += lam[r]
            trace += G[a, a]
        L = np.empty((d, d))
        x = np.empty(d)
        jitter = 1e-13 * trace / d + 1e-300
        while not _cholesky_solve(G, b, L, x):  # singular (too few entries, lam = 0): smallest ridge that works
            for a in range(d):
                G[a, a] += jitter
            jitter *= 100.0
        X[r, :] = x


def _cg_rows(
    ptr: np.ndarray,
    idx: np.ndarray,
    y: np.ndarray,
    W: np.ndarray,
    lam: np.ndarray,
    X: np.ndarray,
    steps: int,
    jacobi: bool,
) -> None:
    """X[r] <- ``steps`` (preconditioned) conjugate-gradient steps on row r's normal equations, from X[r].

    The k x k matrix is never formed: each step applies A^T A + lam I in one
    pass over the row's gathered entries, O(|Omega_r| k) per step.
    """
    nrows = ptr.size - 1
    d = W.shape[1]
    for r in prange(nrows):
        start, cnt = ptr[r], ptr[r + 1] - ptr[r]
        if cnt == 0:
            X[r, :] = 0.0
            continue
        lr = lam[r]
        x = X[r].copy()
        A = np.empty((cnt, d))  # the row's entries of W, gathered contiguously
        res = -lr * x  # res = A^T (y - A x) - lam x, formed during the gather
        diag = np.full(d, lr) if jacobi else np.ones(d)
        for t in range(cnt):
            w = W[idx[start + t]]
            At = A[t]
            s = 0.0
            for a in range(d):
                At[a] = w[a]
                s += w[a] * x[a]
            e = y[start + t] - s
            for a in range(d):
                res[a] += e * At[a]
            if jacobi:
                for a in range(d):
                    diag[a] += At[a] * At[a]
        for a in range(d):
            if not diag[a] > 0.0:
                diag[a] = 1.0
        z = res / diag
        p = z.copy()
        rz = 0.0
        for a in range(d):
            rz += res[a] * z[a]
        Ap = np.empty(d)
        for _ in range(steps):
            if not rz > 1e-300:
                break
            for a in range(d):
                Ap[a] = lr * p[a]
            for t in range(cnt):  # Ap += A_t (A_t . p): one pass, each row used twice while in cache
                At = A[t]
                s = 0.0
                for a in range(d):
                    s += At[a] * p[a]
                for a in range(d):
                    Ap[a] += s * At[a]
            pAp = 0.0
            for a in range(d):
                pAp += p[a] * Ap[a]
            if not pAp > 0.0:
                break
            alpha = rz / pAp
            rz_new = 0.0
            for a in range(d):
                x[a] += alpha * p[a]
                res[a] -= alpha * Ap[a]
                z[a] = res[a] / diag[a]
                rz_new += res[a] * z[a]
            beta = rz_new / rz
            rz = rz_new
            for a in range(d):
                p[a] = z[a] + beta * p[a]
        X[r, :] = x


def _predict_entries(
    rows: np.ndarray,
    cols: np.ndarray,
    U: np.ndarray,
    V: np.ndarray,
    mu: float,
    row_bias: np.ndarray,
    col_bias: np.ndarray,
    out: np.ndarray,
) -> None:
    """out[t] = mu + row_bias[i] + col_bias[j] + U[i] . V[j] at every entry t = (i, j)."""
    k = U.shape[1]
    for t in prange(rows.size):
        i, j = rows[t], cols[t]
        u = U[i]
        v = V[j]
        s = mu + row_bias[i] + col_bias[j]
        for a in range(k):
            s += u[a] * v[a]
        out[t] = s


def _pair(func: Callable[..., None]) -> tuple[Any, Any]:
    """(serial, parallel) compiled versions of ``func``.

    The parallel one compiles a renamed copy: Numba's on-disk cache is keyed by the function's name
    and signature, not by its flags, so two variants of one function would overwrite each other.
    """
    twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_parallel", func.__defaults__)
    twin.__qualname__ = func.__qualname__ + "_parallel"
    return njit(cache=True, fastmath=FASTMATH)(func), njit(parallel=True, cache=True, fastmath=FASTMATH)(twin)


_EXACT = _pair(_exact_rows)
_CG = _pair(_cg_rows)
_PREDICT = _pair(_predict_entries)


def exact_rows(ptr: np.ndarray, idx: np.ndarray, y: np.ndarray, W: np.ndarray, lam: np.ndarray, X: np.ndarray) -> None:
    """X[r] = exact ridge solution of row r (see ``_exact_rows``)."""
    _EXACT[idx.size * W.shape[1] >= PARALLEL_WORK](ptr, idx, y, W, lam, X)


def cg_rows(
    ptr: np.ndarray,
    idx: np.ndarray,
    y: np.ndarray,
    W: np.ndarray,
    lam: np.ndarray,
    X: np.ndarray,
    steps: int,
    jacobi: bool,
) -> None:
    """X[r] <- ``steps`` warm-started CG steps on row r (see ``_cg_rows``)."""
    _CG[idx.size * W.shape[1] >= PARALLEL_WORK](ptr, idx, y, W, lam, X, steps, jacobi)


def predict_entries(
    rows: np.ndarray,
    cols: np.ndarray,
    U: np.ndarray,
    V: np.ndarray,
    mu: float,
    row_bias: np.ndarray,
    col_bias: np.ndarray,
    out: np.ndarray,
) -> None:
    """out[t] = the model's prediction at (rows[t], cols[t]) (see ``_predict_entries``)."""
    _PREDICT[rows.size * U.shape[1] >= PARALLEL_WORK](rows, cols, U, V, mu, row_bias, col_bias, out)
