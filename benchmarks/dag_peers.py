"""The dag benchmark's instances and runners: dopt's methods and dagma's DagmaLinear, scored the same way."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import time
from typing import Any

import numpy as np

import dopt
from dopt.dag import DAGProblem
from dopt.dag.simulate import simulated_problem

GRAPHS = (("ER", 2), ("SF", 4))


def instance(graph: str, degree: int, d: int, n: int = 1000, seed: int = 0) -> DAGProblem:
    """A simulated linear-Gaussian equal-variance SEM with its true graph."""
    return simulated_problem(d, n, graph=graph, degree=degree, seed=seed)


def dagma_available() -> bool:
    return importlib.util.find_spec("dagma") is not None


def run_dagma(problem: DAGProblem, lambda1: float = 0.02) -> tuple[np.ndarray, float]:
    """DagmaLinear (l2 loss, its documented defaults except lambda1) on a copy of the data; (W, seconds)."""
    from dagma.linear import DagmaLinear

    X = problem.data.copy()  # dagma centres X in place
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bar
        W = DagmaLinear(loss_type="l2").fit(X, lambda1=lambda1, w_threshold=problem.w_threshold)
    return np.asarray(W, dtype=np.float64), time.perf_counter() - start


def run_dopt(problem: DAGProblem, method: str, **options: Any) -> tuple[np.ndarray, float, str]:
    """(W, seconds, status) of one dopt method."""
    result = dopt.solve(problem, method, **options)
    return result.x, result.wall_time, result.status


def row(problem: DAGProblem, method: str, W: np.ndarray, seconds: float, status: str = "") -> dict[str, Any]:
    """The table row of one method: the l2 score after a least-squares refit on W's edges, SHD, TPR, FDR, time."""
    acc = problem.accuracy(W)
    return {
        "instance": problem.name,
        "method": method,
        "score": problem.refit_l2_score(W),
        "shd": acc["shd"],
        "tpr": acc["tpr"],
        "fdr": acc["fdr"],
        "edges": acc["nnz"],
        "seconds": seconds,
        "dag": bool(dopt.dag.is_dag(W)),
        "status": status,
    }
