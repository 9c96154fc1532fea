"""``quant.gptq``: GPTQ (Frantar, Ashkboos, Hoefler and Alistarh, 2023), written from the paper's description.

H = Σ + λI with λ = damping × mean(diag Σ); inputs with Σ_jj = 0 get H_jj = 1
and their weights are zeroed (they do not change the objective). U is the
upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), computed without forming H⁻¹: with
J the reversal permutation, J H J = L Lᵀ gives H = V Vᵀ for the upper
triangular V = J L J, and U = V⁻¹. Columns are quantized in order (descending
diag H with ``act_order``); the error of column i, scaled by 1/U_ii, is
propagated to the later columns of its block of ``block_size`` at once and to
the rest of the matrix by one GEMM per block (the lazy batch update). With
groups, each group's grid is found when its first column is reached, from the
weights updated so far (or from the original weights with ``static_groups``).
A failed Cholesky factorisation raises the damping tenfold and retries.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import lapack

from dopt.core.context import SolveContext
from dopt.core.errors import ProblemError
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.quant.backend import NUMBA, Backend, for_device
from dopt.quant.grid import Grid, find_params, make_grid
from dopt.quant.problem import QuantProblem
from dopt.quant.solution import finish

DAMPING_RETRIES = 6  # a failed factorisation multiplies the damping by 10, this many times at most


@dataclass(frozen=True)
class GPTQOptions:
    """Options of quant.gptq."""

    act_order: bool = option(False, "quantize the columns in order of decreasing Σ_jj (GPTQ's act-order)")
    static_groups: bool = option(False, "with groups and act_order: find every group's grid from the original W")
    block_size: int = option(128, "columns per block of the lazy batch update")
    damping: float | None = option(None, "fraction of mean(diag Σ) added to the diagonal (default: the problem's)")
    auto_damping: bool = option(True, "raise the damping tenfold and retry when the Cholesky factorisation fails")

    def validate(self) -> None:
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.damping is not None and not (0 <= self.damping < np.inf):
            raise ValueError(f"damping must be a finite number >= 0, got {self.damping}")


@dataclass
class Factor:
    """The damped Hessian's inverse Cholesky factor in the order the columns are quantized."""

    U: np.ndarray  # upper triangular, H[perm][:, perm]⁻¹ = UᵀU
    perm: np.ndarray  # quantization order (column perm[k] is quantized k-th)
    dead: np.ndarray  # bool (p,): inputs with Σ_jj = 0
    damping: float  # the damping fraction finally used
    shift: float  # λ, the amount added to the diagonal
    notes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> np.ndarray:
        """1 / U_kk² in the original column order: the conditional precision GPTQ scales each error by."""
        out = np.empty_like(self.U[:, 0])
        out[self.perm] = 1.0 / np.diag(self.U) ** 2
        return out


def act_order(Sigma: np.ndarray) -> np.ndarray:
    """Columns by decreasing Σ_jj (ties in index order)."""
    return np.argsort(-np.diag(Sigma), kind="stable")


def inverse_factor(
    Sigma: np.ndarray, damping: float, *, order: np.ndarray | None = None, auto_damping: bool = True
) -> Factor:
    """U with (H[order][:, order])⁻¹ = UᵀU for H = Σ + λI (dead inputs: H_jj = 1), λ = damping·mean diag Σ.

    A failed factorisation raises the damping tenfold (from 1e-6 when it was
    0), up to DAMPING_RETRIES times when ``auto_damping``; ProblemError after.
    """
    p = Sigma.shape[0]
    diag = np.diag(Sigma).copy()
    dead = diag <= 0
    perm = np.arange(p) if order is None else np.asarray(order)
    H = Sigma.copy()
    H[dead, :] = 0.0
    H[:, dead] = 0.0
    H[dead, dead] = 1.0
    H = H[np.ix_(perm, perm)]
    live = diag[~dead]
    mean = float(live.mean()) if live.size else 1.0
    notes: list[str] = []
    damp = damping
    for attempt in range(DAMPING_RETRIES + 1):
        Hd = H.copy()
        Hd[np.diag_indices(p)] += damp * mean
        Hd[np.diag_indices(p)] = np.where(dead[perm], 1.0, Hd[np.diag_indices(p)])
        U = _upper_inverse_cholesky(Hd)
        if U is not None:
            if attempt:
                notes.append(f"Cholesky failed at damping {damping:g}; succeeded at {damp:g}")
                warnings.warn(f"GPTQ: Σ + λI was not positive definite; damping raised to {damp:g}", stacklevel=3)
            return Factor(U, perm, dead, damp, damp * mean, notes)
        if not auto_damping:
            break
        damp = damp * 10 if damp > 0 else 1e-6
    raise ProblemError(
        f"Sigma: Σ + λI is not positive definite (damping {damp:g} of the mean diagonal); "
        "Sigma may be indefinite or badly scaled; raise the damping or give more calibration tokens"
    )


def _upper_inverse_cholesky(H: np.ndarray) -> np.ndarray | None:
    """Upper U with H⁻¹ = UᵀU, or None when H is not (numerically) positive definite."""
    L, info = lapack.dpotrf(np.ascontiguousarray(H[::-1, ::-1]), lower=1, clean=1)
    if info != 0:
        return None
    V = np.ascontiguousarray(L[::-1, ::-1])  # upper, H = V Vᵀ
    U, info = lapack.dtrtri(V, lower=0)
    diag = np.diag(U)
    if info != 0 or not np.isfinite(U).all() or not (diag > 0).all():
        return None
    return np.triu(U)


def quantize_gptq(
    W: np.ndarray,
    factor: Factor,
    grid: Grid | None,
    *,
    bits: int = 4,
    sym: bool = False,
    clip: bool = False,
    group_size: int = 0,
    block_size: int = 128,
    keep: np.ndarray | None = None,
    gradient: bool = False,
    backend: Backend = NUMBA,
) -> GPTQRun:
    """GPTQ's quantization of ``W`` given the inverse Cholesky factor.

    With ``grid`` given, every column uses its own group's grid from it (static
    grids); otherwise each group of ``group_size`` consecutive columns *in
    quantization order* gets its grid from the error-updated weights when its
    first column is reached (one grid per row when ``group_size`` is 0, found
    from W). ``keep`` (bool q × p) marks entries left in full precision.

    The row errors (w_i − ŵ_i)ᵀΣ(w_i − ŵ_i) come free: with E the scaled
    errors, W − Ŵ = E U in quantization order, so the damped error of a row
    is ‖e_i‖² and the undamped one ‖e_i‖² − λ‖w_i − ŵ_i‖². With ``gradient``,
    G = (W − Ŵ)Σ comes out too, from one triangular solve instead of a GEMM:
    (W − Ŵ)H = E U H = E U⁻ᵀ, and (W − Ŵ)Σ = (W − Ŵ)H − λ(W − Ŵ) on the live
    inputs (0 on the dead ones). The work runs on ``backend`` (Numba kernels
    on NumPy, or array operations of CuPy on the GPU); the results are NumPy.
    """
    q, p = W.shape
    xp = backend.xp
    perm, U = factor.perm, factor.U
    host = W[:, perm].copy()
    host[:, factor.dead[perm]] = 0.0
    Wp = xp.asarray(host).copy()  # updated in place by the error feedback
    Ud = xp.asarray(U)
    maxq = 2**bits - 1 if grid is None else grid.maxq
    dynamic = grid is None and 0 < group_size < p
    if grid is None and not dynamic:
        grid = make_grid(W, bits, sym=sym, clip=clip, exclude=keep)
    if dynamic:
        gidx_perm = np.arange(p) // group_size
        groups = int(gidx_perm[-1]) + 1
        scale, zero = np.empty((q, groups)), np.empty((q, groups))
        starts = set(range(0, p, group_size))
    else:
        col_group = grid.gidx[perm]
        starts = set()
    keep_p = None if keep is None else np.ascontiguousarray(keep[:, perm])
    no_mask = xp.zeros((0, 0), dtype=bool)
    bounds = sorted(set(range(0, p, block_size)) | starts | {p})
    Q = xp.empty_like(Wp)
    E = xp.empty_like(Wp) if gradient else None
    loss = xp.zeros(q)
    for i1, i2 in itertools.pairwise(bounds):
        if dynamic:
            g = i1 // group_size
            if i1 in starts:
                block = backend.to_host(Wp[:, i1 : i1 + group_size])
                if keep_p is not None:
                    block = np.where(keep_p[:, i1 : i1 + group_size], 0.0, block)
                scale[:, g], zero[:, g] = find_params(block, maxq, sym=sym, clip=clip)
            s = np.repeat(scale[:, g : g + 1], i2 - i1, axis=1)
            z = np.repeat(zero[:, g : g + 1], i2 - i1, axis=1)
        else:
            s, z = grid.scale[:, col_group[i1:i2]], grid.zero[:, col_group[i1:i2]]
        Wb = xp.ascontiguousarray(Wp[:, i1:i2])
        Qb = xp.empty_like(Wb)
        Eb = xp.empty_like(Wb)
        mask = no_mask if keep_p is None else xp.asarray(np.ascontiguousarray(keep_p[:, i1:i2]))
        Ub = xp.ascontiguousarray(Ud[i1:i2, i1:i2])
        backend.gptq_block(Wb, Ub, xp.asarray(s), xp.asarray(z), maxq, mask, Qb, Eb)
        Q[:, i1:i2] = Qb
        loss += (Eb * Eb).sum(axis=1)
        if E is not None:
            E[:, i1:i2] = Eb
        if i2 < p:
            Wp[:, i2:] -= Eb @ Ud[i1:i2, i2:]
    Qh = backend.to_host(Q)
    out = np.empty_like(Qh)
    out[:, perm] = Qh
    live = ~factor.dead
    delta = W[:, live] - out[:, live]
    row_errors = np.maximum(backend.to_host(loss) - factor.shift * np.einsum("ij,ij->i", delta, delta), 0.0)
    if dynamic:
        gidx = np.empty(p, dtype=np.int64)
        gidx[perm] = gidx_perm
        grid = Grid(scale, zero, gidx, maxq)
    G = None
    if E is not None:
        Gp = backend.solve_upper(Ud, E.T).T
        Gp -= factor.shift * (xp.asarray(host) - Q)  # (the dead inputs are zeroed below)
        Gp = backend.to_host(Gp)
        G = np.empty_like(Gp)
        G[:, perm] = Gp
        G[:, factor.dead] = 0.0
    return GPTQRun(out, grid, row_errors, G)


@dataclass
class GPTQRun:
    """What :func:`quantize_gptq` returns."""

    Q: np.ndarray  # the quantized weights
    grid: Grid  # their grid
    row_errors: np.ndarray  # (w_i − ŵ_i)ᵀΣ(w_i − ŵ_i)
    G: np.ndarray | None = None  # (W − Ŵ)Σ when asked for


@register_method(
    "quant.gptq",
    kind="quant",
    options=GPTQOptions,
    summary="GPTQ: sequential rounding with inverse-Hessian error feedback, lazy blocked updates, act-order",
    devices=("cpu", "gpu"),
)
def solve_gptq(problem: QuantProblem, opts: GPTQOptions, ctx: SolveContext) -> Result:
    """Quantize the layer with GPTQ."""
    damping = problem.damping if opts.damping is None else opts.damping
    order = act_order(problem.Sigma) if opts.act_order else None
    factor = inverse_factor(problem.Sigma, damping, order=order, auto_damping=opts.auto_damping)
    static = problem.group_size == 0 or opts.static_groups
    run = quantize_gptq(
        problem.W,
        factor,
        problem.grid if static else None,
        bits=problem.bits,
        sym=problem.sym,
        clip=problem.clip,
        group_size=problem.group_size,
        block_size=opts.block_size,
        backend=for_device(ctx.device),
    )
    extras: dict[str, Any] = {"damping": factor.damping}
    if factor.notes:
        extras["notes"] = factor.notes
    return finish(problem, ctx, run.Q, run.grid, status="converged", iterations=1, extras=extras)
