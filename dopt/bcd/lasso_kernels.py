"""Numba kernels of bcd.lasso: one outer round (correlations, gap, screening, working set) and the working-set solvers.

A is passed as CSC (data, indices, indptr). A dense A is passed as its column-major values with ``indices`` None
(column j is data[indptr[j]:indptr[j + 1]]): Numba compiles the dense and sparse versions of every kernel apart
and prunes the other branch, so the sparse inner loops carry no dense test. Dense rounds use BLAS for A'v and,
when the working set is no wider than A is tall, solve on the working set's Gram matrix so that a CD epoch costs
O(m^2), not O(nm).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ANDERSON_K = 5
GRAM_MAX = 2000  # widest working set solved on its Gram matrix (m x m doubles)
MAX_INNER = 50  # CD epochs on one proximal-Newton model


@njit(cache=True)
def _soft(u: float, t: float) -> float:
    if u > t:
        return u - t
    if u < -t:
        return u + t
    return 0.0


@njit(cache=True)
def _kkt(grad: float, xj: float, l1: float) -> float:
    if xj != 0.0:
        return abs(grad + (l1 if xj > 0 else -l1))
    return max(abs(grad) - l1, 0.0)


@njit(cache=True)
def _dot(data, indices, indptr, j, v):
    """a_j . v for a CSC or dense (``indices`` None) column."""
    start, end = indptr[j], indptr[j + 1]
    s = 0.0
    if indices is None:
        for e in range(start, end):
            s += data[e] * v[e - start]
    else:
        for e in range(start, end):
            s += data[e] * v[indices[e]]
    return s


@njit(cache=True)
def _dot_sum(data, indices, indptr, j, u, w, v):
    """a_j . (u + w * v) (elementwise products) for a CSC or dense column."""
    start, end = indptr[j], indptr[j + 1]
    s = 0.0
    if indices is None:
        for e in range(start, end):
            i = e - start
            s += data[e] * (u[i] + w[i] * v[i])
    else:
        for e in range(start, end):
            i = indices[e]
            s += data[e] * (u[i] + w[i] * v[i])
    return s


@njit(cache=True)
def _grad_curv(data, indices, indptr, j, dz, w):
    """(a_j . dz, sum_i w_i a_ij^2) in one pass over a CSC or dense column."""
    start, end = indptr[j], indptr[j + 1]
    g, h = 0.0, 0.0
    if indices is None:
        for e in range(start, end):
            i = e - start
            g += data[e] * dz[i]
            h += data[e] * data[e] * w[i]
    else:
        for e in range(start, end):
            i = indices[e]
            g += data[e] * dz[i]
            h += data[e] * data[e] * w[i]
    return g, h


@njit(cache=True)
def _axpy(data, indices, indptr, j, a, v):
    """v += a * a_j."""
    start, end = indptr[j], indptr[j + 1]
    if indices is None:
        for e in range(start, end):
            v[e - start] += a * data[e]
    else:
        for e in range(start, end):
            v[indices[e]] += a * data[e]


@njit(cache=True)
def _sum(v):
    """Sum in blocks of 256 (error ~ (256 + n / 256) eps instead of n eps for a plain loop)."""
    total = 0.0
    for start in range(0, v.shape[0], 256):
        part = 0.0
        for i in range(start, min(start + 256, v.shape[0])):
            part += v[i]
        total += part
    return total


@njit(cache=True)
def _vdot(u, v):
    """u . v summed in blocks like ``_sum``, without BLAS (whose threads wake up for long vectors)."""
    total = 0.0
    for start in range(0, u.shape[0], 256):
        part = 0.0
        for i in range(start, min(start + 256, u.shape[0])):
            part += u[i] * v[i]
        total += part
    return total


@njit(cache=True)
def _log1pexp(t: float) -> float:
    """log(1 + exp(t)) without overflow."""
    if t > 0:
        return t + np.log1p(np.exp(-t))
    return np.log1p(np.exp(t))


@njit(cache=True)
def _sigmoid(t: float) -> float:
    if t >= 0:
        return 1.0 / (1.0 + np.exp(-t))
    e = np.exp(t)
    return e / (1.0 + e)


@njit(cache=True)
def _xlogx(t: float) -> float:
    return t * np.log(t) if t > 0.0 else 0.0


@njit(cache=True)
def _l1_norm(x):
    s = 0.0
    for v in x:
        s += abs(v)
    return s


@njit(cache=True)
def gap_round(data, indices, indptr, b, x, state, alive, corr, l1, l2, ls):
    """Duality gap, primal value and dual scale at x; fills corr[j] = -grad_j f on the alive columns.

    ``state`` is the residual b - Ax (least squares) or the predictor Ax (logistic).
    """
    n, p = b.shape[0], x.shape[0]
    dense = indices is None
    if ls:
        v = state
    else:
        theta = np.empty(n)
        v = np.empty(n)
        for i in range(n):
            theta[i] = _sigmoid(-b[i] * state[i])
            v[i] = b[i] * theta[i]
    if dense:
        corr[:] = data.reshape((p, n)) @ v
    top = 0.0
    for j in range(p):
        if alive[j]:
            if not dense:
                corr[j] = _dot(data, indices, indptr, j, v)
            if ls:
                corr[j] -= l2 * x[j]
            top = max(top, abs(corr[j]))
    scale = 1.0 if top <= l1 else l1 / top
    penalty = l1 * _l1_norm(x)
    if ls:
        rr, xx, bb = _vdot(state, state), _vdot(x, x), _vdot(b, b)
        diff = b - scale * state
        primal = 0.5 * rr + 0.5 * l2 * xx + penalty
        dual = 0.5 * bb - 0.5 * _vdot(diff, diff) - 0.5 * l2 * scale * scale * xx
    else:
        terms = np.empty(n)
        for i in range(n):
            terms[i] = _log1pexp(-b[i] * state[i])
        primal = _sum(terms) + penalty
        for i in range(n):
            t = scale * theta[i]
            terms[i] = _xlogx(t) + _xlogx(1.0 - t)
        dual = -_sum(terms)
    return primal - dual, primal, scale


@njit(cache=True)
def _working_set(x, alive, corr, col_norm, l1, gap, scale, ls, p0, ws_size, screening):
    """Screen (gap-safe sphere) and pick the working set: the support, then the columns nearest their bound."""
    p = x.shape[0]
    radius = np.sqrt(2.0 * max(gap, 0.0)) if ls else np.sqrt(max(gap, 0.0) / 2.0)
    cols = np.empty(p, dtype=np.int64)
    priority = np.empty(p)
    count, support, worst = 0, 0, 0.0
    for j in range(p):
        if not alive[j]:
            continue
        grad = -corr[j]
        dual_corr = abs(grad) * scale
        if screening and x[j] == 0.0 and dual_corr + radius * col_norm[j] < l1:
            alive[j] = False
            continue
        worst = max(worst, _kkt(grad, x[j], l1))
        cols[count] = j
        if x[j] != 0.0:
            priority[count] = -np.inf
            support += 1
        else:
            priority[count] = (l1 - dual_corr) / col_norm[j]
        count += 1
    size = min(count, max(p0, 2 * support, ws_size))
    if size == count:
        return cols[:count].copy(), worst
    threshold = np.partition(priority[:count], size - 1)[size - 1]
    ws = np.empty(size, dtype=np.int64)
    k = 0
    for i in range(count):  # strictly below the threshold first, then ties, in column order
        if priority[i] < threshold:
            ws[k] = cols[i]
            k += 1
    for i in range(count):
        if k == size:
            break
        if priority[i] == threshold:
            ws[k] = cols[i]
            k += 1
    ws.sort()
    return ws, worst


@njit(cache=True)
def ws_round(data, indices, indptr, b, x, state, alive, corr, sq, col_norm, l1, l2, gap, scale, ls, p0, ws_size, opts):
    """Screening, working-set choice and the working-set solve to 0.3 times the KKT violation; (ws size, epochs).

    opts = (max_epochs, anderson, screening, gram) with gram 1 = auto, 2 = on, 0 = off.
    """
    max_epochs, anderson, screening, gram = opts
    ws, worst = _working_set(x, alive, corr, col_norm, l1, gap, scale, ls, p0, ws_size, screening != 0)
    m, n = ws.shape[0], b.shape[0]
    dense = indices is None
    use_gram = dense and m <= GRAM_MAX and (gram == 2 or (gram == 1 and m <= n))
    tol = 0.3 * worst
    if use_gram:
        Aw = np.empty((m, n))
        for k in range(m):
            Aw[k] = data[indptr[ws[k]] : indptr[ws[k] + 1]]
        if ls:
            return m, lasso_gram(Aw, ws, x, state, l1, l2, tol, max_epochs, anderson)
        return m, logistic_gram(Aw, b, ws, x, state, l1, tol, max_epochs)
    if ls:
        return m, lasso_ws(data, indices, indptr, b, ws, x, state, sq, l1, l2, tol, max_epochs, anderson)
    return m, logistic_ws(data, indices, indptr, b, ws, x, state, l1, tol, max_epochs, anderson)


@njit(cache=True)
def _anderson(last, K):
    """Weights c (summing to 1) of the Anderson extrapolation sum_k c_k last[k + 1] from K + 1 iterates."""
    U = np.empty((K, last.shape[1]))
    for k in range(K):
        U[k] = last[k + 1] - last[k]
    C = U @ U.T
    C += 1e-10 * np.trace(C) * np.eye(K) + 1e-300 * np.eye(K)
    z = np.linalg.solve(C, np.ones(K))
    return z / z.sum()


@njit(cache=True)
def _mix(c, last):
    """The extrapolated point sum_k c_k last[k + 1] of the Anderson weights ``c``."""
    out = np.zeros(last.shape[1])
    for k in range(c.shape[0]):
        out += c[k] * last[k + 1]
    return out


@njit(cache=True)
def _ls_epoch(data, indices, indptr, ws, x, r, lips, l1, l2, full):
    """One cyclic CD epoch on the working set, or (``full`` False) on its nonzero coordinates only (r = b - Ax kept
    exact); returns the largest KKT violation seen."""
    worst = 0.0
    for j in ws:
        if lips[j] == 0.0 or not (full or x[j] != 0.0):
            continue
        old = x[j]
        corr = _dot(data, indices, indptr, j, r)
        worst = max(worst, _kkt(-corr + l2 * old, old, l1))
        new = _soft(corr + lips[j] * old, l1) / (lips[j] + l2)
        if new != old:
            x[j] = new
            _axpy(data, indices, indptr, j, old - new, r)
    return worst


@njit(cache=True)
def _ls_primal(r, x, ws, l1, l2):
    s = 0.5 * _vdot(r, r)
    for j in ws:
        s += l1 * abs(x[j]) + 0.5 * l2 * x[j] * x[j]
    return s


@njit(cache=True)
def lasso_ws(data, indices, indptr, b, ws, x, r, lips, l1, l2, tol, max_epochs, anderson):
    """CD epochs on ``ws`` until a full epoch's KKT violation is <= tol, with Anderson extrapolation every K epochs.

    After a full epoch that does not converge, epochs sweep only the nonzero coordinates until they settle, then a
    full epoch confirms (or brings in new coordinates): on a wide working set with a small support most epochs
    cost O(nnz of the support). Returns the number of epochs run. x and r are updated in place.
    """
    m = ws.shape[0]
    K = ANDERSON_K
    last = np.empty((K + 1, m))
    stored = 0
    r_try = np.empty_like(r)
    x_old = np.empty(m)
    full = True
    for epoch in range(max_epochs):
        worst = _ls_epoch(data, indices, indptr, ws, x, r, lips, l1, l2, full)
        settled = worst <= tol
        if settled and full:
            return epoch + 1
        full = settled  # the support settled: confirm with a full epoch; else keep to the support
        if settled or not anderson:
            continue
        for i in range(m):
            last[stored, i] = x[ws[i]]
        stored += 1
        if stored == K + 1:
            stored = 0
            x_acc = _mix(_anderson(last, K), last)
            r_try[:] = b
            for i in range(m):
                if x_acc[i] != 0.0:
                    _axpy(data, indices, indptr, ws[i], -x_acc[i], r_try)
            current = _ls_primal(r, x, ws, l1, l2)
            for i in range(m):
                x_old[i] = x[ws[i]]
                x[ws[i]] = x_acc[i]
            if _ls_primal(r_try, x, ws, l1, l2) < current:
                r[:] = r_try
            else:
                for i in range(m):
                    x[ws[i]] = x_old[i]
    return max_epochs


@njit(cache=True)
def _gram_value(G, c0, rr0, d, xs, l1, l2):
    """1/2 ||r0 - A_w d||^2 + penalties at xs, from the Gram matrix (d = xs - xs at the start)."""
    Gd = G @ d
    s = 0.5 * (rr0 - 2.0 * _vdot(d, c0) + _vdot(d, Gd))
    for k in range(xs.shape[0]):
        s += l1 * abs(xs[k]) + 0.5 * l2 * xs[k] * xs[k]
    return s


@njit(cache=True)
def lasso_gram(Aw, ws, x, r, l1, l2, tol, max_epochs, anderson):
    """``lasso_ws`` on the Gram matrix G = A_w'A_w of the working set (rows of Aw are its columns of A).

    The correlations c = A_w'r are updated by columns of G (O(m) a coordinate); r is recomputed once at the end.
    """
    m = ws.shape[0]
    G = Aw @ Aw.T
    c0 = Aw @ r
    c = c0.copy()
    rr0 = _vdot(r, r)
    x0 = np.empty(m)
    for k in range(m):
        x0[k] = x[ws[k]]
    xs = x0.copy()
    K = ANDERSON_K
    last = np.empty((K + 1, m))
    stored = 0
    epochs = max_epochs
    for epoch in range(max_epochs):
        worst = 0.0
        for k in range(m):
            L = G[k, k]
            if L == 0.0:
                continue
            old = xs[k]
            worst = max(worst, _kkt(-c[k] + l2 * old, old, l1))
            new = _soft(c[k] + L * old, l1) / (L + l2)
            if new != old:
                xs[k] = new
                delta = new - old
                for i in range(m):
                    c[i] -= delta * G[k, i]
        if worst <= tol:
            epochs = epoch + 1
            break
        if not anderson:
            continue
        last[stored] = xs
        stored += 1
        if stored == K + 1:
            stored = 0
            x_acc = _mix(_anderson(last, K), last)
            if _gram_value(G, c0, rr0, x_acc - x0, x_acc, l1, l2) < _gram_value(G, c0, rr0, xs - x0, xs, l1, l2):
                xs[:] = x_acc
                c[:] = c0 - G @ (xs - x0)
    d = xs - x0
    r -= Aw.T @ d
    for k in range(m):
        x[ws[k]] = xs[k]
    return epochs


@njit(cache=True)
def _newton_weights(y, z, dz, w):
    """dz = d loss / dz and w = its curvature (floored at 1e-12) at the predictor z."""
    for i in range(z.shape[0]):
        s = _sigmoid(-y[i] * z[i])
        dz[i] = -y[i] * s
        w[i] = max(s * (1.0 - s), 1e-12)


@njit(cache=True)
def _line_search(y, ws, x, z, delta, Xd, l1):
    """Backtrack x_ws += t delta from t = 1 until the objective decreases; updates x and z. False if none does.

    The change of each loss term is computed as log1p(sigmoid(-y z) expm1(-y t Xd)), without cancellation, so
    decreases far below the rounding error of the objective itself are still seen (the gap keeps shrinking).
    """
    n, m = z.shape[0], ws.shape[0]
    theta = np.empty(n)
    for i in range(n):
        theta[i] = _sigmoid(-y[i] * z[i])
    terms = np.empty(n)
    t = 1.0
    for _ in range(30):
        for i in range(n):
            terms[i] = np.log1p(theta[i] * np.expm1(-y[i] * t * Xd[i]))
        change = _sum(terms)
        for k in range(m):
            xk = x[ws[k]]
            change += l1 * (abs(xk + t * delta[k]) - abs(xk))
        if change < 0.0:
            for k in range(m):
                x[ws[k]] += t * delta[k]
            for i in range(n):
                z[i] += t * Xd[i]
            return True
        t *= 0.5
    return False


@njit(cache=True)
def _model_value(dz, w, Xd, x, ws, delta, l1):
    """The proximal-Newton model dz . Xd + 1/2 sum w Xd^2 + l1 ||x_ws + delta||_1 (constant terms dropped)."""
    s = 0.0
    for start in range(0, Xd.shape[0], 256):
        part = 0.0
        for i in range(start, min(start + 256, Xd.shape[0])):
            part += Xd[i] * (dz[i] + 0.5 * w[i] * Xd[i])
        s += part
    for k in range(ws.shape[0]):
        s += l1 * abs(x[ws[k]] + delta[k])
    return s


@njit(cache=True)
def _extrapolate_step(last, last_Xd, K, dz, w, x, ws, l1, delta, Xd):
    """Replace (delta, Xd) by their Anderson extrapolation from the stored epochs when it lowers the model."""
    c = _anderson(last, K)
    d_acc, X_acc = _mix(c, last), _mix(c, last_Xd)
    if _model_value(dz, w, X_acc, x, ws, d_acc, l1) < _model_value(dz, w, Xd, x, ws, delta, l1):
        delta[:] = d_acc
        Xd[:] = X_acc


@njit(cache=True)
def logistic_ws(data, indices, indptr, y, ws, x, z, l1, tol, max_newton, anderson):
    """Proximal Newton on ``ws`` for sum log(1 + exp(-y z)) + l1 ||x||_1 (z = Ax kept exact).

    Each Newton step solves the L1-regularised quadratic model by cyclic CD (with Anderson extrapolation of the
    step every K + 1 epochs when ``anderson``), then backtracks on the objective.
    Stops when the KKT violation on ws is <= tol; returns the number of CD epochs run.
    """
    n = z.shape[0]
    m = ws.shape[0]
    w = np.empty(n)
    dz = np.empty(n)
    h = np.empty(m)
    delta = np.zeros(m)
    Xd = np.zeros(n)
    K = ANDERSON_K
    last = np.empty((K + 1, m))
    last_Xd = np.empty((K + 1, n))
    epochs = 0
    for _ in range(max_newton):
        _newton_weights(y, z, dz, w)
        worst = 0.0
        for k in range(m):
            j = ws[k]
            g, h[k] = _grad_curv(data, indices, indptr, j, dz, w)
            worst = max(worst, _kkt(g, x[j], l1))
        if worst <= tol:
            return epochs
        delta[:] = 0.0
        Xd[:] = 0.0
        inner_tol = 0.3 * worst
        full = True  # alternate: sweeps over the coordinates that are nonzero, then one full sweep to confirm
        stored = 0
        for _inner in range(MAX_INNER):
            epochs += 1
            change = 0.0
            for k in range(m):
                if h[k] == 0.0 or not (full or x[ws[k]] + delta[k] != 0.0):
                    continue
                j = ws[k]
                g = _dot_sum(data, indices, indptr, j, dz, w, Xd)
                cur = x[j] + delta[k]
                change = max(change, _kkt(g, cur, l1))
                new = _soft(cur - g / h[k], l1 / h[k])
                step = new - cur
                if step != 0.0:
                    delta[k] += step
                    _axpy(data, indices, indptr, j, step, Xd)
            settled = change <= inner_tol
            if settled and full:
                break
            full = settled
            if anderson:
                last[stored] = delta
                last_Xd[stored] = Xd
                stored += 1
                if stored == K + 1:
                    stored = 0
                    _extrapolate_step(last, last_Xd, K, dz, w, x, ws, l1, delta, Xd)
        if not _line_search(y, ws, x, z, delta, Xd, l1):
            return epochs
    return epochs


@njit(cache=True)
def logistic_gram(Aw, y, ws, x, z, l1, tol, max_newton):
    """``logistic_ws`` with each Newton model's Hessian H = A_w' diag(w) A_w formed by BLAS: CD epochs cost O(m^2)."""
    n, m = z.shape[0], ws.shape[0]
    w = np.empty(n)
    dz = np.empty(n)
    B = np.empty((m, n))
    delta = np.empty(m)
    epochs = 0
    for _ in range(max_newton):
        _newton_weights(y, z, dz, w)
        g = Aw @ dz
        worst = 0.0
        for k in range(m):
            worst = max(worst, _kkt(g[k], x[ws[k]], l1))
        if worst <= tol:
            return epochs
        root = np.sqrt(w)
        for k in range(m):
            for i in range(n):
                B[k, i] = Aw[k, i] * root[i]
        H = B @ B.T
        u = g.copy()  # gradient of the quadratic model at delta
        delta[:] = 0.0
        inner_tol = 0.3 * worst
        for _inner in range(MAX_INNER):
            epochs += 1
            change = 0.0
            for k in range(m):
                hk = H[k, k]
                if hk == 0.0:
                    continue
                cur = x[ws[k]] + delta[k]
                change = max(change, _kkt(u[k], cur, l1))
                step = _soft(cur - u[k] / hk, l1 / hk) - cur
                if step != 0.0:
                    delta[k] += step
                    for i in range(m):
                        u[i] += step * H[k, i]
            if change <= inner_tol:
                break
        if not _line_search(y, ws, x, z, delta, Aw.T @ delta, l1):
            return epochs
    return epochs
