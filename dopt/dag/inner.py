"""Inner problems of an order: each node regressed on its predecessors.

The unpenalised l2 score has a closed form through one Cholesky factor
(:mod:`dopt.dag.kernels`); an L1 weight or the logistic score are solved per node
by coordinate descent (Lasso on the covariance, majorised CD for logistic),
warm-started from the current coefficients. All kernels index nodes, so a
node's predecessor set is an index array and nothing is copied per fit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from dopt.dag.kernels import cholesky_psd

CD_TOL = 1e-10  # stop when the largest coefficient change times its curvature falls below this
CD_MAX_SWEEPS = 5000


@njit(cache=True)
def position_coefficients(Lf: np.ndarray) -> np.ndarray:
    """B[p, k]: least-squares coefficient of position p in the regression of position k on positions < k."""
    d = Lf.shape[0]
    B = np.zeros((d, d))
    for k in range(1, d):
        for i in range(k - 1, -1, -1):
            if Lf[i, i] == 0.0:
                continue
            t = Lf[k, i]
            for j in range(i + 1, k):
                t -= Lf[j, i] * B[j, k]
            B[i, k] = t / Lf[i, i]
    return B


def l2_order_fit(cov: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(factor in position coordinates, W in node coordinates, score) of an order under the unpenalised l2 score."""
    Lf = cholesky_psd(np.ascontiguousarray(cov[np.ix_(order, order)]))
    B = position_coefficients(Lf)
    W = np.zeros_like(B)
    W[np.ix_(order, order)] = B
    return Lf, W, 0.5 * float(np.sum(np.diag(Lf) ** 2))


@njit(cache=True)
def _soft(x: float, t: float) -> float:
    if x > t:
        return x - t
    if x < -t:
        return x + t
    return 0.0


@njit(cache=True)
def lasso_node(cov: np.ndarray, pre: np.ndarray, k: int, beta: np.ndarray, lam: float) -> float:
    """min_b 0.5 (cov_kk - 2 b.c + b' G b) + lam |b|_1 over predecessors ``pre``; ``beta`` is updated in place."""
    p = pre.size
    grad = np.empty(p)  # G beta
    for i in range(p):
        s = 0.0
        for j in range(p):
            s += cov[pre[i], pre[j]] * beta[j]
        grad[i] = s
    for _ in range(CD_MAX_SWEEPS):
        biggest = 0.0
        for i in range(p):
            gii = cov[pre[i], pre[i]]
            if gii <= 0.0:
                continue
            old = beta[i]
            r = cov[pre[i], k] - (grad[i] - gii * old)
            new = _soft(r, lam) / gii
            if new != old:
                delta = new - old
                beta[i] = new
                for j in range(p):
                    grad[j] += cov[pre[j], pre[i]] * delta
                biggest = max(biggest, abs(delta) * math.sqrt(gii))
        if biggest <= CD_TOL:
            break
    value = cov[k, k]
    for i in range(p):
        value += beta[i] * (grad[i] - 2.0 * cov[pre[i], k])
    l1 = 0.0
    for i in range(p):
        l1 += abs(beta[i])
    return 0.5 * max(value, 0.0) + lam * l1


@njit(cache=True)
def logistic_node(X: np.ndarray, pre: np.ndarray, k: int, beta: np.ndarray, lam: float) -> float:
    """min_b 1/n sum(log(1 + e^z) - x_k z) + lam |b|_1 with z = X[:, pre] b, by majorised coordinate descent."""
    n = X.shape[0]
    p = pre.size
    z = np.zeros(n)
    for j in range(p):
        if beta[j] != 0.0:
            for s in range(n):
                z[s] += X[s, pre[j]] * beta[j]
    curv = np.empty(p)
    for j in range(p):
        t = 0.0
        for s in range(n):
            t += X[s, pre[j]] * X[s, pre[j]]
        curv[j] = 0.25 * t / n
    for _ in range(CD_MAX_SWEEPS):
        biggest = 0.0
        for j in range(p):
            if curv[j] <= 0.0:
                continue
            g = 0.0
            for s in range(n):
                g += X[s, pre[j]] * (0.5 * (1.0 + math.tanh(0.5 * z[s])) - X[s, k])
            g /= n
            old = beta[j]
            new = _soft(old - g / curv[j], lam / curv[j])
            if new != old:
                delta = new - old
                beta[j] = new
                for s in range(n):
                    z[s] += X[s, pre[j]] * delta
                biggest = max(biggest, abs(delta) * math.sqrt(curv[j]))
        if biggest <= 1e-8:
            break
    value = 0.0
    for s in range(n):
        zs = z[s]
        value += (zs if zs > 0 else 0.0) + math.log1p(math.exp(-abs(zs))) - X[s, k] * zs
    l1 = 0.0
    for j in range(p):
        l1 += abs(beta[j])
    return value / n + lam * l1


@njit(cache=True)
def fit_node(stat: np.ndarray, logistic: bool, pre: np.ndarray, k: int, W: np.ndarray, lam: float) -> tuple:
    """Fit node k on ``pre`` warm-started from column k of W; returns (loss, coefficients)."""
    beta = np.empty(pre.size)
    for i in range(pre.size):
        beta[i] = W[pre[i], k]
    if logistic:
        value = logistic_node(stat, pre, k, beta, lam)
    else:
        value = lasso_node(stat, pre, k, beta, lam)
    return value, beta


@njit(cache=True, parallel=True)
def fit_all(stat: np.ndarray, logistic: bool, order: np.ndarray, W: np.ndarray, lam: float) -> tuple:
    """Fit every node on its predecessors in ``order``; returns (W, loss of each position)."""
    d = order.size
    out = np.zeros((d, d))
    losses = np.empty(d)
    for t in prange(d):
        pre = order[:t].copy()
        value, beta = fit_node(stat, logistic, pre, order[t], W, lam)
        losses[t] = value
        for i in range(t):
            out[pre[i], order[t]] = beta[i]
    return out, losses


@njit(cache=True, parallel=True)
def generic_swap_deltas(
    stat: np.ndarray,
    logistic: bool,
    order: np.ndarray,
    W: np.ndarray,
    losses: np.ndarray,
    lam: float,
    pos_a: np.ndarray,
    pos_b: np.ndarray,
) -> np.ndarray:
    """Score change of each candidate swap, refitting only positions a..b warm-started from W."""
    m = pos_a.size
    out = np.empty(m)
    for c in prange(m):
        a, b = pos_a[c], pos_b[c]
        new_order = order.copy()
        new_order[a], new_order[b] = order[b], order[a]
        delta = 0.0
        for t in range(a, b + 1):
            value, _ = fit_node(stat, logistic, new_order[:t].copy(), new_order[t], W, lam)
            delta += value - losses[t]
        out[c] = delta
    return out
