"""``dmmv.local``: iterated best-improvement local search for Discrete Min-Max Violation.

Each pass scores every value of every variable at once (O(nnz(A) |D|), in
parallel), then applies the improving moves in order of merit, rechecking each
one exactly on the state left by the previous ones. Moves are ranked by the
new maximum violation and, on ties, by the p-norm surrogate sum_i (v_i / T)^p,
which gives the flat min-max landscape a slope.

The search starts from the rounded LP relaxation (whose value is a lower
bound) and first smooths: it descends on the surrogate alone for p = 2, 4, ...
(p-norm continuation), then on the max. At a local optimum it applies the
best move of one to three of the worst constraint's variables by up to
``triple_reach`` levels each, found exhaustively (``triples.py``), and descends
again; when there is none, a kick moves a few of that constraint's
variables a level (widening after repeated failures) and the search smooths
and descends again; every few failed kicks it restarts from a random rounding
of the LP point or from random levels near its rounding (uniform levels when
there is no LP point). It stops at the time limit, the stall limit, or a
proven optimum (the LP bound, or zero, is reached).

With ``populations`` > 1 that many independent searches run in lockstep and
share the best point and the stop. The first is the one-population search
itself; the others start from random roundings with their own random streams.
On the GPU their passes and rechecks share kernel launches (``populations.py``).

Along one variable the new max and the surrogate are convex in its value, so
domains of more than ``WINDOW_MIN`` values are searched by bisection on the
CPU rather than scanned (``kernels_cpu.convex_best``).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dopt.core.context import SolveContext
from dopt.core.errors import MethodError
from dopt.core.registry import option, register_method
from dopt.core.result import Result
from dopt.dmmv.populations import ApplyRequest, PassRequest, Request, answer_each, run_lockstep
from dopt.dmmv.problem import DMMVProblem
from dopt.dmmv.state import CpuMatrix, CpuState
from dopt.dmmv.triples import TripleMoves

REL_TOL = 1e-9  # relative tolerance on the max violation when comparing moves
DS_TOL = 1e-9  # minimum surrogate decrease for a tie move to count
LP_INIT_MAX_NNZ = 1_000_000
STATUS_ORDER = ("optimal", "interrupted", "time_limit", "iteration_limit", "converged")  # the run's, over populations

Steps = Generator[Request, Any, Any]  # a search step: yields pass and recheck requests, returns its value


@dataclass(frozen=True)
class LocalOptions:
    """Options of dmmv.local."""

    init: Literal["auto", "lp", "lsq", "random"] = option(
        "auto", "starting point: rounded LP relaxation (also gives a lower bound), rounded least squares, or random"
    )
    x0: Any = option(None, "starting point (values in the domains); overrides init")
    surrogate_power: int = option(8, "p of the tie-breaking surrogate sum_i (v_i/T)^p; a power of two")
    max_stall: int = option(
        0, "stop after this many kicks in a row without improvement (0: never with a time limit, else 50 + 4 sqrt(n))"
    )
    kick_size: int = option(2, "variables perturbed by the first kick; doubles every kick_patience failures")
    kick_patience: int = option(5, "failed kicks before the kick widens")
    kick_max_fraction: float = option(0.25, "largest kick as a fraction of the variables")
    smoothing: bool = option(True, "start (and restart) with p-norm continuation: descend on sum v^p for p = 2, 4, ...")
    restart_after: int = option(2, "failed kicks in a row before a restart (0: never)")
    restart_spread: int = option(2, "every other restart draws levels within this many of the rounded LP point")
    triple_size: int = option(
        64,
        "variables of the worst constraint searched for moves of one to three of them at a local optimum "
        "(0: off; fewer when the moves would exceed 2e6)",
    )
    triple_reach: int = option(2, "levels each variable of such a move may shift")
    max_rounds: int = option(0, "stop after this many passes per population (0: no limit)")
    populations: int = option(
        1, "independent searches run in lockstep, sharing the best point (on the GPU they share kernel launches)"
    )

    def validate(self) -> None:
        p = self.surrogate_power
        if p < 1 or p & (p - 1):
            raise ValueError(f"surrogate_power must be a power of two, got {p}")
        if self.restart_spread < 0 or self.triple_size < 0 or self.triple_reach < 1:
            raise ValueError("restart_spread, triple_size >= 0 and triple_reach >= 1 are required")
        if self.max_stall < 0 or self.kick_size < 1 or self.kick_patience < 1 or self.max_rounds < 0:
            raise ValueError("max_stall, max_rounds >= 0 and kick_size, kick_patience >= 1 are required")
        if self.populations < 1:
            raise ValueError(f"populations must be >= 1, got {self.populations}")
        if not 0 < self.kick_max_fraction <= 1:
            raise ValueError("kick_max_fraction must be in (0, 1]")


@register_method(
    "dmmv.local",
    kind="dmmv",
    options=LocalOptions,
    devices=("cpu", "gpu"),
    default=True,
    summary="iterated local search: parallel exact move scoring, p-norm smoothing, triple moves, kicks, restarts",
)
def solve_local(problem: DMMVProblem, opts: LocalOptions, ctx: SolveContext) -> Result:
    """Run the local search(es) until the time limit, the stall limit or a proven optimum."""
    count = opts.populations
    states, answer = _make_states(problem, ctx.device, count)
    anchor, start, bound = _initial_point(problem, opts, ctx)
    incumbent = _Incumbent(ctx, bound)
    searches, starts = _populations(problem, opts, ctx, states, incumbent, anchor, start)
    statuses = run_lockstep([s.run(x0) for s, x0 in zip(searches, starts, strict=True)], answer)
    status = "optimal" if incumbent.proven_optimal() else min(statuses, key=STATUS_ORDER.index)
    x = problem.value_of(incumbent.levels)
    objective = problem.objective(x)
    if objective < incumbent.value:  # recomputed from scratch, the value may land a rounding below the state's
        ctx.report(incumbent.rounds, objective, bound=bound)
    extras: dict[str, Any] = {
        name: sum(getattr(s, name) for s in searches) for name in ("kicks", "moves", "restarts", "triple_moves")
    }
    extras["populations"] = count
    if bound is not None:
        extras["bound"] = bound
    return Result(
        x=x,
        objective=objective,
        status=status,
        method="dmmv.local",
        device=ctx.device,
        iterations=incumbent.rounds,
        extras=extras,
    )


def _populations(
    problem: DMMVProblem,
    opts: LocalOptions,
    ctx: SolveContext,
    states: list[Any],
    incumbent: _Incumbent,
    anchor: np.ndarray | None,
    start: np.ndarray,
) -> tuple[list[_Search], list[np.ndarray]]:
    """One search per state and its start. Population 0 is the one-population search (``start``, the run's
    random stream); the others draw their own streams from the seed and start from fresh levels."""
    rngs = [ctx.rng] + [np.random.default_rng([ctx.seed, pop]) for pop in range(1, len(states))]
    pairs = zip(states, rngs, strict=True)
    triples = TripleMoves(problem, opts.triple_size, opts.triple_reach) if opts.triple_size else None
    searches = [_Search(problem, opts, ctx, state, incumbent, anchor, rng, triples) for state, rng in pairs]
    return searches, [start] + [search.fresh_levels(pop) for pop, search in enumerate(searches[1:], 1)]


def _make_states(problem: DMMVProblem, device: str, count: int) -> tuple[list[Any], Any]:
    """``count`` search states on ``device`` and the answerer of their pass and recheck requests."""
    if device == "gpu":
        from dopt.dmmv.cuda_state import CudaPopulations

        store = CudaPopulations(problem, count)
        return [store.state(p) for p in range(count)], store.answer
    matrix = CpuMatrix.of(problem)
    states = [CpuState(problem, matrix) for _ in range(count)]
    return states, answer_each(states)


class _Incumbent:
    """The best point over all populations, the lower bound, the pass count and the progress reports."""

    def __init__(self, ctx: SolveContext, bound: float | None) -> None:
        self.ctx, self.bound = ctx, bound
        self.value, self.levels = math.inf, None
        self.rounds = 0

    def offer(self, value: float, levels: np.ndarray) -> None:
        """Keep the point if it is the best so far, and record it then (the history times each improvement)."""
        if self.levels is None or value < self.value - REL_TOL * self.value:
            self.value, self.levels = value, levels.copy()
            self.report()

    def report(self) -> None:
        self.ctx.report(self.rounds, self.value, bound=self.bound)

    def proven_optimal(self) -> bool:
        floor = 0.0 if self.bound is None else self.bound
        return self.value <= floor + REL_TOL * max(floor, 1e-300)


class _Search:
    """The iterated local search over one state; keeps its own best point and offers it to the shared incumbent.

    ``run`` and the steps it calls are coroutines: they yield each full pass and recheck as a
    request (``populations.py``) and receive the answer.
    """

    def __init__(
        self,
        problem: DMMVProblem,
        opts: LocalOptions,
        ctx: SolveContext,
        state: Any,
        incumbent: _Incumbent,
        anchor: np.ndarray | None,
        rng: np.random.Generator,
        triples: TripleMoves | None = None,
    ) -> None:
        self.problem, self.opts, self.ctx, self.state = problem, opts, ctx, state
        self.incumbent, self.anchor, self.rng, self.triples = incumbent, anchor, rng, triples
        self.squarings = round(math.log2(opts.surrogate_power))
        n = problem.shape[1]
        automatic = math.inf if ctx.time_limit is not None else 50 + 4 * int(math.sqrt(n))
        self.max_stall = opts.max_stall or automatic
        self.max_kick = max(1, int(opts.kick_max_fraction * n))
        self.rounds = self.kicks = self.moves = self.restarts = self.triple_moves = 0
        self.best_levels = np.zeros(n, dtype=np.int64)
        self.best = math.inf

    def run(self, start: np.ndarray) -> Steps:
        """Smooth, descend, kick, repeat; return the status."""
        self.state.load(start)
        self.best_levels, self.best = start.copy(), self.state.objective()
        self.incumbent.offer(self.best, self.best_levels)
        stall, kick = 0, self.opts.kick_size
        reason = (yield from self._smooth()) if self.opts.smoothing else None
        while True:
            before = self.best
            reason = reason or (yield from self._descend())
            while reason is None and self._triple_escape():
                reason = yield from self._descend()
            self._keep_if_best()
            if self.best < before - REL_TOL * before:
                stall, kick = 0, self.opts.kick_size
            else:
                stall += 1
                if stall % self.opts.kick_patience == 0:
                    kick = min(2 * kick, self.max_kick)
            if self.incumbent.proven_optimal():
                return "optimal"
            if reason is not None:
                return reason
            if stall >= self.max_stall:
                return "converged"
            if self.opts.restart_after and stall % self.opts.restart_after == 0:
                self.restarts += 1
                self.state.load(self.fresh_levels(self.restarts))
                reason = (yield from self._smooth()) if self.opts.smoothing else None
            else:
                self._kick(kick, from_best=stall % self.opts.kick_patience == 0)
                if self.opts.smoothing:
                    reason = yield from self._descend(smoothing=True)

    def fresh_levels(self, variant: int) -> np.ndarray:
        """A fresh start: a random rounding of the anchor point (odd ``variant``) or random levels near its
        rounding (even).

        Without an anchor the levels are uniform. Near the anchor means within ``restart_spread``
        levels: on large domains a uniform point is far from every good one.
        """
        rng, sizes = self.rng, self.problem.sizes
        if self.anchor is None:
            return (rng.random(sizes.size) * sizes).astype(np.int64)
        if variant % 2 == 1:
            return randomized_rounding(self.problem, self.anchor, rng)
        from dopt.dmmv.relax import round_to_domain

        spread = self.opts.restart_spread
        centre = round_to_domain(self.problem, self.anchor)
        return np.clip(centre + rng.integers(-spread, spread + 1, size=sizes.size), 0, sizes - 1)

    def _keep_if_best(self) -> None:
        value = self.state.objective()
        if value < self.best - REL_TOL * self.best:
            self.best, self.best_levels = value, self.state.levels()
            self.incumbent.offer(self.best, self.best_levels)

    def _stop_reason(self) -> str | None:
        if self.incumbent.proven_optimal():
            return "optimal"
        if self.opts.max_rounds and self.rounds >= self.opts.max_rounds:
            return "iteration_limit"
        return self.ctx.stop_reason()

    def _smooth(self) -> Steps:
        """p-norm continuation: descend on sum_i v_i^p alone for p = 2, 4, ... up to the surrogate power."""
        final = self.squarings
        for sq in range(1, final + 1):
            self.squarings = sq
            reason = yield from self._descend(smoothing=True)
            if reason is not None:
                self.squarings = final
                return reason
        self.squarings = final
        return None

    def _descend(self, smoothing: bool = False) -> Steps:
        """Best-improvement passes until a local optimum; a stop reason if one came first.

        While ``smoothing`` moves are ranked and accepted on the surrogate alone, so
        the max may rise on the way; the best point seen is kept all the same.
        """
        state = self.state
        sq = self.squarings
        while True:
            reason = self._stop_reason()
            if reason is not None:
                return reason
            t_obj = state.objective()
            if t_obj <= 0.0:
                return None
            tol = -1.0 if smoothing else REL_TOL * t_obj
            level, new_max, ds = yield PassRequest(t_obj, sq, tol)
            if smoothing:
                improving = (level >= 0) & (ds < -DS_TOL)
            else:
                improving = (level >= 0) & ((new_max < t_obj - tol) | ((new_max <= t_obj) & (ds < -DS_TOL)))
            cands = np.flatnonzero(improving)
            if cands.size == 0:
                return None
            cands = (
                cands[np.argsort(ds[cands], kind="stable")]
                if smoothing
                else cands[np.lexsort((ds[cands], new_max[cands]))]
            )
            self.moves += yield ApplyRequest(cands, t_obj, sq, tol, DS_TOL)
            self.rounds += 1
            self.incumbent.rounds += 1
            self._keep_if_best()
            if self.incumbent.rounds % 16 == 0:
                self.incumbent.report()

    def _triple_escape(self) -> bool:
        """Apply the best move of up to three variables of the worst constraint if it lowers the max."""
        state = self.state
        t_obj = state.objective()
        if self.triples is None or t_obj <= 0.0:
            return False
        move = self.triples.find(state.levels(), state.violations(), REL_TOL * t_obj)
        if move is None:
            return False
        state.set_levels(*move)
        self.moves += move[0].size
        self.triple_moves += 1
        return True

    def _kick(self, size: int, from_best: bool) -> None:
        """Move some variables of the worst constraint a level, from the current or the best point."""
        self.kicks += 1
        state, rng = self.state, self.rng
        if from_best:
            state.load(self.best_levels)
        base = state.levels()
        v = state.violations()
        worst = int(np.argmax(v))
        cols, coefs = self.problem.row(worst)
        movable = self.problem.sizes[cols] > 1
        cols, coefs = cols[movable], coefs[movable]
        if cols.size == 0:
            cols = np.flatnonzero(self.problem.sizes > 1)
            coefs = rng.choice([-1.0, 1.0], size=cols.size)
            if cols.size == 0:
                return
        pick = rng.choice(cols.size, size=min(size, cols.size), replace=False)
        relieve = -1.0 if state.above(worst) else 1.0
        steps = (relieve * np.sign(coefs[pick])).astype(np.int64)
        flip = rng.random(pick.size) < 0.3
        steps[flip] = rng.choice([-1, 1], size=int(flip.sum()))
        js = cols[pick]
        levels = np.clip(base[js] + steps, 0, self.problem.sizes[js] - 1)
        state.set_levels(js, levels)


def _initial_point(
    problem: DMMVProblem, opts: LocalOptions, ctx: SolveContext
) -> tuple[np.ndarray | None, np.ndarray, float | None]:
    """The continuous anchor point (if any), the starting levels, and the LP lower bound when solved."""
    from dopt.dmmv.relax import lp_relaxation, round_to_domain

    if opts.x0 is not None:
        try:
            x0 = np.asarray(opts.x0, dtype=np.float64)
            return x0, problem.levels(x0), None
        except ValueError as exc:
            raise MethodError(f"option 'x0' of method dmmv.local: {exc}") from None
    init = opts.init
    if init == "auto":
        nnz = problem.A.nnz if problem.is_sparse else problem.A.size
        init = "lp" if nnz <= LP_INIT_MAX_NNZ else "lsq"
    if init == "random":
        return None, (ctx.rng.random(problem.shape[1]) * problem.sizes).astype(np.int64), None
    if init == "lsq":
        anchor = _least_squares_point(problem)
        return anchor, round_to_domain(problem, anchor), None
    left = ctx.time_left()
    relaxation = lp_relaxation(problem, time_limit=None if left is None else 0.5 * left)
    if relaxation.status != "optimal":  # an unfinished LP point is no better than the middle of the box
        anchor = _least_squares_point(problem)
        return anchor, round_to_domain(problem, anchor), None
    return relaxation.x, round_to_domain(problem, relaxation.x), relaxation.bound


def randomized_rounding(problem: DMMVProblem, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Levels of a random rounding of ``x``: up to the next value with probability its fractional position."""
    values = problem.values
    below = np.count_nonzero(values <= x[:, None], axis=1) - 1
    lo = np.clip(below, 0, problem.sizes - 1)
    hi = np.minimum(lo + 1, problem.sizes - 1)
    rows = np.arange(values.shape[0])
    v_lo, v_hi = values[rows, lo], values[rows, hi]
    gap = np.where(hi > lo, v_hi - v_lo, 1.0)
    frac = np.clip((x - v_lo) / gap, 0.0, 1.0)
    return np.where(rng.random(x.size) < frac, hi, lo).astype(np.int64)


def _least_squares_point(problem: DMMVProblem) -> np.ndarray:
    """Weighted least-squares fit of A x to the middle of each finite [lower, upper] range.

    Rows without a finite bound get weight 0, and the weights are applied inside the operator, so no row
    subset or weighted copy of A is made (with a 9000 x 3000 dense A the two copies took 1 s of a 10 s run).
    """
    from scipy.sparse.linalg import LinearOperator, lsmr

    from dopt.dmmv.relax import fit_targets

    rows, target = fit_targets(problem)
    A = problem.A
    w = np.zeros(A.shape[0])
    w[rows] = problem.weights[rows]
    rhs = np.zeros(A.shape[0])
    rhs[rows] = w[rows] * target
    op = LinearOperator(A.shape, matvec=lambda x: w * (A @ x), rmatvec=lambda y: A.T @ (w * y), dtype=np.float64)
    x = lsmr(op, rhs, maxiter=200)[0]
    return np.clip(x, np.nanmin(problem.values, axis=1), np.nanmax(problem.values, axis=1))
