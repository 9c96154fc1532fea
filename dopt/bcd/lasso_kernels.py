"""Numba kernels of bcd.lasso: correlations, Lasso CD epochs with Anderson extrapolation, L1-logistic prox-Newton.

A is CSC (data, indices, indptr); dense inputs are passed as CSC with a full pattern.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ANDERSON_K = 5


@njit(cache=True)
def _soft(u: float, t: float) -> float:
    if u > t:
        return u - t
    if u < -t:
        return u + t
    return 0.0


@njit(cache=True)
def _dot(data, indices, indptr, j, v):
    s = 0.0
    for e in range(indptr[j], indptr[j + 1]):
        s += data[e] * v[indices[e]]
    return s


@njit(cache=True)
def correlations(data, indices, indptr, cols, v, out):
    """out[j] = a_j . v for j in cols (others untouched)."""
    for j in cols:
        out[j] = _dot(data, indices, indptr, j, v)


@njit(cache=True)
def _kkt(grad: float, xj: float, l1: float) -> float:
    if xj != 0.0:
        return abs(grad + (l1 if xj > 0 else -l1))
    return max(abs(grad) - l1, 0.0)


@njit(cache=True)
def _ls_epoch(data, indices, indptr, ws, x, r, lips, l1, l2):
    """One cyclic CD epoch on the working set (r = b - Ax kept exact); returns the largest KKT violation seen."""
    worst = 0.0
    for j in ws:
        if lips[j] == 0.0:
            continue
        old = x[j]
        corr = _dot(data, indices, indptr, j, r)
        worst = max(worst, _kkt(-corr + l2 * old, old, l1))
        new = _soft(corr + lips[j] * old, l1) / (lips[j] + l2)
        if new != old:
            delta = new - old
            x[j] = new
            for e in range(indptr[j], indptr[j + 1]):
                r[indices[e]] -= data[e] * delta
    return worst


@njit(cache=True)
def _ls_primal(r, x, ws, l1, l2):
    s = 0.5 * np.dot(r, r)
    for j in ws:
        s += l1 * abs(x[j]) + 0.5 * l2 * x[j] * x[j]
    return s


@njit(cache=True)
def lasso_ws(data, indices, indptr, b, ws, x, r, lips, l1, l2, tol, max_epochs, anderson):
    """CD epochs on ``ws`` until the KKT violation of an epoch is <= tol, with Anderson extrapolation every K epochs.

    Returns the number of epochs run. x and r are updated in place.
    """
    m = ws.shape[0]
    K = ANDERSON_K
    last = np.empty((K + 1, m))
    stored = 0
    r_try = np.empty_like(r)
    for epoch in range(max_epochs):
        worst = _ls_epoch(data, indices, indptr, ws, x, r, lips, l1, l2)
        if worst <= tol:
            return epoch + 1
        if not anderson:
            continue
        for i in range(m):
            last[stored, i] = x[ws[i]]
        stored += 1
        if stored == K + 1:
            stored = 0
            U = np.empty((K, m))
            for k in range(K):
                U[k] = last[k + 1] - last[k]
            C = U @ U.T
            C += 1e-10 * np.trace(C) * np.eye(K) + 1e-300 * np.eye(K)
            z = np.linalg.solve(C, np.ones(K))
            c = z / z.sum()
            x_acc = np.zeros(m)
            for k in range(K):
                x_acc += c[k] * last[k + 1]
            r_try[:] = b
            for i in range(m):
                j = ws[i]
                if x_acc[i] != 0.0:
                    for e in range(indptr[j], indptr[j + 1]):
                        r_try[indices[e]] -= data[e] * x_acc[i]
            current = _ls_primal(r, x, ws, l1, l2)
            x_old = np.empty(m)
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
def _logistic_primal(z, y, x, ws, l1):
    s = 0.0
    for i in range(z.shape[0]):
        s += _log1pexp(-y[i] * z[i])
    for j in ws:
        s += l1 * abs(x[j])
    return s


@njit(cache=True)
def logistic_ws(data, indices, indptr, y, ws, x, z, l1, tol, max_newton, max_inner):
    """Proximal Newton on ``ws`` for sum log(1 + exp(-y z)) + l1 ||x||_1 (z = Ax kept exact).

    Each Newton step solves the L1-regularised quadratic model by cyclic CD, then backtracks on the objective.
    Stops when the KKT violation on ws is <= tol; returns the number of CD epochs run.
    """
    n = z.shape[0]
    m = ws.shape[0]
    w = np.empty(n)
    dz = np.empty(n)
    h = np.empty(m)
    delta = np.zeros(m)
    Xd = np.zeros(n)
    epochs = 0
    for _ in range(max_newton):
        for i in range(n):
            s = _sigmoid(-y[i] * z[i])
            dz[i] = -y[i] * s
            w[i] = max(s * (1.0 - s), 1e-12)
        worst = 0.0
        for k in range(m):
            j = ws[k]
            g = 0.0
            hh = 0.0
            for e in range(indptr[j], indptr[j + 1]):
                g += data[e] * dz[indices[e]]
                hh += data[e] * data[e] * w[indices[e]]
            h[k] = hh
            worst = max(worst, _kkt(g, x[j], l1))
        if worst <= tol:
            return epochs
        delta[:] = 0.0
        Xd[:] = 0.0
        inner_tol = 0.3 * worst
        full = True  # alternate: sweeps over the coordinates that are nonzero, then one full sweep to confirm
        for _inner in range(max_inner):
            epochs += 1
            change = 0.0
            for k in range(m):
                if h[k] == 0.0 or not (full or x[ws[k]] + delta[k] != 0.0):
                    continue
                j = ws[k]
                g = 0.0
                for e in range(indptr[j], indptr[j + 1]):
                    i = indices[e]
                    g += data[e] * (dz[i] + w[i] * Xd[i])
                cur = x[j] + delta[k]
                change = max(change, _kkt(g, cur, l1))
                new = _soft(cur - g / h[k], l1 / h[k])
                step = new - cur
                if step != 0.0:
                    delta[k] += step
                    for e in range(indptr[j], indptr[j + 1]):
                        Xd[indices[e]] += data[e] * step
            if change <= inner_tol:
                if full:
                    break
                full = True
            else:
                full = False
        f0 = _logistic_primal(z, y, x, ws, l1)
        x0 = np.empty(m)
        for k in range(m):
            x0[k] = x[ws[k]]
        t = 1.0
        for _ls in range(30):
            for k in range(m):
                x[ws[k]] = x0[k] + t * delta[k]
            s = 0.0
            for i in range(n):
                s += _log1pexp(-y[i] * (z[i] + t * Xd[i]))
            for k in range(m):
                s += l1 * abs(x[ws[k]])
            if s < f0:
                break
            t *= 0.5
        else:
            for k in range(m):
                x[ws[k]] = x0[k]
            return epochs
        for i in range(n):
            z[i] += t * Xd[i]
    return epochs
