"""Simulators for tests, examples and benchmarks: random DAGs, edge weights and linear / logistic SEMs.

Graphs follow the NOTEARS naming: ``ER k`` has k * d edges placed uniformly at random (ER2: 2d
edges), ``SF k`` grows by preferential attachment with each new node pointing to k earlier
ones. Node labels are shuffled.
"""

from __future__ import annotations

from typing import Any, Literal

import networkx as nx
import numpy as np

from dopt.dag.problem import DAGProblem

GRAPHS = ("ER", "SF")
NOISES = ("gauss", "exp", "gumbel", "logistic")


def simulate_dag(d: int, degree: float, graph: Literal["ER", "SF"], rng: np.random.Generator) -> np.ndarray:
    """A random DAG as a 0/1 d x d matrix with about ``degree * d`` edges (B[i, j] = 1 means i -> j)."""
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    B = np.zeros((d, d))
    if graph == "ER":
        rows, cols = np.tril_indices(d, -1)
        edges = min(round(degree * d), rows.size)
        pick = rng.choice(rows.size, size=edges, replace=False)
        B[rows[pick], cols[pick]] = 1.0
    else:
        m = max(1, min(round(degree), d - 1))
        G = nx.barabasi_albert_graph(d, m, seed=int(rng.integers(2**31))) if d > m else nx.complete_graph(d)
        for u, v in G.edges():
            B[max(u, v), min(u, v)] = 1.0  # the newer node points to the older one
    perm = rng.permutation(d)
    return B[np.ix_(perm, perm)]


def simulate_weights(B: np.ndarray, rng: np.random.Generator, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    """Edge weights uniform in [-high, -low] U [low, high] on the edges of ``B``."""
    W = rng.uniform(low, high, size=B.shape) * rng.choice([-1.0, 1.0], size=B.shape)
    return np.where(B != 0, W, 0.0)


def simulate_sem(W: np.ndarray, n: int, noise: str, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """n samples of the linear SEM x = W^T x + e (``gauss``, ``exp``, ``gumbel``), or binary ``logistic`` data."""
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    from dopt.dag.graph import topological_order

    order = topological_order(W)
    if order is None:
        raise ValueError("W is not a DAG")
    X = np.zeros((n, W.shape[0]))
    for j in order:
        mean = X @ W[:, j]
        if noise == "gauss":
            X[:, j] = mean + scale * rng.normal(size=n)
        elif noise == "exp":
            X[:, j] = mean + rng.exponential(scale, size=n)
        elif noise == "gumbel":
            X[:, j] = mean + rng.gumbel(0.0, scale, size=n)
        else:
            X[:, j] = (rng.random(n) < 1.0 / (1.0 + np.exp(-mean))).astype(np.float64)
    return X


def simulate(
    d: int, n: int, *, graph: str = "ER", degree: float = 2.0, noise: str = "gauss", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(X, W_true): data of a random linear (or logistic) SEM on a random ER / SF DAG."""
    rng = np.random.default_rng(seed)
    W = simulate_weights(simulate_dag(d, degree, graph, rng), rng)  # type: ignore[arg-type]
    return simulate_sem(W, n, noise, rng), W


def simulated_problem(
    d: int, n: int, *, graph: str = "ER", degree: float = 2.0, noise: str = "gauss", seed: int = 0, **params: Any
) -> DAGProblem:
    """A DAGProblem of simulated data with its true graph (logistic score for logistic data)."""
    X, W = simulate(d, n, graph=graph, degree=degree, noise=noise, seed=seed)
    params.setdefault("score", "logistic" if noise == "logistic" else "l2")
    name = f"{graph}{degree:g}-d{d}-n{n}-{noise}-s{seed}"
    description = (
        f"Simulated linear SEM: {graph} DAG with {degree:g}d expected edges, d = {d}, n = {n}, "
        f"weights uniform in ±[0.5, 2], {noise} noise (dopt.dag.simulate, seed {seed})."
    )
    return DAGProblem(X=X, true_graph=W, name=name, description=description, **params)
