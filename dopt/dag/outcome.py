"""The Result every dag method returns: a thresholded DAG, its objective, and its accuracy when the truth is known."""

from __future__ import annotations

from typing import Any

import numpy as np

from dopt.core.context import SolveContext
from dopt.core.result import Result
from dopt.dag import graph
from dopt.dag.problem import DAGProblem


def finish(
    problem: DAGProblem,
    W: np.ndarray,
    search_score: float,
    status: str,
    method: str,
    ctx: SolveContext,
    iterations: int,
    order: np.ndarray | None = None,
    extras: dict[str, Any] | None = None,
) -> Result:
    """The Result of a dag method: thresholded W (a DAG), its objective, and the accuracy when a true graph is known."""
    x = problem.threshold(W)
    if not graph.is_dag(x):
        x = graph.threshold_to_dag(x)
    assert graph.is_dag(x), "every returned W is a DAG"
    info: dict[str, Any] = {"search_score": float(search_score), "refit_score": problem.refit_l2_score(x)}
    if order is not None:
        info["order"] = np.asarray(order, dtype=np.int64)
    info.update(problem.accuracy(x))
    info.update(extras or {})
    return Result(
        x=x,
        objective=problem.objective(x),
        status=status,
        method=method,
        device=ctx.device,
        iterations=iterations,
        extras=info,
    )
