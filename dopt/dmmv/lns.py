"""Large-neighbourhood polish for DMMV: exact sub-MILPs over given sets of variables near the current point.

``dmmv.local`` moves one to three variables at a time. Some of its local optima
only fall when a dozen or more variables move together: on a 101-tap band-pass
FIR design a 15% lower ripple needs 14 coefficients of one parity shifted by
one to three steps at once. ``polish`` frees one set of variables at a time,
each within ``reach`` levels of its current level, holds the others, and
solves that small DMMV exactly with HiGHS (``dmmv.milp``, the current point as
MIP start), keeping every improvement, until a whole sweep over the sets
improves nothing or the time is up. Which sets help is the caller's knowledge
of the problem (``dopt.dmmv.fir.strided_neighbourhoods`` for filters).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dopt.dmmv.problem import DMMVProblem

REL_TOL = 1e-9  # an improvement must lower the max by more than this fraction


@dataclass(frozen=True)
class Polished:
    """The polished point ``x``, its ``objective``, the sub-MILPs solved and how many of them improved it."""

    x: np.ndarray
    objective: float
    subproblems: int
    improvements: int
    status: str  # "converged" (a sweep improved nothing), "time_limit" or "optimal" (no violation left)


def neighbourhood_problem(problem: DMMVProblem, levels: np.ndarray, free: np.ndarray, reach: int) -> DMMVProblem:
    """The DMMV over the variables ``free`` within ``reach`` levels of ``levels``, every other variable held.

    The held variables' activity moves into the bounds; each free variable's domain is its
    window of at most 2 ``reach`` + 1 values of its own domain.
    """
    held = np.ones(problem.shape[1], dtype=bool)
    held[free] = False
    x = problem.value_of(levels)
    rest = problem.A[:, held] @ x[held]
    offsets = np.arange(-reach, reach + 1)
    window = levels[free][:, None] + offsets[None, :]
    inside = (window >= 0) & (window < problem.sizes[free][:, None])
    domain = np.where(inside, problem.values[free[:, None], np.clip(window, 0, problem.values.shape[1] - 1)], np.nan)
    return DMMVProblem(
        problem.A[:, free],
        domain,
        lower=problem.lower - rest,
        upper=problem.upper - rest,
        weights=problem.weights,
        name=f"{problem.name or 'dmmv'}-neighbourhood",
    )


def polish(
    problem: DMMVProblem,
    x: Any,
    neighbourhoods: Sequence[Sequence[int]],
    *,
    reach: int = 3,
    time_limit: float = 15.0,
    sub_time_limit: float = 3.0,
) -> Polished:
    """Lower the max violation of ``x`` by exact sub-MILPs over ``neighbourhoods`` (lists of variable indices).

    Sweeps the neighbourhoods in order until one sweep improves nothing or ``time_limit``
    seconds pass; each sub-MILP gets at most ``sub_time_limit`` seconds. The result is
    never worse than ``x``. Needs highspy (the MIP start).
    """
    from dopt.core.solve import solve

    if reach < 1 or not time_limit > 0 or not sub_time_limit > 0:
        raise ValueError("reach must be >= 1 and time_limit, sub_time_limit > 0")
    n = problem.shape[1]
    sets = [np.unique(np.asarray(s, dtype=np.int64)) for s in neighbourhoods]
    for s in sets:
        if s.size == 0 or s[0] < 0 or s[-1] >= n:
            raise ValueError(f"neighbourhoods: each must be a non-empty list of variable indices in [0, {n})")
    levels = problem.levels(x)
    best = problem.objective(problem.value_of(levels))
    deadline = time.monotonic() + time_limit
    solved = improvements = 0
    while True:
        improved = False
        for free in sets:
            if best <= 0.0:
                return _result(problem, levels, best, solved, improvements, "optimal")
            left = deadline - time.monotonic()
            if left <= 0:
                return _result(problem, levels, best, solved, improvements, "time_limit")
            sub = neighbourhood_problem(problem, levels, free, reach)
            point = problem.value_of(levels)
            result = solve(sub, "dmmv.milp", time_limit=min(sub_time_limit, left), x0=point[free])
            solved += 1
            if result.objective < best * (1 - REL_TOL):
                point[free] = result.x
                levels, best = problem.levels(point), problem.objective(point)
                improvements += 1
                improved = True
        if not improved:
            return _result(problem, levels, best, solved, improvements, "converged")


def _result(problem: DMMVProblem, levels: np.ndarray, best: float, solved: int, improved: int, status: str) -> Polished:
    return Polished(problem.value_of(levels), best, solved, improved, status)
