"""``dag.notears``: the continuous NOTEARS baseline (Zheng et al., 2018).

min score(W) + lambda1 |W|_1 subject to h(W) = tr(exp(W * W)) - d = 0, by the augmented
Lagrangian: each subproblem min score + rho/2 h^2 + alpha h + lambda1 |W|_1 is solved by
L-BFGS-B on W = W+ - W- with W+- >= 0 (which makes the L1 term smooth); rho grows tenfold
until h falls by a quarter, then alpha += rho h. The l2 score uses the covariance, so a
step costs O(d^3) whatever n is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from dopt.core.context import SolveContext
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.dag.outcome import finish
from dopt.dag.problem import DAGProblem
from dopt.dag.threads import small_blas


@dataclass(frozen=True)
class NotearsOptions:
    """Options of dag.notears."""

    max_iter: int = option(100, "augmented Lagrangian updates of the multiplier")
    h_tol: float = option(1e-8, "stop when the acyclicity violation h(W) is below this")
    rho_max: float = option(1e16, "stop when the penalty weight exceeds this")

    def validate(self) -> None:
        if self.max_iter < 1 or not self.h_tol > 0 or not self.rho_max > 0:
            raise ValueError("max_iter >= 1, h_tol > 0 and rho_max > 0 are required")


def acyclicity(W: np.ndarray) -> tuple[float, np.ndarray]:
    """h(W) = tr(exp(W * W)) - d and its gradient exp(W * W)^T * 2W."""
    E = scipy.linalg.expm(W * W)
    return float(np.trace(E)) - W.shape[0], E.T * 2.0 * W


class _Stop(Exception):
    """Raised inside the objective when the solve must stop."""


def notears_path(
    problem: DAGProblem, ctx: SolveContext, opts: NotearsOptions | None = None, stats: dict | None = None
) -> np.ndarray:
    """The (unthresholded) W at the end of the augmented Lagrangian path."""
    opts = opts or NotearsOptions()
    d, lam = problem.d, problem.lambda1
    bounds = [(0.0, 0.0) if i == j else (0.0, None) for _ in range(2) for i in range(d) for j in range(d)]
    w = np.zeros(2 * d * d)
    rho, alpha, h = 1.0, 0.0, np.inf
    stats = {} if stats is None else stats
    stats.update(status="iteration_limit", iterations=0)

    def split(v: np.ndarray) -> np.ndarray:
        return (v[: d * d] - v[d * d :]).reshape(d, d)

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        if ctx.stop_reason() is not None:
            raise _Stop
        W = split(v)
        hv, gh = acyclicity(W)
        value = problem.loss(W) + 0.5 * rho * hv * hv + alpha * hv + lam * v.sum()
        g = problem.loss_gradient(W) + (rho * hv + alpha) * gh
        np.fill_diagonal(g, 0.0)
        flat = g.ravel()
        return value, np.concatenate([flat + lam, -flat + lam])

    best = w
    for it in range(opts.max_iter):
        try:
            while rho < opts.rho_max:
                sol = scipy.optimize.minimize(fun, w, jac=True, method="L-BFGS-B", bounds=bounds)
                h_new, _ = acyclicity(split(sol.x))
                if h_new > 0.25 * h:
                    rho *= 10.0
                else:
                    break
        except _Stop:
            stats.update(status=ctx.stop_reason() or "interrupted", iterations=it)
            return split(best)
        w, best, h = sol.x, sol.x, h_new
        alpha += rho * h
        ctx.report(it + 1, problem.objective(problem.threshold(split(w))))
        if h <= opts.h_tol or rho >= opts.rho_max:
            stats.update(status="converged", iterations=it + 1)
            break
    return split(best)


@register_method(
    "dag.notears",
    kind="dag",
    options=NotearsOptions,
    summary="continuous NOTEARS baseline: augmented Lagrangian on tr(exp(W*W)) - d = 0, L-BFGS-B steps",
)
def solve_notears(problem: DAGProblem, opts: NotearsOptions, ctx: SolveContext) -> Result:
    """Run NOTEARS and return its thresholded W (cut further to a DAG if thresholding leaves a cycle)."""
    stats: dict = {}
    with small_blas(problem.d):
        W = notears_path(problem, ctx, opts, stats)
    extras = {"h": acyclicity(W)[0]}
    return finish(
        problem, W, problem.objective(W), stats["status"], "dag.notears", ctx, stats["iterations"], None, extras
    )
