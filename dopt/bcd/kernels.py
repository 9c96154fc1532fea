"""Numba kernels of bcd.greedy: forest blocks, message passing on trees, the L1 block subproblem."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _find(parent: np.ndarray, v: int) -> int:
    root = v
    while parent[root] != root:
        root = parent[root]
    while parent[v] != root:  # path compression
        nxt = parent[v]
        parent[v] = root
        v = nxt
    return root


@njit(cache=True)
def forest_partition(indptr: np.ndarray, indices: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Label each node with a forest so that every label's nodes induce a forest of the graph.

    Nodes are visited in ``order``; each joins the first forest in which its
    neighbours already there lie in distinct trees (greedy forest packing).
    """
    n = order.shape[0]
    label = np.full(n, -1, np.int64)
    parent = np.arange(n)
    roots = np.empty(n, np.int64)
    for v in order:
        k = 0
        while True:
            count = 0
            ok = True
            for e in range(indptr[v], indptr[v + 1]):
                u = indices[e]
                if u != v and label[u] == k:
                    r = _find(parent, u)
                    for t in range(count):
                        if roots[t] == r:
                            ok = False
                            break
                    if not ok:
                        break
                    roots[count] = r
                    count += 1
            if ok:
                label[v] = k
                for t in range(count):
                    parent[roots[t]] = v
                break
            k += 1
    return label


@njit(cache=True)
def greedy_forest(indptr: np.ndarray, indices: np.ndarray, order: np.ndarray, limit: int) -> np.ndarray:
    """A maximal induced forest grown in ``order`` (best first), at most ``limit`` nodes; returns its nodes."""
    n = order.shape[0]
    inside = np.zeros(n, np.bool_)
    parent = np.arange(n)
    roots = np.empty(n, np.int64)
    chosen = np.empty(min(n, limit), np.int64)
    size = 0
    for v in order:
        if size >= limit:
            break
        count = 0
        ok = True
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            if u != v and inside[u]:
                r = _find(parent, u)
                for t in range(count):
                    if roots[t] == r:
                        ok = False
                        break
                if not ok:
                    break
                roots[count] = r
                count += 1
        if ok:
            inside[v] = True
            for t in range(count):
                parent[roots[t]] = v
            chosen[size] = v
            size += 1
    return chosen[:size]


@njit(cache=True)
def tree_solve(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, nodes: np.ndarray, rhs: np.ndarray, pos: np.ndarray
) -> np.ndarray:
    """Solve Q[b, b] d = rhs in O(|b|) when the graph of Q[b, b] is a forest (Gaussian elimination leaf to root).

    ``pos`` is a length-p scratch array of -1 (restored on return); rhs is |b| x K.
    """
    m = nodes.shape[0]
    K = rhs.shape[1]
    for i in range(m):
        pos[nodes[i]] = i
    diag = np.zeros(m)
    par = np.full(m, -1, np.int64)
    coef = np.zeros(m)  # Q[v, parent(v)]
    seen = np.zeros(m, np.bool_)
    order = np.empty(m, np.int64)
    head = 0
    tail = 0
    for i in range(m):
        v = nodes[i]
        for e in range(indptr[v], indptr[v + 1]):
            if indices[e] == v:
                diag[i] += data[e]
    for s in range(m):
        if seen[s]:
            continue
        seen[s] = True
        order[tail] = s
        tail += 1
        while head < tail:
            i = order[head]
            head += 1
            v = nodes[i]
            for e in range(indptr[v], indptr[v + 1]):
                j = pos[indices[e]]
                if j >= 0 and j != i and not seen[j]:
                    seen[j] = True
                    par[j] = i
                    coef[j] = data[e]
                    order[tail] = j
                    tail += 1
    work = rhs.copy()
    for t in range(m - 1, -1, -1):  # eliminate leaves into their parents
        i = order[t]
        pa = par[i]
        if pa >= 0:
            ratio = coef[i] / diag[i]
            diag[pa] -= ratio * coef[i]
            for k in range(K):
                work[pa, k] -= ratio * work[i, k]
    out = np.empty_like(work)
    for t in range(m):  # substitute back from the roots
        i = order[t]
        pa = par[i]
        for k in range(K):
            val = work[i, k]
            if pa >= 0:
                val -= coef[i] * out[pa, k]
            out[i, k] = val / diag[i]
    for i in range(m):
        pos[nodes[i]] = -1
    return out


@njit(cache=True)
def block_lasso(H: np.ndarray, g: np.ndarray, x: np.ndarray, l1: float, max_sweeps: int, tol: float) -> np.ndarray:
    """argmin_d g'd + 1/2 d'Hd + l1 ||x + d||_1 column by column, by cyclic coordinate descent (H is |b| x |b|)."""
    m, K = g.shape
    d = np.zeros((m, K))
    for k in range(K):
        hd = np.zeros(m)
        for _ in range(max_sweeps):
            change = 0.0
            for i in range(m):
                hii = H[i, i]
                if hii <= 0:
                    continue
                old = x[i, k] + d[i, k]
                u = old - (g[i, k] + hd[i]) / hii
                thr = l1 / hii
                new = u - thr if u > thr else (u + thr if u < -thr else 0.0)
                delta = new - old
                if delta != 0.0:
                    d[i, k] += delta
                    for j in range(m):
                        hd[j] += H[j, i] * delta
                    change = max(change, abs(delta))
            if change <= tol:
                break
    return d
