"""``quant.quantease_outlier``: QuantEase with a few weights kept in full precision.

Minimise ‖(W − Ŵ − H)X‖²_F over Ŵ on the grid and H with at most s non-zeros
(unstructured), or non-zeros in at most s/q whole columns (``structure =
"columns"``). As the paper describes, the grid is found after trimming the
outliers, and the method alternates one coordinate-descent pass on Ŵ against
the target W − H with a hard-thresholded gradient step on H,
H ← P_s(H − η∇_H f) with η = α / (2 λ_max(Σ)), which never increases f for
α ≤ 1. Beyond the paper, every outlier's value is then set to its exact
minimiser (a coordinate step on H), the grids are refined as in
``quant.quantease``, and the start is GPTQ run with the outliers kept in full
precision (their errors are not propagated, since they have none).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.sparse.linalg import eigsh

from dopt.core.context import SolveContext
from dopt.core.errors import MethodError
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.quant import kernels
from dopt.quant.cd import CDState
from dopt.quant.gptq import act_order
from dopt.quant.grid import make_grid
from dopt.quant.problem import QuantProblem
from dopt.quant.quantease import QuantEaseOptions, descend, start, start_factor
from dopt.quant.solution import finish


@dataclass(frozen=True)
class OutlierOptions(QuantEaseOptions):
    """Options of quant.quantease_outlier (those of quant.quantease, and these)."""

    outliers: float | None = option(
        None, "full-precision entries: a count, or a fraction of q·p below 1 (default: the problem's)"
    )
    structure: Literal["unstructured", "columns"] = option(
        "unstructured", "outliers anywhere, or whole input columns (s / q of them)"
    )
    alpha: float = option(1.0, "step of the hard-thresholded gradient step on H, in units of 1 / (2 λ_max(Σ)); <= 1")
    selection: Literal["saliency", "magnitude"] = option(
        "saliency",
        "first outliers: the largest w_ij² / [H⁻¹]_jj (GPTQ's saliency), or the largest |w_ij| (the paper's)",
    )

    def validate(self) -> None:
        super().validate()
        if self.outliers is not None and not (0 <= self.outliers < np.inf):
            raise ValueError(f"outliers must be a finite number >= 0, got {self.outliers}")
        if not (0 < self.alpha <= 1):
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")


class Outliers:
    """The full-precision entries H in the state's column order, as CSR by row (kept sorted by row)."""

    def __init__(self, q: int, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        order = np.lexsort((cols, rows))
        self.q = q
        self.rows, self.cols, self.values = rows[order], cols[order], values[order].astype(np.float64)
        self.ptr = np.searchsorted(self.rows, np.arange(q + 1)).astype(np.int64)

    @property
    def size(self) -> int:
        return self.rows.size

    def dense(self, shape: tuple[int, int]) -> np.ndarray:
        H = np.zeros(shape)
        H[self.rows, self.cols] = self.values
        return H


def budget(problem: QuantProblem, opts: OutlierOptions) -> int:
    """The number s of full-precision entries."""
    if opts.outliers is None:
        return problem.max_outliers
    total = problem.W.size
    return min(int(opts.outliers), total) if opts.outliers >= 1 else round(opts.outliers * total)


def select(M: np.ndarray, s: int, structure: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the s largest |M| entries, or of the s // q columns of largest norm."""
    q, p = M.shape
    if structure == "columns":
        k = min(s // q, p)
        cols = np.sort(np.argsort(-np.einsum("ij,ij->j", M, M), kind="stable")[:k])
        rr, cc = np.meshgrid(np.arange(q), cols, indexing="ij")
        return rr.ravel(), cc.ravel()
    if s <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    flat = np.abs(M).ravel()
    top = np.argpartition(-flat, s - 1)[:s] if s < flat.size else np.arange(flat.size)
    return np.unravel_index(np.sort(top), M.shape)


def lambda_max(Sigma: np.ndarray) -> float:
    """The largest eigenvalue of Σ."""
    if Sigma.shape[0] <= 64:
        return float(np.linalg.eigvalsh(Sigma)[-1])
    return float(eigsh(Sigma, k=1, which="LA", tol=1e-6, return_eigenvectors=False)[0])


@register_method(
    "quant.quantease_outlier",
    kind="quant",
    options=OutlierOptions,
    summary="QuantEase with s full-precision outliers: CD on Ŵ alternating with hard-thresholded steps on H",
)
def solve_outlier(problem: QuantProblem, opts: OutlierOptions, ctx: SolveContext) -> Result:
    """Alternate CD passes on Ŵ and steps on H until the tolerance, the pass limit or the time limit."""
    W, Sigma = problem.W, problem.Sigma
    q, p = W.shape
    s = budget(problem, opts)
    if opts.structure == "columns" and s // q == 0 and s > 0:
        raise MethodError(f"quant.quantease_outlier: {s} outliers are fewer than one whole column of {q}")
    info: dict[str, Any] = {"outliers": s}
    # the first outliers and the grid of the other entries
    factor = None
    if opts.selection == "saliency":
        factor = start_factor(problem, dataclasses.replace(opts, init="gptq_act"))
        score = W * np.sqrt(factor.precision)[None, :]
    else:
        score = W
    rows, cols = select(score, s, opts.structure)
    keep = np.zeros(W.shape, dtype=bool)
    keep[rows, cols] = True
    base = make_grid(W, problem.bits, sym=problem.sym, group_size=problem.group_size, clip=problem.clip, exclude=keep)
    # start: Ŵ on the grid off the outliers (0 on them), H the kept values
    reuse = factor if opts.init == "gptq_act" else None
    Q, grid, G, start_info = start(problem, W, opts, base_grid=base, keep=keep, factor=reuse)
    info.update(start_info)
    # GPTQ keeps the outliers at their error-compensated values; the other starts at W's
    H = np.where(keep, Q if opts.init.startswith("gptq") else W, 0.0)
    Q = np.where(keep, 0.0, Q)  # (so T − Ŵ = W − H − Ŵ is unchanged, and G with it)
    order = act_order(Sigma) if opts.order == "act" else np.arange(p)
    where = np.argsort(order)  # column c of W is column where[c] of the state
    TS = problem.W_Sigma - H @ Sigma if s else problem.W_Sigma
    state = CDState(W - H, Q, Sigma, grid, order=order, block_size=opts.block_size, symmetric=problem.sym, G=G, TS=TS)
    out = Outliers(q, rows.astype(np.int64), where[cols].astype(np.int64), H[rows, cols])
    step = opts.alpha / lambda_max(Sigma) if s else 0.0
    history = [state.objective()] if opts.init != "w" else []
    status, total = "converged", 0
    f_prev = np.inf
    for t in range(max(opts.max_passes, 1)):
        reason = ctx.stop_reason()
        if reason is not None:
            status = reason
            break
        status, passes = descend(state, opts, ctx, passes=1, offset=total, unquantized=opts.init == "w" and t == 0)
        total += len(passes)
        if s:
            out = _outlier_step(state, out, s, step, opts.structure)
        f = state.objective()
        history.append(f)
        ctx.report(total, f)
        if status not in ("converged", "iteration_limit"):
            break
        if np.isfinite(f_prev) and f_prev - f <= opts.tol * f_prev:
            status = "converged"
            break
        f_prev = f
        status = "iteration_limit"
    Q, grid = state.solution()
    info["pass_objectives"] = history
    orig = order[out.cols]
    return finish(
        problem,
        ctx,
        Q,
        grid,
        status=status,
        iterations=total,
        extras=info,
        outliers=(out.rows.copy(), orig, out.values.copy()),
    )


def _outlier_step(state: CDState, out: Outliers, s: int, step: float, structure: str) -> Outliers:
    """IHT step H ← P_s(H + step·G) (G = −∇f/2), then one exact coordinate step on every kept entry."""
    q, p = state.Q.shape
    H = out.dense((q, p))
    M = H + step * state.G
    rows, cols = select(M, s, structure)
    new = Outliers(q, rows.astype(np.int64), cols.astype(np.int64), M[rows, cols])
    # T = W − H changes by −ΔH: apply the difference entry by entry
    delta = new.dense((q, p)) - H
    r, c = np.nonzero(delta)
    TS = state._TS if state._TS is not None else np.zeros((0, 0))
    kernels.shift_target(state.T, state.G, TS, state.S, r.astype(np.int64), c.astype(np.int64), delta[r, c])
    kernels.outlier_sweep(new.ptr, new.cols, new.values, state.T, state.G, TS, state.S, state.d)
    state.objective()
    return new
