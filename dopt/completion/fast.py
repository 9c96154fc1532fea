"""``completion.fast``: alternating minimisation with approximate row updates (a few warm-started CG steps).

Following Gu, Song, Yin and Zhang (2023), each row's least-squares solve only
needs to be approximately right: a few conjugate-gradient steps on the
normal equations, warm-started from the previous factor and Jacobi
preconditioned, cost O(|Omega| k) per sweep and step instead of the exact
solve's O(|Omega| k^2 + (m + n) k^3). ``init="svd"`` starts, as the paper
does, from the truncated SVD of the observed matrix rescaled by 1/p with
overlong rows shrunk (its incoherence step); the default random start reached
the same validation RMSE sooner in the benchmarks (docs/completion.md). By
default the passes over the entries run in float32 while that still lowers
the objective, then in float64 to the double-precision fixed point
(``precision="mixed"``): the inner solves are approximate anyway, and float32
halves their memory traffic. On the GPU every row's CG step runs at once as
sparse products (``batched.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from dopt.completion import kernels
from dopt.completion.altmin import MakeSolver, RowSolver, run_altmin
from dopt.completion.batched import device_solver
from dopt.completion.problem import CompletionProblem
from dopt.core.context import SolveContext
from dopt.core.registry import option, register_method
from dopt.core.result import Result


@dataclass(frozen=True)
class FastOptions:
    """Options of completion.fast."""

    cg_steps: int = option(3, "conjugate-gradient steps per row and half-sweep")
    preconditioner: Literal["jacobi", "none"] = option("jacobi", "CG preconditioner: the Gram diagonal, or none")
    max_sweeps: int = option(100, "stop after this many sweeps (one sweep updates U, then V)")
    tol: float = option(1e-6, "stop when a sweep lowers the objective by less than this fraction")
    init: Literal["random", "svd"] = option(
        "random", "starting factors: random, or the truncated SVD of the rescaled observed matrix (the paper's start)"
    )
    clip: float = option(2.0, "svd init: shrink rows longer than clip * sqrt(k/m) (0: no clipping)")
    precision: Literal["mixed", "double"] = option(
        "mixed", "passes over the entries in float32 until the sweeps stall, then float64 (mixed), or float64 only"
    )

    def validate(self) -> None:
        if self.cg_steps < 1 or self.max_sweeps < 1:
            raise ValueError("cg_steps and max_sweeps must be >= 1")
        if not self.tol >= 0 or self.clip < 0:
            raise ValueError("tol and clip must be >= 0")


@register_method(
    "completion.fast",
    kind="completion",
    options=FastOptions,
    devices=("cpu", "gpu"),
    summary="approximate alternating minimisation: a few warm-started, Jacobi-preconditioned CG steps per row",
)
def solve_fast(problem: CompletionProblem, opts: FastOptions, ctx: SolveContext) -> Result:
    """Alternate approximate row and column updates."""
    jacobi = opts.preconditioner == "jacobi"
    make = device_solver("cg", opts.cg_steps, jacobi) if ctx.device == "gpu" else _cpu_cg(opts.cg_steps, jacobi)
    return run_altmin(
        problem,
        ctx,
        make,
        method="completion.fast",
        init=opts.init,
        max_sweeps=opts.max_sweeps,
        tol=opts.tol,
        clip=opts.clip,
        precision=opts.precision,
    )


def _cpu_cg(steps: int, jacobi: bool) -> MakeSolver:
    """The Numba CG row update, as a ``make_solver`` for ``run_altmin``."""

    def make(ptr: np.ndarray, idx: np.ndarray) -> RowSolver:
        def solve(y: np.ndarray, W: np.ndarray, lam: np.ndarray, X: np.ndarray) -> np.ndarray:
            return kernels.cg_rows(ptr, idx, y, W, lam, X, steps, jacobi)

        return solve

    return make
