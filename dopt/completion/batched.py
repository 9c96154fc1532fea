"""Row updates as whole-array operations over an array namespace: CuPy on the GPU, NumPy standing in for it.

The same code runs on NumPy (with scipy.sparse) and on CuPy (with
cupyx.scipy.sparse): per-row sums over observed entries are products with
the sparse 0/1 row-membership matrix S (rows x entries), the exact update
solves all rows' k x k systems in one batched ``linalg.solve``, and the CG
update runs every row's conjugate-gradient step at once. The Numba kernels
(``kernels.py``) remain the CPU path; this is the GPU path, tested on CPUs with
NumPy as the namespace.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np

from dopt.completion.altmin import MakeSolver, RowSolver
from dopt.core.device import cuda_simulator_enabled, real_gpu_available
from dopt.core.errors import MethodError

GRAM_BUDGET = 1 << 24  # entries x k^2 per block of the exact update (bounds its temporary)


def array_namespace() -> tuple[ModuleType, ModuleType]:
    """(xp, sparse) for the GPU: CuPy on a real device; NumPy and scipy.sparse under the CUDA simulator."""
    if real_gpu_available():
        try:
            import cupy
            import cupyx.scipy.sparse
        except ImportError:
            raise MethodError("the completion GPU path needs CuPy: pip install 'dopt[gpu]'") from None
        return cupy, cupyx.scipy.sparse
    if cuda_simulator_enabled():
        import scipy.sparse

        return np, scipy.sparse
    raise MethodError("no CUDA device visible for the completion GPU path")


class BatchedRows:
    """One side's CSR view of Omega on the device, and its exact and CG row updates."""

    def __init__(self, ptr: np.ndarray, idx: np.ndarray, xp: ModuleType, sparse: ModuleType) -> None:
        self.xp = xp
        nrows, nnz = ptr.size - 1, idx.size
        counts = np.diff(ptr)
        self.nrows, self.nnz = nrows, nnz
        self.idx = xp.asarray(idx)
        self.row_of = xp.asarray(np.repeat(np.arange(nrows), counts))
        self.empty = xp.asarray((counts == 0).astype(np.float64))
        ones = xp.ones(nnz, dtype=xp.float64)
        self.S = sparse.csr_matrix((ones, xp.arange(nnz), xp.asarray(ptr)), shape=(nrows, nnz))
        self.ptr = ptr
        self._blocks: dict[int, list[tuple[int, int, int, int, Any]]] = {}

    @functools.cached_property
    def S32(self) -> Any:
        """S in float32, so per-row sums of float32 terms stay float32 (fast's mixed precision); built on first use."""
        return self.S.astype(self.xp.float32)

    def blocks(self, d: int) -> list[tuple[int, int, int, int, Any]]:
        """Row ranges (with their entry ranges and slice of S) whose entries x d^2 stay near GRAM_BUDGET."""
        if d not in self._blocks:
            per = max(GRAM_BUDGET // (d * d), 1)
            edges, start = [], 0
            while start < self.nrows:
                stop = int(np.searchsorted(self.ptr, self.ptr[start] + per, side="right")) - 1
                stop = min(max(stop, start + 1), self.nrows)
                lo, hi = int(self.ptr[start]), int(self.ptr[stop])
                edges.append((start, stop, lo, hi, self.S[start:stop, lo:hi]))
                start = stop
            self._blocks[d] = edges
        return self._blocks[d]

    def exact(self, y: Any, W: Any, lam: Any) -> Any:
        """Every row's ridge solution from its normal equations, solved in batches (empty rows: 0)."""
        xp = self.xp
        d = W.shape[1]
        Wg = W[self.idx]
        b = self.S @ (Wg * y[:, None])
        X = xp.zeros((self.nrows, d))
        eye = xp.eye(d)
        for r0, r1, lo, hi, S in self.blocks(d):
            block = Wg[lo:hi]
            G = S @ (block[:, :, None] * block[:, None, :]).reshape(hi - lo, d * d)
            G = G.reshape(r1 - r0, d, d)
            trace = xp.trace(G, axis1=1, axis2=2)
            # lam, plus 1 on empty rows (whose right-hand side is 0) and a relative 1e-13 against singular systems
            ridge = lam[r0:r1] + self.empty[r0:r1] + 1e-13 * trace / d
            G = G + ridge[:, None, None] * eye
            X[r0:r1] = xp.linalg.solve(G, b[r0:r1, :, None])[:, :, 0]
        return X

    def cg(self, y: Any, W: Any, lam: Any, X: Any, steps: int, jacobi: bool) -> Any:
        """``steps`` preconditioned CG steps on every row at once, warm-started from X."""
        xp = self.xp
        Wg = W[self.idx]  # in W's dtype: float32 makes the passes over the entries float32
        S = self.S32 if Wg.dtype == xp.float32 else self.S
        lam = lam[:, None]
        e = y.astype(Wg.dtype) - xp.sum(Wg * X[self.row_of].astype(Wg.dtype), axis=1)
        res = S @ (Wg * e[:, None]) - lam * X
        diag = S @ (Wg * Wg) + lam if jacobi else xp.ones_like(X)
        diag = xp.where(diag > 0, diag, 1.0)
        z = res / diag
        p = z
        rz = xp.sum(res * z, axis=1)
        for _ in range(steps):
            Ap = S @ (Wg * xp.sum(Wg * p[self.row_of].astype(Wg.dtype), axis=1)[:, None]) + lam * p
            pAp = xp.sum(p * Ap, axis=1)
            active = (pAp > 0) & (rz > 1e-300)
            alpha = xp.where(active, rz / xp.where(active, pAp, 1.0), 0.0)[:, None]
            X = X + alpha * p
            res = res - alpha * Ap
            z = res / diag
            rz_new = xp.sum(res * z, axis=1)
            beta = xp.where(active, rz_new / xp.where(active, rz, 1.0), 0.0)[:, None]
            p = z + beta * p
            rz = rz_new
        return X * (1.0 - self.empty)[:, None]

    def sse(self, y: Any, W: Any, X: Any) -> Any:
        """Each row's squared error sum_t (y_t - W[idx_t] . X[r])^2."""
        xp = self.xp
        e = y - xp.sum(W[self.idx] * X[self.row_of], axis=1)
        return self.S @ (e * e)


def device_solver(update: str, steps: int = 3, jacobi: bool = True) -> MakeSolver:
    """A ``make_solver(ptr, idx)`` for ``run_altmin`` whose row updates run on the GPU namespace.

    Omega's index views move to the device once; each half-sweep sends the targets and the fixed
    factor, and brings the updated factor (into the host array X) and the rows' squared errors back.
    """
    xp, sparse = array_namespace()
    to_host = getattr(xp, "asnumpy", np.asarray)

    def make(ptr: np.ndarray, idx: np.ndarray) -> RowSolver:
        rows = BatchedRows(ptr, idx, xp, sparse)

        def solve(y: np.ndarray, W: np.ndarray, lam: np.ndarray, X: np.ndarray) -> np.ndarray:
            y_d, W_d, lam_d = xp.asarray(y), xp.asarray(W), xp.asarray(lam)
            if update == "exact":
                out = rows.exact(y_d, W_d, lam_d)
            else:
                out = rows.cg(y_d, W_d, lam_d, xp.asarray(X), steps, jacobi)
            X[:] = to_host(out)
            return to_host(rows.sse(y_d, W_d, out))

        return solve

    return make
