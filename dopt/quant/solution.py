"""Turning a method's quantized matrix into a Result: objective, relative errors, codes and grids."""

from __future__ import annotations

from typing import Any

import numpy as np

from dopt.core.context import SolveContext
from dopt.core.result import Result
from dopt.quant.grid import Grid
from dopt.quant.problem import QuantProblem


def finish(
    problem: QuantProblem,
    ctx: SolveContext,
    Q: np.ndarray,
    grid: Grid,
    *,
    status: str,
    iterations: int,
    extras: dict[str, Any] | None = None,
    outliers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Result:
    """The Result of quantized weights ``Q`` on ``grid`` (plus full-precision ``outliers`` (rows, cols, values)).

    ``x`` is the dequantized matrix Ŵ (+ H); ``extras`` gain the relative
    error (and the held-out one), the integer ``codes`` (q × p), the grid's
    ``scale``, ``zero`` and column groups ``gidx``, and the outliers.
    """
    x = Q.copy()
    info: dict[str, Any] = dict(extras or {})
    if outliers is not None:
        rows, cols, values = outliers
        x[rows, cols] += values
        info.update(outlier_rows=rows, outlier_cols=cols, outlier_values=values)
    objective = problem.objective(x)
    ctx.report(iterations, objective, x)
    info["relative_error"] = objective / problem.reference if problem.reference > 0 else objective
    heldout = problem.heldout_relative_error(x)
    if heldout is not None:
        info["heldout_relative_error"] = heldout
    info["codes"] = grid.codes(Q).astype(np.uint8)
    info.update(grid.as_dict())
    return Result(x, objective, status, "", ctx.device, iterations=iterations, extras=info)
