"""The GPU search state of ``dmmv.local``: ``CpuState``'s operations on Numba-CUDA device arrays.

Device memory is O(nnz(A) + m + n |D|): the weighted matrix (row-major when
dense, for coalesced scoring; CSC for the moves), the row excesses and
violations, the domains and the per-pass scores. The levels live on the host
(the search reads them often) and are mirrored to the device after each change.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import cuda

from dopt.core.device import cuda_simulator_enabled
from dopt.dmmv import kernels_cuda as k
from dopt.dmmv.problem import DMMVProblem

THREADS = 128  # threads per block
SIMULATOR_THREADS = 8  # the recheck's block under the CUDA simulator
REDUCE_BLOCKS = 32  # blocks of the max-reduction (each thread adds one atomic)


def _grid(total: int) -> tuple[int, int]:
    """(blocks, threads) covering ``total`` threads (at least one)."""
    total = max(int(total), 1)
    return -(-total // THREADS), min(THREADS, total)


class CudaState:
    """Levels ``q`` and the row excesses ``g``, ``h`` and violations ``v`` on the GPU, kept consistent under moves.

    ``g``, ``h``, ``v`` and the matrix are device arrays; ``q`` and ``indptr`` (launch ranges) stay on the host.
    """

    def __init__(self, problem: DMMVProblem) -> None:
        self.problem = problem
        w = problem.weights
        csc = sp.csc_array(sp.diags_array(w) @ sp.csc_array(problem.A))
        csc.sort_indices()
        self.indptr = csc.indptr.astype(np.int64)
        self.d_indptr = cuda.to_device(self.indptr)
        self.indices = cuda.to_device(csc.indices.astype(np.int32))
        self.coefs = cuda.to_device(csc.data.astype(np.float64))
        self.dense = None if problem.is_sparse else cuda.to_device(np.ascontiguousarray(w[:, None] * problem.A))
        self.host_values = np.ascontiguousarray(problem.values)
        self.values = cuda.to_device(self.host_values)
        self.sizes = cuda.to_device(problem.sizes.astype(np.int64))
        self.bounds = [
            cuda.to_device(np.ascontiguousarray(a, dtype=np.float64)) for a in (problem.lower, problem.upper, w)
        ]
        m, n = problem.shape
        self.kmax = self.host_values.shape[1]
        self.q = np.zeros(n, dtype=np.int64)
        self.d_q = cuda.to_device(self.q)
        self.g, self.h, self.v, self.old = (cuda.to_device(np.zeros(m)) for _ in range(4))
        self.mask = cuda.to_device(np.zeros(m, dtype=np.int64))
        self.stamp = 0
        self.top = cuda.to_device(np.zeros(1))  # the largest violation
        self.scores = cuda.to_device(np.zeros(2 * self.kmax))  # the recheck's per-level new max and change
        self.applied = cuda.to_device(np.zeros(1, dtype=np.int64))
        # the simulator runs every thread as a Python thread: a small block keeps it quick
        self.recheck_threads = SIMULATOR_THREADS if cuda_simulator_enabled() else k.RECHECK_THREADS
        self.top_rows = min(m, int(np.diff(self.indptr).max()) + 1)
        self._allocate(n)
        self.d_all_vars = cuda.to_device(np.arange(n, dtype=np.int64))

    def _allocate(self, size: int) -> None:
        """Per-pass buffers for up to ``size`` variables: scores of every level, bases, best moves."""
        self.mx, self.ds = cuda.device_array(size * self.kmax), cuda.device_array(size * self.kmax)
        self.base = cuda.device_array(size)
        self.out_level = cuda.device_array(size, dtype=np.int64)
        self.out_max, self.out_ds = cuda.device_array(size), cuda.device_array(size)

    def load(self, levels: np.ndarray) -> None:
        """Set every level and recompute excesses and violations from scratch (no drift)."""
        p = self.problem
        self.q[:] = levels
        self.d_q.copy_to_device(self.q)
        s = cuda.to_device(np.ascontiguousarray(p.A @ p.value_of(self.q), dtype=np.float64))
        k.excesses[_grid(s.shape[0])](s, *self.bounds, self.g, self.h, self.v)

    def objective(self) -> float:
        """The current largest violation."""
        self.top.copy_to_device(np.zeros(1))
        blocks, threads = _grid(self.v.shape[0])
        k.max_violation[min(blocks, REDUCE_BLOCKS), threads](self.v, self.top)
        return float(self.top.copy_to_host()[0])

    def levels(self) -> np.ndarray:
        """A host copy of the levels."""
        return self.q.copy()

    def violations(self) -> np.ndarray:
        """A host copy of the row violations."""
        return self.v.copy_to_host()

    def above(self, row: int) -> bool:
        """True when row ``row`` is violated from above (its activity must decrease)."""
        return bool(self.g[row] > self.h[row])

    def full_pass(
        self, t_obj: float, squarings: int, tol: float, js: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best move of each variable in ``js`` (default all): (level, new max, surrogate change).

        Level -1 marks a variable with no other value.
        """
        d_js = self.d_all_vars if js is None else cuda.to_device(js.astype(np.int64))
        nj = d_js.shape[0]
        if nj == 0:
            return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
        if nj > self.base.shape[0]:
            self._allocate(nj)
        scale = (1.0 / t_obj, int(squarings))
        k.old_surrogate[_grid(self.v.shape[0])](self.v, *scale, self.old)
        tail = (self.values, self.sizes, self.d_q, d_js, *scale, self.mx, self.ds)
        if self.dense is not None:
            k.score_dense[_grid(nj * self.kmax)](self.dense, self.g, self.h, self.old, *tail)
        else:
            order = cuda.to_device(self._top_order())
            k.sparse_base[_grid(nj)](self.d_indptr, self.indices, order, self.v, d_js, self.base)
            csc = (self.d_indptr, self.indices, self.coefs)
            k.score_sparse[_grid(nj * self.kmax)](*csc, self.g, self.h, self.old, self.base, *tail)
        out = (self.out_level, self.out_max, self.out_ds)
        k.pick[_grid(nj)](self.mx, self.ds, self.kmax, self.sizes, self.d_q, d_js, float(tol), *out)
        return tuple(a[:nj].copy_to_host() for a in out)

    def apply(self, cands: np.ndarray, t_scale: float, squarings: int, tol: float, ds_tol: float) -> int:
        """Recheck candidates in order on the current state, applying those that still improve.

        One launch of the one-block ``recheck`` kernel for the whole list, then one read-back of
        the levels: no host round trip per candidate.
        """
        if cands.size == 0:
            return 0
        d_cands = cuda.to_device(cands.astype(np.int64))
        csc = (self.d_indptr, self.indices, self.coefs)
        state = (self.g, self.h, self.v, self.values, self.sizes, self.d_q, self.mask, self.stamp + 1)
        scale = (1.0 / t_scale, int(squarings), float(tol), float(ds_tol))
        k.recheck[1, self.recheck_threads](d_cands, *csc, *state, *scale, self.scores, self.applied)
        self.stamp += int(cands.size)
        self.d_q.copy_to_host(self.q)
        return int(self.applied.copy_to_host()[0])

    def set_levels(self, js: np.ndarray, levels: np.ndarray) -> None:
        """Move the given variables to the given levels unconditionally."""
        for j, lvl in zip(js.astype(np.int64), levels.astype(np.int64), strict=True):
            self._move(j, lvl)
        self.d_q.copy_to_device(self.q)

    def _top_order(self) -> np.ndarray:
        """The ``top_rows`` most violated rows by decreasing violation, ties by index (``argsort(-v)``'s head).

        A column has fewer rows than ``top_rows``, so the walk of ``sparse_base``
        always meets a row off the column (or a zero violation) within them; the
        base it finds has the same value as with the full order, whichever rows
        tie at the cut.
        """
        v = self.v.copy_to_host()
        top = np.sort(np.argpartition(-v, self.top_rows - 1)[: self.top_rows])
        return top[np.argsort(-v[top], kind="stable")]

    def _move(self, j: int, lvl: int) -> None:
        """Move variable ``j`` to level ``lvl`` on the device (host levels only; the caller syncs ``d_q``)."""
        lo, hi = self.indptr[j], self.indptr[j + 1]
        delta = self.host_values[j, lvl] - self.host_values[j, self.q[j]]
        if hi > lo:
            k.move[_grid(hi - lo)](self.indices, self.coefs, lo, hi, delta, self.g, self.h, self.v)
        self.q[j] = lvl
