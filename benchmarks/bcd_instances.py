"""Benchmark instances of the bcd family: the paper's synthetic problems (scaled), bundled and sparse data."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from dopt.bcd import BCDProblem
from dopt.bcd.bench import bundled, correlated_sparse  # noqa: F401  (shared with the dopt bench suite)


def paper_design(n: int, p: int, seed: int = 1) -> np.ndarray:
    """Dataset A's recipe: N(0,1) + 1 entries, columns scaled by 10 N(0,1), kept with probability 10 log(n) / n."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, p)) + 1.0
    A *= 10.0 * rng.normal(size=p)
    A *= rng.random((n, p)) < min(1.0, 10 * np.log(n) / n)
    return A


def paper_least_squares(n: int = 300, p: int = 600, seed: int = 1) -> BCDProblem:
    """Dataset A (scaled down): b = A x + e with x 10% nonzero."""
    rng = np.random.default_rng(seed + 100)
    A = paper_design(n, p, seed)
    x = rng.normal(size=p) * (rng.random(p) < 0.1)
    return BCDProblem(loss="least_squares", A=A, b=A @ x + rng.normal(size=n), name=f"paperA-{n}x{p}")


def paper_logistic(n: int = 300, p: int = 600, seed: int = 1, l2: float = 1.0) -> BCDProblem:
    """Dataset B (scaled down): b = sign(A x) with 10% flipped; l2 makes f* finite."""
    rng = np.random.default_rng(seed + 200)
    A = paper_design(n, p, seed)
    y = np.sign(A @ rng.normal(size=p))
    y[y == 0] = 1.0
    y[rng.random(n) < 0.1] *= -1
    return BCDProblem(loss="logistic", A=A / np.abs(A).max(), b=y, l2=l2, name=f"paperB-{n}x{p}")


def lattice_labels(side: int = 50, labelled: int = 100, weight: float = 1e5, seed: int = 1) -> BCDProblem:
    """Dataset D: label propagation on a side x side lattice, labels y ~ N(0, 100)."""
    rng = np.random.default_rng(seed)
    W = sp.csr_array(nx.to_scipy_sparse_array(nx.grid_2d_graph(side, side), format="csr"), dtype=np.float64)
    n = W.shape[0]
    mask = np.zeros(n)
    mask[rng.choice(n, labelled, replace=False)] = 1.0
    return BCDProblem(
        loss="label_propagation",
        W=W,
        b=10.0 * rng.normal(size=n) * mask,
        labelled=mask,
        label_weight=weight,
        name=f"lattice-{side}",
    )
