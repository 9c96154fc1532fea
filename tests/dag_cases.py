"""Reference computations for the dag tests, independent of dopt's kernels: per-node lstsq and exhaustive search."""

from __future__ import annotations

import itertools

import numpy as np

from dopt.dag import DAGProblem


def order_score_lstsq(X: np.ndarray, order: np.ndarray) -> float:
    """1/(2n) sum of squared residuals of each node regressed (lstsq) on its predecessors in ``order``."""
    n = X.shape[0]
    total = float(X[:, order[0]] @ X[:, order[0]])
    for k in range(1, len(order)):
        A, y = X[:, order[:k]], X[:, order[k]]
        coef = np.linalg.lstsq(A, y, rcond=None)[0]
        r = y - A @ coef
        total += float(r @ r)
    return total / (2 * n)


def exhaustive(problem: DAGProblem) -> dict[tuple[int, ...], float]:
    """The l2 score of every one of the d! orders."""
    X = problem.data
    return {p: order_score_lstsq(X, np.array(p)) for p in itertools.permutations(range(problem.d))}


def hard_instance(seed: int, d: int, n: int = 25) -> DAGProblem:
    """A small SEM with unequal noise scales and few samples, so the order landscape has several local optima."""
    rng = np.random.default_rng(seed)
    B = np.triu(rng.random((d, d)) < 0.5, 1)
    W = np.where(B, rng.uniform(0.5, 2.0, (d, d)) * rng.choice([-1, 1], (d, d)), 0.0)
    X = np.zeros((n, d))
    for j in range(d):
        X[:, j] = X @ W[:, j] + rng.uniform(0.3, 3.0) * rng.normal(size=n)
    perm = rng.permutation(d)
    return DAGProblem(X=X[:, perm], true_graph=W[np.ix_(perm, perm)], w_threshold=0.0, name=f"hard-{seed}")
