"""Numba CPU kernels of the completion family: per-row ridge solves (exact and CG) and entry predictions.

A half-sweep of alternating minimisation updates every row r of one factor
independently: x_r = argmin_x sum_{t in row r} (y_t - W[idx_t] . x)^2 + lam_r |x|^2,
where ``idx``/``ptr`` are the CSR (or CSC) view of the observed entries and W
is the other side's factor. Each kernel is compiled twice (``dopt.core.jit.SerialOrParallel``): rows in
parallel (``prange``) for large inputs, and serially for small ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from dopt.core.jit import SerialOrParallel

FASTMATH = {"contract", "arcp", "reassoc", "nsz"}
PARALLEL_WORK = 200_000  # entries x rank below which the serial kernels run
ROW_BLOCK = 64  # rows per parallel task of the CG kernel, sharing its work arrays


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
def _gather(ptr: np.ndarray, idx: np.ndarray, W: np.ndarray, y: np.ndarray, r: int) -> np.ndarray:
    """Row r's entries of W transposed, its targets y as a last row: (d + 1) x count, Gram entries become dots."""
    start, cnt = ptr[r], ptr[r + 1] - ptr[r]
    d = W.shape[1]
    AT = np.empty((d + 1, cnt))
    for t in range(cnt):
        w = W[idx[start + t]]
        for a in range(d):
            AT[a, t] = w[a]
        AT[d, t] = y[start + t]
    return AT


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _gram(AT: np.ndarray, G: np.ndarray) -> None:
    """G[a, c] = AT[a] . AT[c] for c >= a (some c < a too): two rows against four per pass over the entries.

    Eight sums per pass reuse every loaded entry (register blocking); one sum per pass would load two
    entries per multiply-add and leave the CPU waiting on loads.
    """
    D, cnt = AT.shape
    a = 0
    while a + 1 < D:
        x0, x1 = AT[a], AT[a + 1]
        c = a
        while c + 3 < D:
            y0, y1, y2, y3 = AT[c], AT[c + 1], AT[c + 2], AT[c + 3]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = 0.0
            for t in range(cnt):
                u0, u1 = x0[t], x1[t]
                s00 += u0 * y0[t]
                s01 += u0 * y1[t]
                s02 += u0 * y2[t]
                s03 += u0 * y3[t]
                s10 += u1 * y0[t]
                s11 += u1 * y1[t]
                s12 += u1 * y2[t]
                s13 += u1 * y3[t]
            G[a, c], G[a, c + 1], G[a, c + 2], G[a, c + 3] = s00, s01, s02, s03
            G[a + 1, c], G[a + 1, c + 1], G[a + 1, c + 2], G[a + 1, c + 3] = s10, s11, s12, s13
            c += 4
        while c < D:
            y0 = AT[c]
            s00 = s10 = 0.0
            for t in range(cnt):
                s00 += x0[t] * y0[t]
                s10 += x1[t] * y0[t]
            G[a, c], G[a + 1, c] = s00, s10
            c += 1
        a += 2
    if a < D:
        x0 = AT[a]
        s00 = 0.0
        for t in range(cnt):
            s00 += x0[t] * x0[t]
        G[a, a] = s00


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _combine(AT: np.ndarray, coef: np.ndarray, out: np.ndarray) -> None:
    """out[t] += sum_a coef[a] AT[a, t] over the first coef.size rows, four rows per pass over the entries."""
    d, cnt = coef.size, AT.shape[1]
    a = 0
    while a + 3 < d:
        c0, c1, c2, c3 = coef[a], coef[a + 1], coef[a + 2], coef[a + 3]
        r0, r1, r2, r3 = AT[a], AT[a + 1], AT[a + 2], AT[a + 3]
        for t in range(cnt):
            out[t] += c0 * r0[t] + c1 * r1[t] + c2 * r2[t] + c3 * r3[t]
        a += 4
    while a < d:
        c0, r0 = coef[a], AT[a]
        for t in range(cnt):
            out[t] += c0 * r0[t]
        a += 1


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _residual_sse(AT: np.ndarray, x: np.ndarray) -> float:
    """sum_t (AT[d, t] - sum_a x[a] AT[a, t])^2 with d = x.size: the squared error of x on a gathered row."""
    e = AT[x.size].copy()
    _combine(AT, -x, e)
    s = 0.0
    for t in range(e.size):
        s += e[t] * e[t]
    return s


def _exact_rows(
    ptr: np.ndarray, idx: np.ndarray, y: np.ndarray, W: np.ndarray, lam: np.ndarray, X: np.ndarray, sse: np.ndarray
) -> None:
    """X[r] = exact ridge solution of row r from its k x k normal equations (Cholesky), sse[r] = its squared error.

    Rows without entries get 0.
    """
    nrows = ptr.size - 1
    d = W.shape[1]
    for r in prange(nrows):
        if ptr[r + 1] == ptr[r]:
            X[r, :] = 0.0
            sse[r] = 0.0
            continue
        AT = _gather(ptr, idx, W, y, r)
        G = np.empty((d + 1, d + 1))  # [A y]^T [A y]: the normal equations' matrix, and right-hand side in column d
        _gram(AT, G)
        b = G[:d, d].copy()
        trace = 0.0
        for a in range(d):
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
        sse[r] = _residual_sse(AT, x)  # while the row's entries are still in cache


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _gather_rows(ptr: np.ndarray, idx: np.ndarray, W: np.ndarray, r: int, A: np.ndarray) -> None:
    """A[t] = W[idx_t] for row r's entries t, row-major: contiguous copies, far cheaper than a transposing gather."""
    start, d = ptr[r], W.shape[1]
    for t in range(ptr[r + 1] - start):
        j = idx[start + t]
        for a in range(d):
            A[t, a] = W[j, a]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _four_dots(A: np.ndarray, t: int, v: np.ndarray, zero: Any) -> tuple[Any, Any, Any, Any]:
    """A[t] . v, ..., A[t + 3] . v: four rows against one vector, each loaded entry of v used four times."""
    s0 = s1 = s2 = s3 = zero
    for a in range(A.shape[1]):
        va = v[a]
        s0 += A[t, a] * va
        s1 += A[t + 1, a] * va
        s2 += A[t + 2, a] * va
        s3 += A[t + 3, a] * va
    return s0, s1, s2, s3


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _residual_gradient(
    A: np.ndarray, y: np.ndarray, x: np.ndarray, e: np.ndarray, grad: np.ndarray, sq: np.ndarray
) -> None:
    """In one pass over A's rows (four at a time): e = y - A x, grad = A^T e, sq = column sums of A squared."""
    cnt, d = A.shape
    zero = A.dtype.type(0)
    grad[:] = zero
    sq[:] = zero
    t = 0
    while t + 3 < cnt:
        s0, s1, s2, s3 = _four_dots(A, t, x, zero)
        e0, e1, e2, e3 = y[t] - s0, y[t + 1] - s1, y[t + 2] - s2, y[t + 3] - s3
        e[t], e[t + 1], e[t + 2], e[t + 3] = e0, e1, e2, e3
        for a in range(d):
            a0, a1, a2, a3 = A[t, a], A[t + 1, a], A[t + 2, a], A[t + 3, a]
            grad[a] += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3
            sq[a] += a0 * a0 + a1 * a1 + a2 * a2 + a3 * a3
        t += 4
    while t < cnt:
        s0 = zero
        for a in range(d):
            s0 += A[t, a] * x[a]
        e0 = y[t] - s0
        e[t] = e0
        for a in range(d):
            grad[a] += e0 * A[t, a]
            sq[a] += A[t, a] * A[t, a]
        t += 1


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _normal_product(A: np.ndarray, p: np.ndarray, q: np.ndarray, out: np.ndarray) -> None:
    """In one pass over A's rows (four at a time): q = A p and out = A^T q."""
    cnt, d = A.shape
    zero = A.dtype.type(0)
    out[:] = zero
    t = 0
    while t + 3 < cnt:
        s0, s1, s2, s3 = _four_dots(A, t, p, zero)
        q[t], q[t + 1], q[t + 2], q[t + 3] = s0, s1, s2, s3
        for a in range(d):
            out[a] += s0 * A[t, a] + s1 * A[t + 1, a] + s2 * A[t + 2, a] + s3 * A[t + 3, a]
        t += 4
    while t < cnt:
        s0 = zero
        for a in range(d):
            s0 += A[t, a] * p[a]
        q[t] = s0
        for a in range(d):
            out[a] += s0 * A[t, a]
        t += 1


def _cg_rows(
    ptr: np.ndarray,
    idx: np.ndarray,
    y: np.ndarray,
    W: np.ndarray,
    lam: np.ndarray,
    X: np.ndarray,
    steps: int,
    jacobi: bool,
    sse: np.ndarray,
) -> None:
    """X[r] <- ``steps`` (preconditioned) conjugate-gradient steps on row r's normal equations, from X[r].

    The k x k matrix is never formed: each step applies A^T A + lam I as
    q = A p and A^T q in one pass over the row's gathered entries A, O(|Omega_r| k)
    per step. The residuals e = y - A x are carried along (each step moves them
    by -alpha q), so sse[r] costs O(|Omega_r|). The passes over A run in W's
    dtype (float32 halves their memory traffic and doubles the SIMD width);
    x, the CG scalars and the directions stay float64. Rows are taken in
    blocks of ROW_BLOCK that share their work arrays, allocated once.
    """
    nrows = ptr.size - 1
    d = W.shape[1]
    work = W.dtype
    for block in prange((nrows + ROW_BLOCK - 1) // ROW_BLOCK):
        first, last = block * ROW_BLOCK, min(nrows, (block + 1) * ROW_BLOCK)
        longest = 0
        for r in range(first, last):
            longest = max(longest, ptr[r + 1] - ptr[r])
        A_buf, yw_buf = np.empty((longest, d), dtype=work), np.empty(longest, dtype=work)
        e_buf, q_buf = np.empty(longest, dtype=work), np.empty(longest, dtype=work)
        xw, grad, sq = np.empty(d, dtype=work), np.empty(d, dtype=work), np.empty(d, dtype=work)
        x, res, diag, z, p, Ap = np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(d)
        for r in range(first, last):
            start, cnt = ptr[r], ptr[r + 1] - ptr[r]
            if cnt == 0:
                X[r, :] = 0.0
                sse[r] = 0.0
                continue
            lr = lam[r]
            A, yw, e, q = A_buf[:cnt], yw_buf[:cnt], e_buf[:cnt], q_buf[:cnt]
            _gather_rows(ptr, idx, W, r, A)
            for t in range(cnt):
                yw[t] = y[start + t]
            for a in range(d):
                x[a] = X[r, a]
                xw[a] = x[a]
            _residual_gradient(A, yw, xw, e, grad, sq)
            rz = 0.0
            for a in range(d):
                res[a] = grad[a] - lr * x[a]  # res = A^T (y - A x) - lam x
                diag[a] = 1.0
                if jacobi and sq[a] + lr > 0.0:
                    diag[a] = sq[a] + lr
                z[a] = res[a] / diag[a]
                p[a] = z[a]
                rz += res[a] * z[a]
            for _ in range(steps):
                if not rz > 1e-300:
                    break
                for a in range(d):
                    xw[a] = p[a]
                _normal_product(A, xw, q, grad)
                pAp = 0.0
                for a in range(d):
                    Ap[a] = grad[a] + lr * p[a]
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
                step = work.type(alpha)
                for t in range(cnt):
                    e[t] -= step * q[t]
                beta = rz_new / rz
                rz = rz_new
                for a in range(d):
                    p[a] = z[a] + beta * p[a]
            s = 0.0
            for a in range(d):
                X[r, a] = x[a]
            for t in range(cnt):
                s += float(e[t]) * float(e[t])
            sse[r] = s


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


@njit(cache=True)
def column_major(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSC view of row-major entries by a counting sort, O(nnz): (pointer, permutation, rows, values) by column.

    The sort is stable, so each column's rows stay ascending.
    """
    ptr = np.zeros(n + 1, dtype=np.int64)
    for t in range(cols.size):
        ptr[cols[t] + 1] += 1
    for j in range(n):
        ptr[j + 1] += ptr[j]
    fill = ptr[:-1].copy()
    order = np.empty(cols.size, dtype=np.int64)
    rows_by_col = np.empty(cols.size, dtype=np.int64)
    values_by_col = np.empty(cols.size)
    for t in range(cols.size):
        at = fill[cols[t]]
        fill[cols[t]] = at + 1
        order[at] = t
        rows_by_col[at] = rows[t]
        values_by_col[at] = values[t]
    return ptr, order, rows_by_col, values_by_col


_EXACT = SerialOrParallel(_exact_rows, PARALLEL_WORK, fastmath=FASTMATH)
_CG = SerialOrParallel(_cg_rows, PARALLEL_WORK, fastmath=FASTMATH)
_PREDICT = SerialOrParallel(_predict_entries, PARALLEL_WORK, fastmath=FASTMATH)


def exact_rows(
    ptr: np.ndarray, idx: np.ndarray, y: np.ndarray, W: np.ndarray, lam: np.ndarray, X: np.ndarray
) -> np.ndarray:
    """X[r] = exact ridge solution of row r (see ``_exact_rows``); returns each row's squared error at it."""
    sse = np.empty(ptr.size - 1)
    _EXACT(idx.size * W.shape[1], ptr, idx, y, W, lam, X, sse)
    return sse


def cg_rows(
    ptr: np.ndarray,
    idx: np.ndarray,
    y: np.ndarray,
    W: np.ndarray,
    lam: np.ndarray,
    X: np.ndarray,
    steps: int,
    jacobi: bool,
) -> np.ndarray:
    """X[r] <- ``steps`` warm-started CG steps on row r (see ``_cg_rows``); returns each row's squared error."""
    sse = np.empty(ptr.size - 1)
    _CG(idx.size * W.shape[1], ptr, idx, y, W, lam, X, steps, jacobi, sse)
    return sse


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
    _PREDICT(rows.size * U.shape[1], rows, cols, U, V, mu, row_bias, col_bias, out)
