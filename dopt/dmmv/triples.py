"""Triple moves of ``dmmv.local``: up to three variables of the worst constraint, each shifted by up to r levels.

At a local optimum of single moves the max can often still fall when two or three
variables move together: in the FIR designs (dense A, large domains) a 30 s search
stops where shifting three coefficients by one or two steps lowers the ripple. The
search is exhaustive over the K variables with the largest effect on the worst
constraint, on a small dense block: the rows they touch, sorted by falling violation,
so that a candidate failing on a top row is dropped after a few reads. It runs on the
host for either device; the state only applies the move it returns.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from dopt.dmmv.problem import DMMVProblem

CACHE = True
CHUNKS = 64  # fixed work split: each chunk tightens its own bound, so the result does not depend on the threads
BUDGET = 2_000_000  # most candidate moves scored per search (sets times shift combinations)


@njit(cache=CACHE)
def _new_max(B, g, h, base, limit, a, b, c, da, db, dc):
    """New max violation over the block's rows (``base`` off them), or a value >= ``limit`` once it reaches it."""
    top = base
    for k in range(B.shape[0]):
        d = B[k, a] * da + B[k, b] * db + B[k, c] * dc
        nv = max(g[k] + d, h[k] - d)
        if nv > top:
            top = nv
            if top >= limit:
                return top
    return top


@njit(parallel=True, cache=CACHE)
def best_moves(B, g, h, shifts, sets, base, limit, out_max, out_pick):
    """Best move of each chunk of ``sets``: every combination of the members' shifts, scored below ``limit``.

    ``sets[s]`` lists three columns of ``B``; the last column is zero and stands for "no
    variable", its only shift 0. ``shifts[k, i]`` is the value change of the i-th step of
    column k, NaN outside its domain. ``out_pick[chunk]`` = (set, step of each member).
    """
    steps = shifts.shape[1]
    chunks = out_max.shape[0]
    for ch in prange(chunks):
        best = limit
        out_max[ch] = np.inf
        for s in range(ch * sets.shape[0] // chunks, (ch + 1) * sets.shape[0] // chunks):
            a, b, c = sets[s, 0], sets[s, 1], sets[s, 2]
            for i in range(steps):
                da = shifts[a, i]
                if np.isnan(da):
                    continue
                for j in range(steps):
                    db = shifts[b, j]
                    if np.isnan(db):
                        continue
                    for k in range(steps):
                        dc = shifts[c, k]
                        if np.isnan(dc):
                            continue
                        top = _new_max(B, g, h, base, best, a, b, c, da, db, dc)
                        if top < best:
                            best = top
                            out_max[ch] = top
                            out_pick[ch, 0], out_pick[ch, 1], out_pick[ch, 2], out_pick[ch, 3] = s, i, j, k


class TripleMoves:
    """Finds the best move of up to three variables of the worst constraint, each by up to ``reach`` levels."""

    def __init__(self, problem: DMMVProblem, size: int, reach: int) -> None:
        self.problem, self.reach = problem, reach
        per_set = (2 * reach) ** 3
        self.size = min(size, max(3, _largest_count(BUDGET // per_set)))

    def _block(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows that columns ``cols`` of A touch, and A on them (dense)."""
        A = self.problem.A
        if not self.problem.is_sparse:
            sub = A[:, cols]
            rows = np.flatnonzero(np.any(sub != 0, axis=1))
            return rows, sub[rows]
        sub = sp.csc_array(A[:, cols])
        rows = np.unique(sub.indices)
        return rows, sub[rows].toarray()

    def find(self, levels: np.ndarray, violations: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(variables, new levels) of the move lowering the max the most (by more than ``tol``), or None."""
        p, worst = self.problem, int(np.argmax(violations))
        t = float(violations[worst])
        cols = self._candidates(worst, levels)
        if cols.size == 0:
            return None
        rows, block = self._block(cols)
        off = np.ones(violations.size, dtype=bool)
        off[rows] = False
        base = float(violations[off].max()) if off.any() else 0.0
        if base >= t - tol:
            return None
        x = p.value_of(levels)
        s = p.activities(rows, x)
        w = p.weights[rows]
        g, h = w * (s - p.upper[rows]), w * (p.lower[rows] - s)
        order = np.argsort(-np.maximum(g, h), kind="stable")
        B = np.zeros((rows.size, cols.size + 1))
        B[:, : cols.size] = w[order, None] * block[order]
        shifts = self._shifts(cols, levels)
        sets = _sets(cols.size)
        chunks = min(CHUNKS, len(sets))
        out_max, out_pick = np.empty(chunks), np.zeros((chunks, 4), dtype=np.int64)
        best_moves(B, g[order], h[order], shifts, sets, base, t - tol, out_max, out_pick)
        ch = int(np.argmin(out_max))
        if not np.isfinite(out_max[ch]):
            return None
        members, picks = sets[out_pick[ch, 0]], out_pick[ch, 1:]
        real = members < cols.size
        js = cols[members[real]]
        return js, levels[js] + _step_of(picks[real], self.reach)

    def _candidates(self, worst: int, levels: np.ndarray) -> np.ndarray:
        """Up to ``size`` movable variables of row ``worst``, largest |a_ij| times their level spacing first."""
        cols, coefs = self.problem.row(worst)
        coefs = np.abs(coefs)
        keep = (self.problem.sizes[cols] > 1) & (coefs > 0)
        cols, coefs = cols[keep], coefs[keep]
        values, q = self.problem.values[cols], levels[cols]
        top = np.minimum(q + 1, self.problem.sizes[cols] - 1)
        bottom = np.maximum(q - 1, 0)
        rows = np.arange(cols.size)
        spacing = np.maximum(values[rows, top] - values[rows, q], values[rows, q] - values[rows, bottom])
        return cols[np.argsort(-coefs * spacing, kind="stable")[: self.size]].astype(np.int64)

    def _shifts(self, cols: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Value change of each step (-r..-1, 1..r) of each candidate, NaN outside its domain; a last row for 'none'."""
        steps = _step_of(np.arange(2 * self.reach), self.reach)
        target = levels[cols][:, None] + steps[None, :]
        inside = (target >= 0) & (target < self.problem.sizes[cols][:, None])
        values = self.problem.values[cols]
        rows = np.arange(cols.size)[:, None]
        moved = values[rows, np.clip(target, 0, values.shape[1] - 1)] - values[rows, levels[cols][:, None]]
        none = np.full((1, steps.size), np.nan)
        none[0, 0] = 0.0
        return np.vstack([np.where(inside, moved, np.nan), none])


def _step_of(index: np.ndarray, reach: int) -> np.ndarray:
    """Step (-reach..-1, 1..reach) of each index 0..2 reach - 1."""
    return np.where(index < reach, index - reach, index - reach + 1)


def _largest_count(sets: int) -> int:
    """Largest K with C(K, 3) + C(K, 2) + K <= ``sets``."""
    k = 3
    while (k + 1) * k * (k - 1) // 6 + (k + 1) * k // 2 + k + 1 <= sets:
        k += 1
    return k


@lru_cache(maxsize=8)
def _sets(count: int) -> np.ndarray:
    """Every set of one to three of ``count`` columns, padded with column ``count`` (none)."""
    rows = [(a, count, count) for a in range(count)]
    rows += [(a, b, count) for a, b in combinations(range(count), 2)]
    rows += list(combinations(range(count), 3))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)
