"""``completion.als``: exact alternating least squares, every row's k x k normal equations solved by Cholesky.

A sweep forms each row's normal equations from its observed entries and
solves them (rows in parallel with Numba), then does the same for the
columns: O(|Omega| k^2 + (m + n) k^3) per sweep. On the GPU the same
normal equations are formed with sparse products and solved in batches
(``batched.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from dopt.completion import kernels
from dopt.completion.altmin import RowSolver, run_altmin
from dopt.completion.batched import device_solver
from dopt.completion.distributed import blocked_exact, dask_client
from dopt.completion.problem import CompletionProblem
from dopt.core.context import SolveContext
from dopt.core.errors import MethodError
from dopt.core.registry import option, register_method
from dopt.core.result import Result


@dataclass(frozen=True)
class ALSOptions:
    """Options of completion.als."""

    max_sweeps: int = option(50, "stop after this many sweeps (one sweep updates U, then V)")
    tol: float = option(1e-6, "stop when a sweep lowers the objective by less than this fraction")
    init: Literal["random", "svd"] = option(
        "random", "starting factors: random, or the truncated SVD of the rescaled observed matrix"
    )
    clip: float = option(2.0, "svd init: shrink rows longer than clip * sqrt(k/m) (0: no clipping)")
    workers: int = option(0, "solve the row blocks on a local Dask cluster of this many processes (0: here)")
    scheduler: str | None = option(None, "solve the row blocks on the Dask cluster at this address (tcp://host:8786)")
    blocks: int = option(0, "row blocks per half-sweep on Dask (0: 4 per worker)")

    def validate(self) -> None:
        if self.max_sweeps < 1:
            raise ValueError("max_sweeps must be >= 1")
        if not self.tol >= 0 or self.clip < 0:
            raise ValueError("tol and clip must be >= 0")
        if self.workers < 0 or self.blocks < 0:
            raise ValueError("workers and blocks must be >= 0")


@register_method(
    "completion.als",
    kind="completion",
    options=ALSOptions,
    devices=("cpu", "gpu"),
    default=True,
    summary="exact alternating least squares: batched k x k normal equations solved by Cholesky, rows in parallel",
)
def solve_als(problem: CompletionProblem, opts: ALSOptions, ctx: SolveContext) -> Result:
    """Alternate exact row and column ridge solves."""
    settings = {"method": "completion.als", "init": opts.init, "max_sweeps": opts.max_sweeps, "tol": opts.tol}
    if opts.workers or opts.scheduler:
        if ctx.device == "gpu":
            raise MethodError("completion.als: the Dask row blocks run on CPU workers; use device='cpu'")
        with dask_client(opts.workers or 1, opts.scheduler) as client:
            blocks = opts.blocks or 4 * max(len(client.scheduler_info()["workers"]), 1)
            make = blocked_exact(client, blocks, threads=None if opts.scheduler else 1)
            return run_altmin(problem, ctx, make, clip=opts.clip, **settings)
    make = device_solver("exact") if ctx.device == "gpu" else _cpu_exact
    return run_altmin(problem, ctx, make, clip=opts.clip, **settings)


def _cpu_exact(ptr: np.ndarray, idx: np.ndarray) -> RowSolver:
    """The Numba exact row update over one side of Omega."""

    def solve(y: np.ndarray, W: np.ndarray, lam: np.ndarray, X: np.ndarray) -> np.ndarray:
        return kernels.exact_rows(ptr, idx, y, W, lam, X)

    return solve
