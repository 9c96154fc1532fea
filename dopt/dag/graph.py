"""Graph helpers for weighted adjacency matrices (W[i, j] != 0 means i -> j): acyclicity, orders, accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np


def support(W: Any, threshold: float = 0.0) -> np.ndarray:
    """Boolean adjacency of the entries of ``W`` with absolute value above ``threshold``."""
    return np.abs(np.asarray(W, dtype=np.float64)) > threshold


def topological_order(W: Any) -> np.ndarray | None:
    """A topological order of the graph of ``W`` (Kahn's algorithm), or None when it has a cycle."""
    B = support(W)
    d = B.shape[0]
    indegree = B.sum(axis=0).astype(np.int64)
    ready = [int(v) for v in np.flatnonzero(indegree == 0)]
    order: list[int] = []
    while ready:
        v = ready.pop()
        order.append(v)
        for child in np.flatnonzero(B[v]):
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(int(child))
    return np.array(order, dtype=np.int64) if len(order) == d else None


def is_dag(W: Any) -> bool:
    """True when the graph of ``W`` is a square matrix with no directed cycle (self-loops included)."""
    W = np.asarray(W)
    return W.ndim == 2 and W.shape[0] == W.shape[1] and topological_order(W) is not None


def order_mask(order: Any) -> np.ndarray:
    """Boolean d x d mask of the edges an order allows: i -> j when i comes before j."""
    order = np.asarray(order, dtype=np.int64)
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return position[:, None] < position[None, :]


def threshold_to_dag(W: Any) -> np.ndarray:
    """``W`` with its smallest entries zeroed until the graph is a DAG (for initialising from another method)."""
    W = np.array(W, dtype=np.float64)
    np.fill_diagonal(W, 0.0)
    rows, cols = np.nonzero(W)
    for k in np.argsort(np.abs(W[rows, cols]), kind="stable"):
        if is_dag(W):
            break
        W[rows[k], cols[k]] = 0.0
    return W


def accuracy(B_true: Any, W_est: Any) -> dict[str, float]:
    """SHD, TPR, FDR, FPR and edge count of an estimated graph against the true one.

    SHD counts missing, extra and reversed edges (a reversed edge counts once); TPR is the
    fraction of true edges found with the right direction, FDR the fraction of estimated
    edges that are extra or reversed, FPR the extra and reversed edges over the true non-edges.
    """
    true = support(B_true)
    est = support(W_est)
    d = true.shape[0]
    if est.shape != true.shape:
        raise ValueError(f"graphs of different shapes {est.shape} and {true.shape}")
    correct = int(np.count_nonzero(est & true))
    reversed_ = int(np.count_nonzero(est & ~true & true.T))
    extra = int(np.count_nonzero(est & ~true & ~true.T))
    n_est, n_true = int(est.sum()), int(true.sum())
    # the skeleton view counts a pair once: missing pairs, extra pairs, and pairs with the wrong direction
    skel_true, skel_est = np.triu(true | true.T, 1), np.triu(est | est.T, 1)
    missing_pairs = int(np.count_nonzero(skel_true & ~skel_est))
    extra_pairs = int(np.count_nonzero(skel_est & ~skel_true))
    shd = missing_pairs + extra_pairs + reversed_
    non_edges = d * (d - 1) / 2 - n_true
    return {
        "shd": float(shd),
        "tpr": correct / max(n_true, 1),
        "fdr": (reversed_ + extra) / max(n_est, 1),
        "fpr": (reversed_ + extra) / max(non_edges, 1),
        "nnz": float(n_est),
    }


def shd(B_true: Any, W_est: Any) -> int:
    """Structural Hamming distance: missing + extra + reversed edges."""
    return int(accuracy(B_true, W_est)["shd"])
