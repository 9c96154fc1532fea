"""Small completion instances and independent NumPy references for the completion tests."""

from __future__ import annotations

import numpy as np

from dopt.completion import CompletionProblem, low_rank


def exact_low_rank(m: int = 120, n: int = 90, rank: int = 3, density: float = 0.3, seed: int = 1):
    """A noiseless low-rank instance (lam = 0) and its full matrix."""
    problem, U, V = low_rank(m, n, rank, density, seed=seed)
    return problem, U @ V.T


def ridge_rows(ptr, idx, y, W, lam) -> np.ndarray:
    """Row-by-row ridge solutions by ``np.linalg.lstsq`` on the stacked system [A; sqrt(lam) I]."""
    d = W.shape[1]
    out = np.zeros((ptr.size - 1, d))
    for r in range(ptr.size - 1):
        sl = slice(ptr[r], ptr[r + 1])
        if ptr[r + 1] == ptr[r]:
            continue
        A = np.vstack([W[idx[sl]], np.sqrt(lam[r]) * np.eye(d)])
        b = np.concatenate([y[sl], np.zeros(d)])
        out[r] = np.linalg.lstsq(A, b, rcond=None)[0]
    return out


def row_sse(ptr, idx, y, W, X) -> np.ndarray:
    """Each row's squared error sum_t (y_t - W[idx_t] . X[r])^2, by a loop over rows."""
    return np.array(
        [np.sum((y[ptr[r] : ptr[r + 1]] - W[idx[ptr[r] : ptr[r + 1]]] @ X[r]) ** 2) for r in range(ptr.size - 1)]
    )


def dense_problem(
    m: int = 30, n: int = 20, rank: int = 3, seed: int = 2, **kwargs
) -> tuple[CompletionProblem, np.ndarray]:
    """Every entry of a full-rank random matrix observed: the best rank-k fit is its truncated SVD."""
    M = np.random.default_rng(seed).normal(size=(m, n))
    rows, cols = np.divmod(np.arange(m * n), n)
    return CompletionProblem(rows, cols, M.ravel(), shape=(m, n), rank=rank, **kwargs), M
