"""dmmv.cpsat: the MILP of ``dmmv.milp`` scaled to integers and solved by OR-Tools CP-SAT.

CP-SAT takes integer coefficients only, so every row of the formulation is
multiplied by one scale S (the largest coefficient becomes ``resolution``)
and rounded, and the epigraph variable becomes T ~ S t. The returned point's
objective is recomputed exactly from the problem; "optimal" means optimal for
the scaled model, whose coefficients carry a relative error of about
1 / resolution. This is how a CP-SAT user would pose DMMV, so it is the peer
the benchmarks compare against.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from dopt.core.context import SolveContext
from dopt.core.errors import MethodError
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.dmmv.milp import Formulation, Incumbent, _fallback, formulate, mip_start
from dopt.dmmv.problem import DMMVProblem
from dopt.dmmv.relax import round_to_domain

POLL_SECONDS = 0.05  # how often a running solve checks for Ctrl-C and callback stops


@dataclass(frozen=True)
class CPSATOptions:
    """Options of dmmv.cpsat."""

    workers: int = option(0, "CP-SAT search workers (0: one per CPU core)")
    resolution: float = option(1e6, "the largest scaled coefficient; coefficients are rounded at 1/resolution")
    x0: Any = option(None, "a starting point (values in the domains) given to CP-SAT as a solution hint")

    def validate(self) -> None:
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if not 1e2 <= self.resolution <= 1e12:
            raise ValueError(f"resolution must be in [1e2, 1e12], got {self.resolution}")


@register_method(
    "dmmv.cpsat",
    kind="dmmv",
    options=CPSATOptions,
    requires=("ortools",),
    summary="the MILP scaled to integer coefficients and solved by OR-Tools CP-SAT (peer baseline)",
)
def run(problem: DMMVProblem, options: CPSATOptions, ctx: SolveContext) -> Result:
    """Build the integer model, solve it within the time limit and recompute the incumbent's objective."""
    from ortools.sat.python import cp_model

    form = formulate(problem)
    start = problem.value_of(round_to_domain(problem, np.zeros(problem.shape[1])))
    hint = None if options.x0 is None else mip_start(problem, form, options.x0)
    t_max = problem.objective(start) if hint is None else max(problem.objective(start), hint[-1])
    model, y, scale = _integer_model(cp_model, form, options.resolution, t_max)
    if hint is not None:
        for var, value in zip(y, hint[:-1], strict=True):
            model.AddHint(var, round(value))
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_search_workers = options.workers or (os.cpu_count() or 1)
    params.random_seed = ctx.seed % 2**31
    left = ctx.time_left()
    if left is not None:
        params.max_time_in_seconds = max(left, 0.01)
    best = Incumbent()
    with _stop_on_request(solver, ctx) as stopped:
        code = solver.Solve(model, _watcher(cp_model, problem, form, y, best, ctx))
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        best.offer(problem, form, np.array([solver.Value(v) for v in y], dtype=np.float64))
    extras: dict[str, Any] = {"solver_status": solver.StatusName(code), "scale": scale}
    if best.x is None:
        best, extras["fallback"] = _fallback(problem, ctx)
    else:
        best.bound = max(solver.BestObjectiveBound() / scale, 0.0)
    status = _status(code, cp_model, ctx, stopped[0])
    extras["bound"] = min(best.bound, best.objective)
    return Result(best.x, best.objective, status, "dmmv.cpsat", ctx.device, iterations=best.found, extras=extras)


def _integer_model(cp_model: Any, form: Formulation, resolution: float, t_max: float) -> tuple[Any, list, float]:
    """The scaled integer model: rows of the formulation times S, rounded; minimise T."""
    matrix = form.matrix.tocsr()
    y_part = matrix[:, :-1]
    largest = float(np.abs(y_part.data).max(initial=0.0))
    scale = resolution / largest if largest > 0 else 1.0
    model = cp_model.CpModel()
    y = [model.NewIntVar(0, int(form.col_upper[c]), f"y{c}") for c in range(form.num_col - 1)]
    slack = 0.5 * np.diff(y_part.indptr).max(initial=0) * form.col_upper[:-1].max(initial=1.0)  # row rounding
    t = model.NewIntVar(0, math.ceil(scale * t_max + slack) + 1, "t")
    t_coef = matrix[:, -1].toarray().ravel()
    coefs = np.rint(scale * y_part.data).astype(np.int64)
    for r in range(matrix.shape[0]):
        lo, hi = y_part.indptr[r], y_part.indptr[r + 1]
        terms = [int(c) * y[int(j)] for c, j in zip(coefs[lo:hi], y_part.indices[lo:hi], strict=True) if c]
        expr = sum(terms) + int(t_coef[r]) * t
        if t_coef[r] == 0:  # a one-hot choice row: exact, sum of binaries = 1
            model.Add(sum(y[int(j)] for j in y_part.indices[lo:hi]) == 1)
        elif math.isfinite(form.row_upper[r]):
            model.Add(expr <= math.floor(scale * form.row_upper[r]))
        else:
            model.Add(expr >= math.ceil(scale * form.row_lower[r]))
    model.Minimize(t)
    return model, y, scale


def _status(code: int, cp_model: Any, ctx: SolveContext, stopped: bool) -> str:
    if code == cp_model.OPTIMAL:
        return "optimal"
    if code == cp_model.INFEASIBLE:  # the rounded rows cut off every point: the scale is too coarse
        raise MethodError("dmmv.cpsat: the scaled model is infeasible; raise the 'resolution' option")
    if stopped:
        return ctx.stop_reason() or "interrupted"
    return "time_limit" if ctx.time_limit is not None else "converged"


def _watcher(
    cp_model: Any, problem: DMMVProblem, form: Formulation, y: list, best: Incumbent, ctx: SolveContext
) -> Any:
    """A solution callback forwarding every improving CP-SAT solution to the incumbent and to ctx."""

    class Watcher(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            values = np.array([self.Value(v) for v in y], dtype=np.float64)
            if best.offer(problem, form, values):
                ctx.report(best.found, best.objective, best.x)

    return Watcher()


@contextmanager
def _stop_on_request(solver: Any, ctx: SolveContext) -> Iterator[list[bool]]:
    """Poll ctx in a thread while CP-SAT runs and stop the search on Ctrl-C or a callback's request."""
    done = threading.Event()
    stopped = [False]

    def poll() -> None:
        while not done.wait(POLL_SECONDS):
            if ctx.stop_reason() is not None:
                stopped[0] = True
                solver.StopSearch()
                return

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield stopped
    finally:
        done.set()
        thread.join()
