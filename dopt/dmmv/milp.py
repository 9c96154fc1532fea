"""dmmv.milp: the exact mixed-integer formulation of DMMV, solved by HiGHS.

Minimise t subject to w_i (a_i.x - u_i) <= t and w_i (l_i - a_i.x) <= t.
A variable whose domain is a uniform grid lo + step*q (q = 0..L-1) becomes
one integer q_j, substituted into the rows (no big-M); any other domain
becomes one-hot binaries z_jl with sum_l z_jl = 1 and x_j = sum_l v_jl z_jl;
a one-value domain is a constant. The highspy backend reports every improving
solution and stops on Ctrl-C; the scipy backend (always installed) does neither.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from dopt.core.context import SolveContext
from dopt.core.errors import MethodError
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.dmmv.problem import DMMVProblem
from dopt.dmmv.relax import MIN_TIME_LIMIT, epigraph_rows, lp_relaxation, quiet_highs, round_to_domain

GRID_RTOL = 1e-9  # a domain within this relative distance of a uniform grid is treated as one
FALLBACK_LP_SHARE = 0.1  # an LP fallback after a time limit may take this share of the limit more


@dataclass(frozen=True)
class MILPOptions:
    """Options of dmmv.milp."""

    mip_rel_gap: float = option(0.0, "stop once (objective - bound) / objective is at most this (0: prove optimality)")
    mip_abs_gap: float = option(0.0, "stop once objective - bound is at most this (0: prove optimality)")
    backend: Literal["auto", "highspy", "scipy"] = option(
        "auto", "HiGHS interface: highspy (progress, Ctrl-C) or scipy.optimize.milp; auto prefers highspy"
    )
    x0: Any = option(None, "a starting point (values in the domains) given to HiGHS as a MIP start; needs highspy")

    def validate(self) -> None:
        """Refuse negative gaps and a highspy backend that is not installed."""
        check_gaps(self)
        if self.backend == "highspy" and not highspy_available():
            raise ValueError("backend 'highspy' needs the highspy package: pip install highspy")


def check_gaps(options: Any) -> None:
    """Refuse a ``mip_rel_gap`` or ``mip_abs_gap`` option that is negative or not finite."""
    for name in ("mip_rel_gap", "mip_abs_gap"):
        value = getattr(options, name)
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")


def highspy_available() -> bool:
    """True when the highspy package can be imported."""
    return importlib.util.find_spec("highspy") is not None


@dataclass(frozen=True)
class Formulation:
    """The MILP: minimise the last column t s.t. row_lower <= matrix @ (y, t) <= row_upper.

    ``start[j]`` is the first column of variable j; ``grid[j]`` marks an
    integer level column, ``onehot[j]`` a block of ``sizes[j]`` binaries.
    """

    matrix: sp.csc_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    start: np.ndarray
    grid: np.ndarray
    onehot: np.ndarray
    sizes: np.ndarray

    @property
    def num_col(self) -> int:
        """Number of columns, t included."""
        return self.matrix.shape[1]

    def columns_of(self, levels: np.ndarray, t: float) -> np.ndarray:
        """The MILP point (y, t) of ``levels``: the inverse of ``levels_of``."""
        y = np.zeros(self.num_col)
        g = np.flatnonzero(self.grid)
        y[self.start[g]] = levels[g]
        h = np.flatnonzero(self.onehot)
        y[self.start[h] + levels[h]] = 1.0
        y[-1] = t
        return y

    def levels_of(self, y: np.ndarray) -> np.ndarray:
        """The level of each variable in a (possibly slightly fractional) MILP solution ``y``."""
        levels = np.zeros(self.sizes.size, dtype=np.int64)
        g = np.flatnonzero(self.grid)
        levels[g] = np.clip(np.rint(y[self.start[g]]), 0, self.sizes[g] - 1)
        h = np.flatnonzero(self.onehot)
        offsets = np.arange(self.sizes.max(initial=1))
        present = offsets < self.sizes[h][:, None]
        cols = np.where(present, self.start[h][:, None] + offsets, 0)
        levels[h] = np.argmax(np.where(present, y[cols], -np.inf), axis=1)
        return levels


def uniform_grids(problem: DMMVProblem) -> tuple[np.ndarray, np.ndarray]:
    """Which domains (of two or more values) are uniform grids, and every domain's step."""
    values, sizes = problem.values, problem.sizes
    lo = values[:, 0]
    hi = values[np.arange(sizes.size), sizes - 1]
    step = (hi - lo) / np.maximum(sizes - 1, 1)
    expected = lo[:, None] + step[:, None] * np.arange(values.shape[1])
    deviation = np.nanmax(np.abs(values - expected), axis=1)
    scale = np.maximum(np.maximum(np.abs(lo), np.abs(hi)), step)
    return (sizes >= 2) & (deviation <= GRID_RTOL * scale), step


def formulate(problem: DMMVProblem) -> Formulation:
    """Build the MILP with the integer grid or one-hot encoding of each variable."""
    values, sizes = problem.values, problem.sizes
    grid, step = uniform_grids(problem)
    onehot = (sizes >= 2) & ~grid
    count = np.where(grid, 1, np.where(onehot, sizes, 0))
    start = np.cumsum(count) - count
    num_y = int(count.sum())
    gj = np.flatnonzero(grid)
    hj, hl = np.nonzero(onehot[:, None] & ~np.isnan(values))
    hcols = start[hj] + hl
    expand = sp.csc_array(
        (np.concatenate([step[gj], values[hj, hl]]), (np.concatenate([gj, hj]), np.concatenate([start[gj], hcols]))),
        shape=(sizes.size, num_y),
    )
    shift = np.where(onehot, 0.0, values[:, 0])
    rows = epigraph_rows(problem, sp.csr_array(problem.A) @ expand, problem.A @ shift)
    choice = _choice_rows(hj, hcols, onehot, num_y)
    col_upper = np.ones(num_y + 1)
    col_upper[start[gj]] = sizes[gj] - 1
    col_upper[-1] = np.inf
    integrality = np.ones(num_y + 1, dtype=np.int32)
    integrality[-1] = 0
    return Formulation(
        matrix=sp.vstack([rows.upper, rows.lower, choice], format="csc"),
        row_lower=np.concatenate([np.full(rows.upper_rhs.size, -np.inf), rows.lower_rhs, np.ones(choice.shape[0])]),
        row_upper=np.concatenate([rows.upper_rhs, np.full(rows.lower_rhs.size, np.inf), np.ones(choice.shape[0])]),
        col_upper=col_upper,
        integrality=integrality,
        start=start,
        grid=grid,
        onehot=onehot,
        sizes=sizes,
    )


def _choice_rows(hj: np.ndarray, hcols: np.ndarray, onehot: np.ndarray, num_y: int) -> sp.csr_array:
    """One row ``sum_l z_jl = 1`` per one-hot variable (t's column included, empty)."""
    row_of = np.cumsum(onehot) - 1
    return sp.csr_array((np.ones(hj.size), (row_of[hj], hcols)), shape=(int(onehot.sum()), num_y + 1))


@dataclass
class Incumbent:
    """The best point found so far, its recomputed objective and the solver's proven bound."""

    x: np.ndarray | None = None
    objective: float = np.inf
    bound: float = 0.0
    found: int = 0

    def offer(self, problem: DMMVProblem, form: Formulation, y: np.ndarray) -> bool:
        """Keep the point decoded from ``y`` if it beats the incumbent; True when it does."""
        x = problem.value_of(form.levels_of(np.asarray(y, dtype=np.float64)))
        objective = problem.objective(x)
        if objective >= self.objective:
            return False
        self.x, self.objective = x, objective
        self.found += 1
        return True


@dataclass
class Outcome:
    """What a backend hands back: the incumbent, the stop status and backend facts."""

    incumbent: Incumbent
    status: str
    extras: dict[str, Any] = field(default_factory=dict)


@register_method(
    "dmmv.milp",
    kind="dmmv",
    options=MILPOptions,
    summary="exact MILP (integer grid or one-hot encoding) solved by HiGHS; proves optimality on small instances",
)
def run(problem: DMMVProblem, options: MILPOptions, ctx: SolveContext) -> Result:
    """Solve the MILP, then recompute the objective of the incumbent from the problem itself."""
    form = formulate(problem)
    use_highspy = options.backend == "highspy" or (options.backend == "auto" and highspy_available())
    if options.x0 is not None and not use_highspy:
        raise MethodError("dmmv.milp: option 'x0' (a MIP start) needs the highspy backend: pip install highspy")
    outcome = _solve_highspy(problem, form, options, ctx) if use_highspy else _solve_scipy(problem, form, options, ctx)
    best = outcome.incumbent
    extras = {"solver": "highspy" if use_highspy else "scipy", **outcome.extras}
    if best.x is None:
        best, extras["fallback"] = _fallback(problem, ctx)
    bound = best.objective if outcome.status == "optimal" else min(best.bound, best.objective)
    gap = (best.objective - bound) / best.objective if best.objective > 0 else 0.0
    extras.update(bound=bound, gap=gap)
    return Result(best.x, best.objective, outcome.status, "dmmv.milp", ctx.device, iterations=best.found, extras=extras)


def _fallback(problem: DMMVProblem, ctx: SolveContext) -> tuple[Incumbent, str]:
    """The rounded LP relaxation, for a solve stopped before HiGHS found any solution."""
    grace = None if ctx.time_limit is None else FALLBACK_LP_SHARE * ctx.time_limit
    lp = lp_relaxation(problem, time_limit=grace)
    x = problem.value_of(round_to_domain(problem, lp.x))
    return Incumbent(x=x, objective=problem.objective(x), bound=lp.bound), f"rounded LP relaxation ({lp.status})"


def mip_start(problem: DMMVProblem, form: Formulation, x0: Any) -> np.ndarray:
    """The MILP point of the starting point ``x0`` (values in the domains), with t at its objective."""
    try:
        x = np.asarray(x0, dtype=np.float64)
        levels = problem.levels(x)
    except ValueError as exc:
        raise MethodError(f"option 'x0': {exc}") from None
    return form.columns_of(levels, problem.objective(problem.value_of(levels)))


def _time_limit(ctx: SolveContext) -> float | None:
    """Seconds left for HiGHS (at least its minimum), or None without a limit."""
    left = ctx.time_left()
    return None if left is None else max(left, MIN_TIME_LIMIT)


def _solve_highspy(problem: DMMVProblem, form: Formulation, options: MILPOptions, ctx: SolveContext) -> Outcome:
    """Solve with highspy, reporting improving solutions and stopping on ctx's stop requests."""
    import highspy

    h = quiet_highs()
    for name, value in _highs_options(options, ctx).items():
        h.setOptionValue(name, value)
    _pass_model(h, form)
    if options.x0 is not None:
        start = highspy.HighsSolution()
        start.col_value = mip_start(problem, form, options.x0).tolist()
        h.setSolution(start)
    best = Incumbent()
    errors: list[BaseException] = []

    def on_solution(event: Any) -> None:
        if best.offer(problem, form, event.data_out.mip_solution):
            ctx.report(best.found, best.objective, best.x, bound=max(event.data_out.mip_dual_bound, 0.0))

    def on_poll(event: Any) -> None:
        if ctx.stop_reason() is not None:
            event.interrupt()

    h.cbMipImprovingSolution.subscribe(_guarded(on_solution, errors))
    h.cbMipInterrupt.subscribe(_guarded(on_poll, errors))
    h.run()
    if errors:  # a second Ctrl-C, or a failing user callback
        raise errors[0]
    info = h.getInfo()
    best.bound = max(float(info.mip_dual_bound), 0.0)
    feasible = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    if feasible and best.offer(problem, form, np.asarray(h.getSolution().col_value)):
        ctx.report(best.found, best.objective, best.x, bound=best.bound)
    model_status = h.getModelStatus()
    status = _highspy_status(model_status, highspy.HighsModelStatus, options, ctx)
    return Outcome(best, status, {"solver_status": h.modelStatusToString(model_status), "nodes": info.mip_node_count})


def _guarded(handler: Callable[[Any], None], errors: list[BaseException]) -> Callable[[Any], None]:
    """``handler`` made safe for HiGHS, which swallows exceptions: record them and stop the solve."""

    def call(event: Any) -> None:
        try:
            handler(event)
        except BaseException as exc:  # noqa: BLE001 - re-raised once HiGHS has returned
            errors.append(exc)
            event.interrupt()

    return call


def _highs_options(options: MILPOptions, ctx: SolveContext) -> dict[str, Any]:
    """HiGHS option values for this solve: gaps, seed and time limit."""
    values: dict[str, Any] = {
        "mip_rel_gap": options.mip_rel_gap,
        "mip_abs_gap": options.mip_abs_gap,
        "random_seed": ctx.seed % 2**31,
    }
    limit = _time_limit(ctx)
    if limit is not None:
        values["time_limit"] = limit
    return values


def _pass_model(h: Any, form: Formulation) -> None:
    """Load the formulation into a highspy instance (column-wise matrix)."""
    import highspy

    m = form.matrix
    cost = np.zeros(form.num_col)
    cost[-1] = 1.0
    h.passModel(
        form.num_col,
        m.shape[0],
        m.nnz,
        highspy.MatrixFormat.kColwise,
        highspy.ObjSense.kMinimize,
        0.0,
        cost,
        np.zeros(form.num_col),
        form.col_upper,
        form.row_lower,
        form.row_upper,
        m.indptr,
        m.indices,
        m.data,
        form.integrality,
    )


def _highspy_status(model_status: Any, kinds: Any, options: MILPOptions, ctx: SolveContext) -> str:
    """Result status for a HiGHS model status."""
    if model_status == kinds.kOptimal:
        return "optimal" if options.mip_rel_gap == 0 and options.mip_abs_gap == 0 else "converged"
    if model_status == kinds.kTimeLimit:
        return "time_limit"
    if model_status == kinds.kIterationLimit:
        return "iteration_limit"
    return ctx.stop_reason() or "converged"


def _solve_scipy(problem: DMMVProblem, form: Formulation, options: MILPOptions, ctx: SolveContext) -> Outcome:
    """Solve with scipy.optimize.milp (no progress reports, no Ctrl-C until it returns)."""
    cost = np.zeros(form.num_col)
    cost[-1] = 1.0
    # presolve off: the HiGHS 1.12 inside scipy 1.17 returned a wrong "optimal" one-hot solve with it on
    # (tests/test_dmmv_exact.py::test_nonuniform_domain_uses_one_hot); these dense models barely presolve anyway
    solver_options: dict[str, Any] = {"disp": False, "presolve": False, "mip_rel_gap": options.mip_rel_gap}
    limit = _time_limit(ctx)
    if limit is not None:
        solver_options["time_limit"] = limit
    solver_options["mip_abs_gap"] = options.mip_abs_gap  # passed to HiGHS verbatim
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unrecognized options detected", category=RuntimeWarning)
        res = milp(
            cost,
            integrality=form.integrality,
            bounds=Bounds(np.zeros(form.num_col), form.col_upper),
            constraints=LinearConstraint(form.matrix, form.row_lower, form.row_upper),
            options=solver_options,
        )
    best = Incumbent()
    if res.x is not None:
        best.offer(problem, form, res.x)
        ctx.report(best.found, best.objective, best.x)
    if res.mip_dual_bound is not None and np.isfinite(res.mip_dual_bound):
        best.bound = max(float(res.mip_dual_bound), 0.0)
    return Outcome(best, _scipy_status(res.status, options), {"solver_status": res.message})


def _scipy_status(code: int, options: MILPOptions) -> str:
    """Result status for scipy.optimize.milp's status code."""
    if code == 0:
        return "optimal" if options.mip_rel_gap == 0 and options.mip_abs_gap == 0 else "converged"
    if code == 1:
        return "time_limit"
    return "converged"
