"""dmmv.round: solve the LP relaxation, then round each x_j to the nearest value of D_j.

The cheapest baseline with a certificate: the LP optimum is a valid lower
bound on the DMMV optimum, so the result says how far from optimal it can be.
"""

from __future__ import annotations

from dataclasses import dataclass

from dopt.core.context import SolveContext
from dopt.core.registry import register_method
from dopt.core.result import Result
from dopt.dmmv.problem import DMMVProblem
from dopt.dmmv.relax import lp_relaxation, round_to_domain


@dataclass(frozen=True)
class RoundOptions:
    """dmmv.round has no options."""


@register_method(
    "dmmv.round",
    kind="dmmv",
    options=RoundOptions,
    summary="LP relaxation rounded to the nearest domain values; returns the LP bound",
)
def run(problem: DMMVProblem, options: RoundOptions, ctx: SolveContext) -> Result:
    """Round the LP relaxation's point and recompute its objective."""
    lp = lp_relaxation(problem, time_limit=ctx.time_left())
    x = problem.value_of(round_to_domain(problem, lp.x))
    objective = problem.objective(x)
    ctx.report(1, objective, x, bound=lp.bound)
    status = "time_limit" if lp.status == "time_limit" else "converged"
    extras = {"bound": lp.bound, "relaxation_objective": problem.objective(lp.x), "lp_status": lp.status}
    return Result(x, objective, status, "dmmv.round", ctx.device, iterations=1, extras=extras)
