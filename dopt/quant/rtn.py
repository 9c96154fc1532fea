"""``quant.rtn``: round every weight to the nearest point of its grid (the data-free baseline)."""

from __future__ import annotations

from dataclasses import dataclass

from dopt.core.context import SolveContext
from dopt.core.registry import register_method
from dopt.core.result import Result
from dopt.quant.problem import QuantProblem
from dopt.quant.solution import finish


@dataclass(frozen=True)
class RTNOptions:
    """quant.rtn has no options."""


@register_method("quant.rtn", kind="quant", options=RTNOptions, summary="round to nearest on the grid (baseline)")
def solve_rtn(problem: QuantProblem, opts: RTNOptions, ctx: SolveContext) -> Result:
    """Round W to its grid."""
    grid = problem.grid
    return finish(problem, ctx, grid.quantize(problem.W), grid, status="converged", iterations=1)
