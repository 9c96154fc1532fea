"""``quant.quantease``: QuantEase (Behdin et al., 2023) cyclic coordinate descent, with grid refinement.

Each pass visits the input columns in turn and moves a whole column of Ŵ to
its exact minimiser on the grid, Ŵ_j ← q(Ŵ_j + ((W − Ŵ)Σ)_j / Σ_jj) (rows are
independent problems), with the products kept up to date incrementally:
matrix-vector work inside a block of columns and one GEMM per block
(:mod:`dopt.quant.cd`). No inverse or factorisation is needed, only
Σ_jj > 0 (columns with Σ_jj = 0 keep their starting value).

Rounded passes never increase the objective, so a start from GPTQ can only
improve on GPTQ. Beyond the paper, ``refine_grid`` (the default) also moves
the grids: a data-aware clipping search picks each row's range before the
start (scored by the rounding error weighted by GPTQ's conditional
precisions, or by Σ_jj), and between passes an exact line search moves each
row's scale jointly with its zero-point, codes fixed. With a GPTQ start, GPTQ
runs on both the problem's grid and the refined one and each row keeps the
better, so the result is never worse than GPTQ's, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dopt.core.context import SolveContext
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.quant.backend import NUMBA, Backend, for_device
from dopt.quant.cd import CDState
from dopt.quant.gptq import Factor, act_order, inverse_factor, quantize_gptq
from dopt.quant.grid import Grid, make_grid
from dopt.quant.problem import QuantProblem
from dopt.quant.solution import finish

SHRINKS = 1.0 - np.arange(8) / 10  # ranges tried by the data-aware clipping search: 100%, 90%, ..., 30%,
SHRINK_HALVINGS = 2  # then ± 5% and ± 2.5% around each row's best
RELAXED_EVERY, RELAXED_UNTIL = 3, 25  # the reference's unrounded passes: t % 3 == 1 and t <= 25


@dataclass(frozen=True)
class QuantEaseOptions:
    """Options of quant.quantease."""

    init: Literal["gptq_act", "gptq", "rtn", "w"] = option(
        "gptq_act", "start: GPTQ with act-order, GPTQ, round to nearest, or W itself (the paper's)"
    )
    max_passes: int = option(12, "passes of coordinate descent at most")
    tol: float = option(2e-3, "stop when a pass lowers the objective by less than this fraction")
    order: Literal["act", "natural"] = option("act", "column order of the passes: decreasing Σ_jj, or as given")
    refine_grid: bool = option(True, "data-aware clipping search at the start, exact scale/zero line search per pass")
    relaxed_passes: bool = option(
        False, "the reference's heuristic: every third pass (up to pass 25) is unrounded; breaks monotonicity"
    )
    guard: bool = option(
        False, "with refine_grid and a GPTQ start: also run GPTQ on the problem's grid, each row keeping the better"
    )
    block_size: int = option(128, "columns per block (one GEMM per block refreshes the products)")
    damping: float | None = option(None, "GPTQ's damping for a GPTQ start (default: the problem's)")

    def validate(self) -> None:
        if self.max_passes < 0:
            raise ValueError(f"max_passes must be >= 0, got {self.max_passes}")
        if not (0 <= self.tol < 1):
            raise ValueError(f"tol must be in [0, 1), got {self.tol}")
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.damping is not None and not (0 <= self.damping < np.inf):
            raise ValueError(f"damping must be a finite number >= 0, got {self.damping}")


def refined_grid(problem: QuantProblem, W: np.ndarray, weights: np.ndarray, exclude: Any = None) -> Grid:
    """Each row's (and group's) range chosen among SHRINKS by the ``weights``-weighted squared rounding error."""
    return make_grid(
        W,
        problem.bits,
        sym=problem.sym,
        group_size=problem.group_size,
        clip=True,
        exclude=exclude,
        weights=weights,
        shrinks=SHRINKS,
        halvings=SHRINK_HALVINGS,
    )


def best_of_gptq(
    W: np.ndarray,
    factor: Factor,
    grids: list[Grid],
    block_size: int,
    keep: np.ndarray | None = None,
    backend: Backend = NUMBA,
) -> tuple[np.ndarray, Grid, np.ndarray]:
    """GPTQ on each grid (only the rows whose grid differs from the first), each row keeping its best.

    Returns Ŵ, its grid and G = (W − Ŵ)Σ.
    """
    run = quantize_gptq(W, factor, grids[0], block_size=block_size, keep=keep, gradient=True, backend=backend)
    Q, err, G, grid = run.Q, run.row_errors, run.G, run.grid.copy()
    for other in grids[1:]:
        rows = np.flatnonzero((other.scale != grid.scale).any(axis=1) | (other.zero != grid.zero).any(axis=1))
        if rows.size == 0:
            continue
        sub_keep = None if keep is None else keep[rows]
        alt = quantize_gptq(
            W[rows], factor, other.take_rows(rows), block_size=block_size, keep=sub_keep, gradient=True, backend=backend
        )
        better = alt.row_errors < err[rows]
        take = rows[better]
        Q[take], err[take], G[take] = alt.Q[better], alt.row_errors[better], alt.G[better]
        grid.scale[take] = other.scale[take]
        grid.zero[take] = other.zero[take]
    return Q, grid, G


def start(
    problem: QuantProblem,
    target: np.ndarray,
    opts: QuantEaseOptions,
    *,
    base_grid: Grid,
    keep: np.ndarray | None = None,
    backend: Backend = NUMBA,
    factor: Factor | None = None,
) -> tuple[np.ndarray, Grid, np.ndarray | None, dict[str, Any]]:
    """The starting Ŵ, its grid and (when known) G = (target − Ŵ)Σ for ``opts.init``.

    ``keep`` (bool q × p) marks entries kept in full precision: left out of the
    grids' ranges and never rounded by GPTQ. ``factor``: GPTQ's inverse
    Cholesky factor for the start, when already computed.
    """
    info: dict[str, Any] = {}
    Sigma = problem.Sigma
    if not opts.init.startswith("gptq"):
        factor = None
    elif factor is None:
        factor = start_factor(problem, opts)
    if factor is not None:
        info["damping"] = factor.damping
    grids = [base_grid]
    if opts.refine_grid:
        weights = factor.precision if factor is not None else np.diag(Sigma)
        grids.insert(0, refined_grid(problem, target, weights, keep))
        if not opts.guard:
            grids.pop()
    if factor is not None:
        Q, grid, G = best_of_gptq(target, factor, grids, opts.block_size, keep, backend)
        return Q, grid, G, info
    if opts.init == "w":
        return target.copy(), grids[0], np.zeros_like(target), info
    return grids[0].quantize(target), grids[0].copy(), None, info


def start_factor(problem: QuantProblem, opts: QuantEaseOptions) -> Factor:
    """GPTQ's inverse Cholesky factor for a GPTQ start (in act-order for ``gptq_act``)."""
    damping = problem.damping if opts.damping is None else opts.damping
    order = act_order(problem.Sigma) if opts.init == "gptq_act" else None
    return inverse_factor(problem.Sigma, damping, order=order)


def descend(
    state: CDState,
    opts: QuantEaseOptions,
    ctx: SolveContext,
    passes: int | None = None,
    offset: int = 0,
    unquantized: bool = False,
) -> tuple[str, list[float]]:
    """Up to ``passes`` passes (with grid refinement); the status and the objective after each rounded pass.

    ``unquantized``: Ŵ starts off the grid (W itself), so the first pass rounds every entry.
    """
    history: list[float] = []
    f_prev = np.inf if unquantized else state.objective()
    total = opts.max_passes if passes is None else passes
    active = None  # every row
    after_relaxed = False
    for t in range(total):
        reason = ctx.stop_reason()
        if reason is not None:
            return reason, history
        relaxed = opts.relaxed_passes and t % RELAXED_EVERY == 1 and t <= RELAXED_UNTIL and t < total - 1
        rows = None if active is None or relaxed else np.flatnonzero(active)
        # the first pass from W, and the pass after an unrounded one, round every entry
        force = (unquantized and t == 0) or after_relaxed
        moved = state.sweep(rounded=not relaxed, rows=rows, force=force)
        after_relaxed = relaxed
        if relaxed:
            active = None
            state.objective()  # every row's share, for the next rounded pass
            continue
        if opts.refine_grid:
            # the first refinement looks at every row; later ones only at rows whose codes moved
            moved |= state.refine_grids(rows=None if t == 0 else np.flatnonzero(moved))
        active = moved
        f = state.objective(np.flatnonzero(moved))
        history.append(f)
        ctx.report(offset + t + 1, f)
        if not active.any():
            return "converged", history
        # (the reference's schedule runs every pass: its objective is not monotone)
        if not opts.relaxed_passes and np.isfinite(f_prev) and f_prev - f <= opts.tol * f_prev:
            return "converged", history
        f_prev = f
    return ("iteration_limit" if total else "converged"), history


@register_method(
    "quant.quantease",
    kind="quant",
    options=QuantEaseOptions,
    default=True,
    summary="QuantEase: blocked cyclic coordinate descent from GPTQ/RTN/W, with exact grid refinement",
    devices=("cpu", "gpu"),
)
def solve_quantease(problem: QuantProblem, opts: QuantEaseOptions, ctx: SolveContext) -> Result:
    """Coordinate descent until the tolerance, the pass limit or the time limit."""
    backend = for_device(ctx.device)
    Q, grid, G, info = start(problem, problem.W, opts, base_grid=problem.grid, backend=backend)
    order = act_order(problem.Sigma) if opts.order == "act" else None
    state = CDState(
        problem.W,
        Q,
        problem.Sigma,
        grid,
        order=order,
        block_size=opts.block_size,
        symmetric=problem.sym,
        G=G,
        TS=problem.W_Sigma if backend is NUMBA else None,  # (on the GPU, WΣ is one cuBLAS GEMM away)
        backend=backend,
    )
    history = [state.objective()] if opts.init != "w" else []
    status, passes = descend(state, opts, ctx, unquantized=opts.init == "w")
    Q, grid = state.solution()
    info["pass_objectives"] = history + passes
    return finish(problem, ctx, Q, grid, status=status, iterations=len(passes), extras=info)
