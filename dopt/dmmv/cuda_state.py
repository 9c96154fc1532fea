"""The GPU search states of ``dmmv.local``: ``CpuState``'s operations on Numba-CUDA device arrays.

``CudaPopulations`` holds the states of several independent searches
(populations), one row of each device array per population, and answers their
full passes and rechecks together: one launch for all populations' passes (the
populations run along the grid's y axis) and one for all their rechecks (one
block per population, so the sequential rechecks run side by side on the
multiprocessors). ``CudaState`` is one population seen through ``CpuState``'s
interface, so the search in ``local.py`` is written once for both devices.

Device memory is O(nnz(A) + P (m + n |D|)) for P populations: the weighted
matrix (row-major when dense, for coalesced scoring; CSC for the moves), each
population's row excesses and violations and its per-pass scores. The levels
live on the host (the search reads them often) and are mirrored to the device
after each change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import cuda

from dopt.core.device import cuda_simulator_enabled
from dopt.dmmv import kernels_cuda as k
from dopt.dmmv.populations import ApplyRequest, PassRequest, Request
from dopt.dmmv.problem import DMMVProblem, dense_columns

THREADS = 128  # threads per block
SIMULATOR_THREADS = 8  # the recheck's block under the CUDA simulator
REDUCE_BLOCKS = 32  # blocks of the max-reduction (each thread adds one atomic)

PassOut = tuple[np.ndarray, np.ndarray, np.ndarray]


def _grid(total: int, rows: int = 1) -> tuple[tuple[int, int], int]:
    """((blocks, rows), threads) covering ``total`` threads (at least one) for each of ``rows`` populations."""
    total = max(int(total), 1)
    return (-(-total // THREADS), rows), min(THREADS, total)


def _launch_rows(pops: Sequence[int], *scalars: Sequence[float], sq: Sequence[int]) -> tuple:
    """Device arrays of a launch's populations, its float scalars per population and its squarings."""
    rows = [cuda.to_device(np.asarray(pops, dtype=np.int64))]
    rows += [cuda.to_device(np.asarray(values, dtype=np.float64)) for values in scalars]
    rows.append(cuda.to_device(np.asarray(sq, dtype=np.int64)))
    return tuple(rows)


class CudaPopulations:
    """Levels ``q`` and row excesses ``g``, ``h`` and violations ``v`` of ``count`` populations on the GPU.

    ``g``, ``h``, ``v`` and the matrix are device arrays with one row per population; ``q`` and
    ``indptr`` (launch ranges) stay on the host.
    """

    def __init__(self, problem: DMMVProblem, count: int = 1, moved_rows: int | None = None) -> None:
        """``moved_rows`` caps the rows a recheck tracks as moved to read its maxima from short lists
        (default max(RECHECK_THREADS, m / 16); 0: scan every row per candidate)."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.problem, self.count = problem, count
        w = problem.weights
        weighted = None if problem.is_sparse else w[:, None] * problem.A  # C-ordered, as the scoring kernel reads it
        self.indptr, rows, coefs = problem.weighted_columns() if weighted is None else dense_columns(weighted)
        self.d_indptr = cuda.to_device(self.indptr)
        self.indices = cuda.to_device(rows.astype(np.int32))
        self.coefs = cuda.to_device(coefs)
        self.dense = None if weighted is None else cuda.to_device(weighted)
        self.host_values = np.ascontiguousarray(problem.values)
        self.values = cuda.to_device(self.host_values)
        self.sizes = cuda.to_device(problem.sizes.astype(np.int64))
        self.bounds = [
            cuda.to_device(np.ascontiguousarray(a, dtype=np.float64)) for a in (problem.lower, problem.upper, w)
        ]
        m, n = problem.shape
        self.kmax = self.host_values.shape[1]
        self.q = np.zeros((count, n), dtype=np.int64)
        self.d_q = cuda.to_device(self.q)
        self.g, self.h, self.v, self.old = (cuda.to_device(np.zeros((count, m))) for _ in range(4))
        self.mask = cuda.to_device(np.zeros((count, m), dtype=np.int64))
        self.stamp = 0
        self.top = cuda.to_device(np.zeros(count))  # each population's largest violation
        self.scores = cuda.to_device(np.zeros((count, 2 * self.kmax)))  # the recheck's per-level new max and change
        self.applied = cuda.to_device(np.zeros(count, dtype=np.int64))
        # the simulator runs every thread as a Python thread: a small block keeps it quick
        self.recheck_threads = SIMULATOR_THREADS if cuda_simulator_enabled() else k.RECHECK_THREADS
        self.top_rows = min(m, int(np.diff(self.indptr).max()) + 1)
        cap = max(k.RECHECK_THREADS, m // 16) if moved_rows is None else moved_rows
        if self.top_rows + cap >= m:  # a list as long as the rows saves nothing over the scan
            cap = 0
        self.moved = cuda.device_array((count, max(cap, 1)), dtype=np.int64)
        self.touched = cuda.to_device(np.zeros((count, m if cap else 1), dtype=np.int64))
        self.listed_rows = self.top_rows + cap if cap else 0  # the recheck's list (see kernels_cuda.recheck)
        # per-pass buffers: scores of every level of every variable, bases, best moves
        self.mx, self.ds = (cuda.device_array((count, n * self.kmax)) for _ in range(2))
        self.base, self.out_max, self.out_ds = (cuda.device_array((count, n)) for _ in range(3))
        self.out_level = cuda.device_array((count, n), dtype=np.int64)
        self.d_all_vars = cuda.to_device(np.arange(n, dtype=np.int64))

    def state(self, pop: int) -> CudaState:
        """Population ``pop`` with ``CpuState``'s interface."""
        return CudaState(self, pop)

    def answer(self, pending: dict[int, Request]) -> dict[int, object]:
        """Answer each population's request (keyed by population): the passes in one batch, the rechecks
        in one launch."""
        answers: dict[int, object] = {}
        full = {p: r for p, r in pending.items() if isinstance(r, PassRequest)}
        if full:
            pops = list(full)
            reqs = [full[p] for p in pops]
            outs = self.full_pass(pops, [r.t_obj for r in reqs], [r.squarings for r in reqs], [r.tol for r in reqs])
            answers.update(zip(pops, outs, strict=True))
        applies = {p: r for p, r in pending.items() if isinstance(r, ApplyRequest)}
        if applies:
            pops = list(applies)
            reqs = [applies[p] for p in pops]
            counts = self.apply(
                pops,
                [r.cands for r in reqs],
                [r.t_scale for r in reqs],
                [r.squarings for r in reqs],
                [r.tol for r in reqs],
                [r.ds_tol for r in reqs],
            )
            answers.update(zip(pops, counts, strict=True))
        return answers

    def full_pass(
        self,
        pops: Sequence[int],
        t_objs: Sequence[float],
        squarings: Sequence[int],
        tols: Sequence[float],
    ) -> list[PassOut]:
        """Best move of every variable for each population: (level, new max, surrogate change).
        Level -1 marks a variable with no other value."""
        d_js = self.d_all_vars
        nj, rows = d_js.shape[0], len(pops)
        d_pops, inv_t, tol, sq = _launch_rows(pops, [1.0 / t for t in t_objs], tols, sq=squarings)
        k.old_surrogate[_grid(self.v.shape[1], rows)](self.v, d_pops, inv_t, sq, self.old)
        tail = (self.values, self.sizes, self.d_q, d_js, d_pops, inv_t, sq, self.mx, self.ds)
        grid = _grid(nj * self.kmax, rows)
        if self.dense is not None:
            k.score_dense[grid](self.dense, self.g, self.h, self.old, *tail)
        else:
            order = cuda.to_device(self._top_order(pops, self.top_rows))
            k.sparse_base[_grid(nj, rows)](self.d_indptr, self.indices, order, self.v, d_js, d_pops, self.base)
            csc = (self.d_indptr, self.indices, self.coefs)
            k.score_sparse[grid](*csc, self.g, self.h, self.old, self.base, *tail)
        out = (self.out_level, self.out_max, self.out_ds)
        k.pick[_grid(nj, rows)](self.mx, self.ds, self.kmax, self.sizes, self.d_q, d_js, d_pops, tol, *out)
        return [tuple(a[p].copy_to_host() for a in out) for p in pops]

    def apply(
        self,
        pops: Sequence[int],
        cands: Sequence[np.ndarray],
        t_scales: Sequence[float],
        squarings: Sequence[int],
        tols: Sequence[float],
        ds_tols: Sequence[float],
    ) -> list[int]:
        """Recheck each population's candidates in order on its current state, applying those that still
        improve; the number applied per population.

        One launch of ``recheck`` (one block per population) for all the lists, then one read-back
        of the levels: no host round trip per candidate.
        """
        sizes = [c.size for c in cands]
        if sum(sizes) == 0:
            return [0] * len(pops)
        d_cands = cuda.to_device(np.concatenate([c.astype(np.int64) for c in cands]))
        offsets = cuda.to_device(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        d_pops, inv_t, tol, ds_tol, sq = _launch_rows(pops, [1.0 / t for t in t_scales], tols, ds_tols, sq=squarings)
        csc = (self.d_indptr, self.indices, self.coefs)
        state = (self.g, self.h, self.v, self.values, self.sizes, self.d_q, self.mask, self.stamp + 1)
        order = cuda.to_device(self._top_order(pops, self.listed_rows, ordered=False))
        k.recheck[len(pops), self.recheck_threads](
            d_cands, offsets, d_pops, *csc, *state, inv_t, sq, tol, ds_tol, self.scores, self.applied,
            order, self.touched, self.moved,
        )  # fmt: skip
        self.stamp += int(sum(sizes))
        self.d_q.copy_to_host(self.q)
        applied = self.applied.copy_to_host()
        return [int(applied[p]) if size else 0 for p, size in zip(pops, sizes, strict=True)]

    def load(self, pop: int, levels: np.ndarray) -> None:
        """Set every level of population ``pop`` and recompute its excesses and violations from scratch."""
        p = self.problem
        self.q[pop] = levels
        self.d_q[pop].copy_to_device(self.q[pop])
        s = cuda.to_device(np.ascontiguousarray(p.A @ p.value_of(self.q[pop]), dtype=np.float64))
        k.excesses[_grid(s.shape[0])](s, *self.bounds, self.g[pop], self.h[pop], self.v[pop])

    def objective(self, pop: int) -> float:
        """Population ``pop``'s largest violation."""
        top = self.top[pop : pop + 1]
        top.copy_to_device(np.zeros(1))
        (blocks, _), threads = _grid(self.v.shape[1])
        k.max_violation[min(blocks, REDUCE_BLOCKS), threads](self.v[pop], top)
        return float(top.copy_to_host()[0])

    def set_levels(self, pop: int, js: np.ndarray, levels: np.ndarray) -> None:
        """Move the given variables of population ``pop`` to the given levels unconditionally."""
        q = self.q[pop]
        rows = (self.g[pop], self.h[pop], self.v[pop])
        for j, lvl in zip(js.astype(np.int64), levels.astype(np.int64), strict=True):
            lo, hi = self.indptr[j], self.indptr[j + 1]
            delta = self.host_values[j, lvl] - self.host_values[j, q[j]]
            if hi > lo:
                k.move[_grid(hi - lo)](self.indices, self.coefs, lo, hi, delta, *rows)
            q[j] = lvl
        self.d_q[pop].copy_to_device(q)

    def _top_order(self, pops: Sequence[int], length: int, ordered: bool = True) -> np.ndarray:
        """Per population, the ``length`` most violated rows by decreasing violation, ties by index
        (``argsort(-v)``'s head); with ``ordered`` False the same rows in no particular order (the
        recheck only takes maxima over them).

        With ``top_rows`` a column has fewer rows than the list, so the walk of ``sparse_base``
        always meets a row off the column (or a zero violation) within them; the base it finds has
        the same value as with the full order, whichever rows tie at the cut.
        """
        order = np.empty((len(pops), length), dtype=np.int64)
        for r, pop in enumerate(pops):
            if length:
                v = self.v[pop].copy_to_host()
                top = np.argpartition(-v, length - 1)[:length]
                if ordered:
                    top = np.sort(top)
                    top = top[np.argsort(-v[top], kind="stable")]
                order[r] = top
        return order


class CudaState:
    """One population of a ``CudaPopulations``, with ``CpuState``'s interface."""

    def __init__(self, store: CudaPopulations, pop: int) -> None:
        self.store, self.pop = store, pop

    @property
    def g(self) -> object:
        return self.store.g[self.pop]

    @property
    def h(self) -> object:
        return self.store.h[self.pop]

    @property
    def v(self) -> object:
        return self.store.v[self.pop]

    def load(self, levels: np.ndarray) -> None:
        """Set every level and recompute excesses and violations from scratch (no drift)."""
        self.store.load(self.pop, levels)

    def objective(self) -> float:
        """The current largest violation."""
        return self.store.objective(self.pop)

    def levels(self) -> np.ndarray:
        """A host copy of the levels."""
        return self.store.q[self.pop].copy()

    def violations(self) -> np.ndarray:
        """A host copy of the row violations."""
        return self.v.copy_to_host()

    def above(self, row: int) -> bool:
        """True when row ``row`` is violated from above (its activity must decrease)."""
        return bool(self.store.g[self.pop, row] > self.store.h[self.pop, row])

    def full_pass(self, t_obj: float, squarings: int, tol: float) -> PassOut:
        """Best move of every variable: (level, new max, surrogate change)."""
        return self.store.full_pass([self.pop], [t_obj], [squarings], [tol])[0]

    def apply(self, cands: np.ndarray, t_scale: float, squarings: int, tol: float, ds_tol: float) -> int:
        """Recheck candidates in order on the current state, applying those that still improve."""
        return self.store.apply([self.pop], [cands], [t_scale], [squarings], [tol], [ds_tol])[0]

    def set_levels(self, js: np.ndarray, levels: np.ndarray) -> None:
        """Move the given variables to the given levels unconditionally."""
        self.store.set_levels(self.pop, js, levels)
