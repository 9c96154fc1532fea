"""``dag.topo``: NOTEARS scores optimised over topological orders by pairwise swaps (Deng et al., ICML 2023).

The inner problem of an order regresses each node on its predecessors (closed form
for the unpenalised l2 score, coordinate descent otherwise). The outer search ranks
the swaps of an earlier node j with a later node i by the acyclicity gradient
(I - |W|)^{-1}[j, i], the total path weight j ~> i (weakest first, ties broken by the
loss gradient of the forbidden edge i -> j), scores a small candidate set exactly
by refitting only the positions between the two nodes, then a larger set when the
small one gives no improvement, applies the improving swaps with disjoint position
intervals together (their effects add up), and stops at a local optimum. On the GPU the
l2 swap scores come from batched Cholesky factorisations (CuPy); L1 and logistic inner
problems always run on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dopt.core.context import SolveContext
from dopt.core.errors import MethodError
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.dag import graph
from dopt.dag.batched import swap_deltas_batched
from dopt.dag.inner import fit_all, generic_swap_deltas, l2_order_fit
from dopt.dag.kernels import path_weights, swap_deltas
from dopt.dag.outcome import finish
from dopt.dag.problem import DAGProblem
from dopt.dag.threads import small_blas

IMPROVE_TOL = 1e-12  # a swap must lower the score by this much, relative to max(1, score)


@dataclass(frozen=True)
class TopoOptions:
    """Options of dag.topo."""

    init: Literal["random", "notears"] = option(
        "random", "starting order: random, or the topological order of dag.notears's thresholded W"
    )
    order: Any = option(None, "a starting topological order (a permutation of 0..d-1); overrides init")
    W_init: Any = option(None, "another method's W: the search starts from its topological order (after thresholding)")
    restarts: int = option(1, "independent random starting orders; the best local optimum is returned")
    size_small: int = option(0, "small candidate set size (0: min(1.5 d, sqrt(d) (d-1) log10 d, d(d-1)/2))")
    size_large: int = option(0, "large candidate set size (0: every pair)")
    large_searches: int | None = option(None, "times the large set may be searched (None: until it fails)")
    max_iter: int = option(0, "stop after this many accepted batches of swaps per start (0: no limit)")

    def validate(self) -> None:
        if self.restarts < 1:
            raise ValueError("restarts must be >= 1")
        if min(self.size_small, self.size_large, self.max_iter) < 0:
            raise ValueError("size_small, size_large and max_iter must be >= 0")
        if self.large_searches is not None and self.large_searches < 0:
            raise ValueError("large_searches must be >= 0 or None")


class OrderState:
    """The inner solution of one order: W, the score and what is needed to score swaps."""

    def __init__(self, problem: DAGProblem, order: np.ndarray, xp: Any = None) -> None:
        self.problem = problem
        self.xp = xp  # an array module (CuPy on the GPU) for batched swap scoring; None: the Numba kernel
        self.closed_form = problem.score == "l2" and problem.lambda1 == 0.0
        self.logistic = problem.score == "logistic"
        self.stat = np.ascontiguousarray(problem.data if self.logistic else problem.covariance)
        self.W = np.zeros((problem.d, problem.d))
        self.set_order(order)

    def set_order(self, order: np.ndarray) -> None:
        """Solve the inner problem of ``order`` (warm-started from the current W)."""
        self.order = np.asarray(order, dtype=np.int64)
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(self.order.size)
        if self.closed_form:
            self.factor, self.W, self.score = l2_order_fit(self.problem.covariance, self.order)
        else:
            self.W, self.losses = fit_all(self.stat, self.logistic, self.order, self.W, self.problem.lambda1)
            self.score = float(self.losses.sum())

    def deltas(self, pos_a: np.ndarray, pos_b: np.ndarray) -> np.ndarray:
        """Exact score change of swapping the nodes at positions pos_a[k] < pos_b[k]."""
        if self.closed_form:
            if self.xp is not None:
                return swap_deltas_batched(self.xp.asarray(self.factor), pos_a, pos_b)
            return swap_deltas(self.factor, pos_a, pos_b)
        lam = self.problem.lambda1
        return generic_swap_deltas(self.stat, self.logistic, self.order, self.W, self.losses, lam, pos_a, pos_b)

    def ranked_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every position pair (a < b), weakest path from a to b first, then largest forbidden-edge gradient."""
        order = self.order
        Wp = np.abs(self.W[np.ix_(order, order)])
        paths = path_weights(Wp)
        grad = self.problem.loss_gradient(self.W)[np.ix_(order, order)]
        a, b = np.triu_indices(order.size, 1)
        rank = np.lexsort((-np.abs(grad[b, a]), paths[a, b]))
        return a[rank].astype(np.int64), b[rank].astype(np.int64)


def default_sizes(d: int, size_small: int, size_large: int) -> tuple[int, int]:
    """The candidate set sizes: dagrad's automatic small size, and every pair for the large one."""
    pairs = d * (d - 1) // 2
    auto = min(int(1.5 * d), int(np.sqrt(d) * (d - 1) * np.log10(max(d, 2))), pairs)
    small = min(size_small or max(auto, 1), pairs)
    large = min(size_large or pairs, pairs)
    return small, max(large, small)


def disjoint_swaps(pos_a: np.ndarray, pos_b: np.ndarray, deltas: np.ndarray, tol: float) -> list[int]:
    """Indices of improving swaps, best first, whose position intervals do not overlap."""
    taken = np.zeros(int(pos_b.max(initial=0)) + 1, dtype=bool)
    chosen = []
    for k in np.argsort(deltas, kind="stable"):
        if deltas[k] >= -tol:
            break
        a, b = pos_a[k], pos_b[k]
        if not taken[a : b + 1].any():
            taken[a : b + 1] = True
            chosen.append(int(k))
    return chosen


class Search:
    """The swap search from one starting order."""

    def __init__(self, problem: DAGProblem, opts: TopoOptions, ctx: SolveContext, xp: Any = None) -> None:
        self.problem, self.opts, self.ctx, self.xp = problem, opts, ctx, xp
        self.small, self.large = default_sizes(problem.d, opts.size_small, opts.size_large)
        self.iterations = self.swaps = self.evaluations = 0

    def run(self, order: np.ndarray) -> tuple[OrderState, str]:
        """Descend from ``order`` to a local optimum (or a stop request); returns the state and status."""
        state = OrderState(self.problem, order, self.xp)
        self.ctx.report(self.iterations, state.score)
        used_large, accepted = 0, 0
        while True:
            reason = self.ctx.stop_reason()
            if reason is not None:
                return state, reason
            if self.opts.max_iter and accepted >= self.opts.max_iter:
                return state, "iteration_limit"
            pos_a, pos_b = state.ranked_pairs()
            improved = self._try(state, pos_a[: self.small], pos_b[: self.small])
            budget = self.opts.large_searches
            if not improved and self.large > self.small and (budget is None or used_large < budget):
                used_large += 1
                improved = self._try(state, pos_a[self.small : self.large], pos_b[self.small : self.large])
            if not improved:
                return state, "converged"
            accepted += 1
            self.iterations += 1
            self.ctx.report(self.iterations, state.score)

    def _try(self, state: OrderState, pos_a: np.ndarray, pos_b: np.ndarray) -> bool:
        """Score the candidates; apply the improving disjoint ones (or the best alone if the batch fails)."""
        if pos_a.size == 0:
            return False
        deltas = state.deltas(pos_a, pos_b)
        self.evaluations += pos_a.size
        tol = IMPROVE_TOL * max(1.0, abs(state.score))
        chosen = disjoint_swaps(pos_a, pos_b, deltas, tol)
        if not chosen:
            return False
        old_order, old_score = state.order, state.score
        for batch in (chosen, chosen[:1]):
            order = old_order.copy()
            for k in batch:
                order[pos_a[k]], order[pos_b[k]] = order[pos_b[k]], order[pos_a[k]]
            state.set_order(order)
            if state.score < old_score - tol:
                self.swaps += len(batch)
                return True
        state.set_order(old_order)  # an inexact inner solve misjudged the swap: keep the old order
        return False


def gpu_arrays() -> Any:
    """CuPy, which scores the swaps of the l2 score by batched Cholesky on the GPU."""
    try:
        import cupy
    except ImportError:
        raise MethodError("dag.topo on the GPU needs CuPy: pip install 'dopt[gpu]'") from None
    return cupy


def initial_orders(problem: DAGProblem, opts: TopoOptions, ctx: SolveContext) -> list[np.ndarray]:
    """The starting order(s): given, from a W, from dag.notears, or random."""
    d = problem.d
    if opts.order is not None:
        order = np.asarray(opts.order, dtype=np.int64).ravel()
        if order.shape != (d,) or not np.array_equal(np.sort(order), np.arange(d)):
            raise ValueError(f"order must be a permutation of 0..{d - 1}")
        return [order]
    if opts.W_init is not None or opts.init == "notears":
        if opts.W_init is not None:
            W0 = np.asarray(opts.W_init, dtype=np.float64)
            if W0.shape != (d, d):
                raise ValueError(f"W_init must have shape ({d}, {d}), got {W0.shape}")
        else:
            from dopt.dag.notears import notears_path

            W0 = notears_path(problem, ctx)
        return [graph.topological_order(graph.threshold_to_dag(problem.threshold(W0)))]
    return [ctx.rng.permutation(d) for _ in range(opts.restarts)]


@register_method(
    "dag.topo",
    kind="dag",
    options=TopoOptions,
    devices=("cpu", "gpu"),
    default=True,
    summary="search over topological orders by pairwise swaps (TOPO), exact inner regressions",
)
def solve_topo(problem: DAGProblem, opts: TopoOptions, ctx: SolveContext) -> Result:
    """Run the swap search from each starting order and return the best order's thresholded W."""
    with small_blas(problem.d):
        try:
            starts = initial_orders(problem, opts, ctx)
        except ValueError as exc:
            raise MethodError(f"method dag.topo: {exc}") from None
        search = Search(problem, opts, ctx, gpu_arrays() if ctx.device == "gpu" else None)
        best: OrderState | None = None
        status = "converged"
        for order in starts:
            state, status = search.run(order)
            if best is None or state.score < best.score:
                best = state
            if status in ("time_limit", "interrupted"):
                break
    assert best is not None
    extras = {"swaps": search.swaps, "evaluations": search.evaluations}
    return finish(problem, best.W, best.score, status, "dag.topo", ctx, search.iterations, best.order, extras)
