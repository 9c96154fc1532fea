"""dmmv.gurobi: the MILP of ``dmmv.milp`` solved by Gurobi (the DMMV paper's baseline).

The model is ``milp.formulate``'s, passed through gurobipy's matrix API, so
HiGHS and Gurobi solve the same formulation. Every improving solution is
reported; a stop request (Ctrl-C or a callback) ends the solve with the
incumbent. The gurobipy wheel from PyPI carries a size-limited licence
(``SIZE_LIMIT`` variables and constraints): a larger model is refused with a
MethodError that says so, rather than a bare licence code.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

import numpy as np

from dopt.core.context import SolveContext
from dopt.core.errors import MethodError
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.dmmv.milp import Formulation, Incumbent, _fallback, check_gaps, formulate, mip_start
from dopt.dmmv.problem import DMMVProblem
from dopt.dmmv.relax import MIN_TIME_LIMIT

SIZE_LIMIT = 2000  # variables and linear constraints allowed by gurobipy's pip licence
SIZE_LIMIT_ERROR = 10010  # GRB_ERROR_SIZE_LIMIT_EXCEEDED


@dataclass(frozen=True)
class GurobiOptions:
    """Options of dmmv.gurobi."""

    mip_rel_gap: float = option(0.0, "Gurobi's MIPGap: stop at this relative gap (0: prove optimality)")
    mip_abs_gap: float = option(0.0, "Gurobi's MIPGapAbs: stop at this absolute gap (0: prove optimality)")
    threads: int = option(0, "Gurobi's Threads (0: Gurobi chooses, up to one per core)")
    x0: Any = option(None, "a starting point (values in the domains) given to Gurobi as a MIP start")

    def validate(self) -> None:
        check_gaps(self)
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")


@register_method(
    "dmmv.gurobi",
    kind="dmmv",
    options=GurobiOptions,
    requires=("gurobipy",),
    summary="the exact MILP of dmmv.milp solved by Gurobi (peer baseline; pip's licence caps the model size)",
)
def run(problem: DMMVProblem, options: GurobiOptions, ctx: SolveContext) -> Result:
    """Solve the MILP with Gurobi, then recompute the incumbent's objective from the problem itself."""
    import gurobipy as gp

    form = formulate(problem)
    best = Incumbent()
    errors: list[BaseException] = []
    try:
        with gp.Env(empty=True) as env:
            env.setParam("OutputFlag", 0)  # before start: also silences the licence banner
            env.start()
            with gp.Model(env=env) as model:
                y = _build(gp, model, form)
                if options.x0 is not None:
                    y.Start = mip_start(problem, form, options.x0)
                _set_params(model, options, ctx)
                model.optimize(_callback(gp, problem, form, y, best, ctx, errors))
                if model.SolCount > 0:
                    best.offer(problem, form, np.asarray(y.X))
                best.bound = max(_objective_bound(model), 0.0)
                status = _status(gp, model.Status, options, ctx)
                extras: dict[str, Any] = {
                    "solver_status": _status_name(gp, model.Status),
                    "nodes": int(model.NodeCount),
                }
    except gp.GurobiError as exc:  # no licence, an expired one, or a model over its size limit
        raise _method_error(exc, form) from exc
    if errors:  # a failing user callback: re-raised once Gurobi has returned
        raise errors[0]
    if best.x is None:
        best, extras["fallback"] = _fallback(problem, ctx)
    bound = best.objective if status == "optimal" else min(best.bound, best.objective)
    extras.update(bound=bound, gap=(best.objective - bound) / best.objective if best.objective > 0 else 0.0)
    return Result(best.x, best.objective, status, "dmmv.gurobi", ctx.device, iterations=best.found, extras=extras)


def pip_licence_accepts(problem: DMMVProblem) -> bool:
    """True when the formulation fits the size-limited licence of pip's gurobipy."""
    form = formulate(problem)
    return form.num_col <= SIZE_LIMIT and form.matrix.shape[0] <= SIZE_LIMIT


def runs_here(problem: DMMVProblem) -> bool:
    """True when gurobipy is installed and its pip licence takes ``problem``: where benchmarks run Gurobi."""
    return find_spec("gurobipy") is not None and pip_licence_accepts(problem)


def _build(gp: Any, model: Any, form: Formulation) -> Any:
    """Columns (integer levels, binaries, then t) and rows of the formulation; minimise t."""
    integer = form.integrality.astype(bool)
    vtype = np.where(integer, gp.GRB.INTEGER, gp.GRB.CONTINUOUS)
    y = model.addMVar(form.num_col, lb=0.0, ub=form.col_upper, vtype=vtype)
    rows = form.matrix.tocsr()
    lower, upper = form.row_lower, form.row_upper
    equal = lower == upper
    for sense, keep, rhs in (
        (gp.GRB.EQUAL, equal, upper),
        (gp.GRB.LESS_EQUAL, ~equal & np.isfinite(upper), upper),
        (gp.GRB.GREATER_EQUAL, ~equal & np.isfinite(lower), lower),
    ):
        if keep.any():
            model.addMConstr(rows[np.flatnonzero(keep)], y, sense, rhs[keep])
    cost = np.zeros(form.num_col)
    cost[-1] = 1.0
    model.setMObjective(None, cost, 0.0, sense=gp.GRB.MINIMIZE)
    return y


def _set_params(model: Any, options: GurobiOptions, ctx: SolveContext) -> None:
    """Gaps, threads, seed and the time left."""
    model.Params.MIPGap = options.mip_rel_gap
    model.Params.MIPGapAbs = options.mip_abs_gap
    model.Params.Threads = options.threads
    model.Params.Seed = ctx.seed % 2_000_000_000
    left = ctx.time_left()
    if left is not None:
        model.Params.TimeLimit = max(left, MIN_TIME_LIMIT)


def _callback(
    gp: Any, problem: DMMVProblem, form: Formulation, y: Any, best: Incumbent, ctx: SolveContext, errors: list
) -> Any:
    """Report each improving solution to ctx; terminate on ctx's stop requests or a failing user callback."""
    where_solution = gp.GRB.Callback.MIPSOL

    def callback(model: Any, where: int) -> None:
        try:
            if where == where_solution and best.offer(problem, form, np.asarray(model.cbGetSolution(y))):
                bound = max(model.cbGet(gp.GRB.Callback.MIPSOL_OBJBND), 0.0)
                ctx.report(best.found, best.objective, best.x, bound=bound)
            if ctx.stop_reason() is not None:
                model.terminate()
        except BaseException as exc:  # noqa: BLE001 - Gurobi swallows exceptions raised in callbacks
            errors.append(exc)
            model.terminate()

    return callback


def _method_error(exc: Any, form: Formulation) -> MethodError:
    """A MethodError for a Gurobi failure, naming the size limit when that is the cause."""
    if getattr(exc, "errno", None) != SIZE_LIMIT_ERROR:
        return MethodError(f"dmmv.gurobi: Gurobi failed: {exc}")
    return MethodError(
        f"dmmv.gurobi: the Gurobi licence refuses this model ({form.num_col} variables, {form.matrix.shape[0]} "
        f"constraints; the pip licence allows {SIZE_LIMIT} of each). Use dmmv.milp (HiGHS), or a full Gurobi licence."
    )


def _objective_bound(model: Any) -> float:
    """Gurobi's proven lower bound, or 0 when it has none (no root solved yet)."""
    try:
        return float(model.ObjBound)
    except AttributeError:
        return 0.0


def _status(gp: Any, code: int, options: GurobiOptions, ctx: SolveContext) -> str:
    """Result status for a Gurobi status code."""
    codes = gp.GRB.Status
    if code == codes.OPTIMAL:
        return "optimal" if options.mip_rel_gap == 0 and options.mip_abs_gap == 0 else "converged"
    if code == codes.TIME_LIMIT:
        return "time_limit"
    if code == codes.INTERRUPTED:
        return ctx.stop_reason() or "interrupted"
    return "converged"


def _status_name(gp: Any, code: int) -> str:
    """Gurobi's name of a status code (``TIME_LIMIT``, ``OPTIMAL``, ...)."""
    codes = gp.GRB.Status
    return next((name for name in dir(codes) if name.isupper() and getattr(codes, name) == code), str(code))
