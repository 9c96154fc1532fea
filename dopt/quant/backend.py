"""Where the quant kernels run: Numba on NumPy arrays, or array operations of any namespace (CuPy on the GPU).

The drivers (:mod:`dopt.quant.gptq`, :mod:`dopt.quant.cd`) are written once
against ``backend.xp`` and call the backend's block kernels; every GEMM is an
``@`` of that namespace (BLAS on the CPU, cuBLAS through CuPy). The
array-operation kernels loop over the columns of a block with vector
operations over the rows, so they run unchanged on NumPy, which is how the
tests check them against the Numba kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from dopt.quant import kernels
from dopt.quant.grid import quantize


@dataclass(frozen=True)
class Backend:
    """An array namespace and the block kernels for its arrays."""

    xp: ModuleType
    name: str

    def asarray(self, a: Any) -> Any:
        return self.xp.asarray(a)

    def to_host(self, a: Any) -> np.ndarray:
        return a.get() if hasattr(a, "get") else np.asarray(a)

    def solve_upper(self, U: Any, B: Any) -> Any:
        """X with U X = B for upper-triangular U."""
        if self.name == "cupy":
            from cupyx.scipy.linalg import solve_triangular as solve
        else:
            from scipy.linalg import solve_triangular as solve
        return solve(U, B, lower=False)

    def gptq_block(self, Wb, U, scale, zero, maxq, keep, Qb, Eb) -> None:
        if self.name == "numba":
            kernels.gptq_block(Wb, U, scale, zero, maxq, keep, Qb, Eb)
            return
        xp = self.xp
        B = Wb.shape[1]
        masked = keep.shape[0] > 0
        for i in range(B):
            w = Wb[:, i]
            qv = quantize(w, scale[:, i], zero[:, i], maxq)
            if masked:
                qv = xp.where(keep[:, i], w, qv)
            Qb[:, i] = qv
            e = (w - qv) / U[i, i]
            Eb[:, i] = e
            if i + 1 < B:
                Wb[:, i + 1 :] -= e[:, None] * U[i, i + 1 :][None, :]

    def cd_block(self, Q, G, S, d, j1, j2, rows, scale, zero, maxq, rounded, force, D) -> None:
        if self.name == "numba":
            kernels.cd_block(Q, G, S, d, j1, j2, rows, scale, zero, maxq, rounded, force, D)
            return
        xp = self.xp
        every = rows.shape[0] == Q.shape[0]
        sub = slice(None) if every else rows
        for j in range(j1, j2):
            t = j - j1
            dj = float(d[j])
            if dj <= 0.0:
                if force and rounded:
                    Q[sub, j] = quantize(Q[sub, j], scale[:, t], zero[:, t], maxq)
                continue
            old = Q[sub, j]
            target = old + G[sub, j] / dj
            if rounded:
                new = quantize(target, scale[:, t], zero[:, t], maxq)
                move = new != old
                if not force:
                    move &= xp.abs(new - target) < xp.abs(old - target) - kernels.MARGIN * scale[:, t]
            else:
                new = target
                move = new != old
            delta = xp.where(move, new - old, 0.0)
            Q[sub, j] = old + delta
            D[:, t] += delta
            if every:
                G[:, j1:j2] -= delta[:, None] * S[j, j1:j2][None, :]
            else:
                G[rows, j1:j2] -= delta[:, None] * S[j, j1:j2][None, :]

    def grid_moments(self, Q, G, TS, ones_S, rows, scale, zero, out) -> None:
        if self.name == "numba":
            kernels.grid_moments(Q, G, TS, ones_S, rows, scale, zero, out)
            return
        xp = self.xp
        Qr, Gr = Q[rows], G[rows]
        C = xp.rint(Qr / scale[:, None] + zero[:, None])
        CS = (TS[rows] - Gr) / scale[:, None] + zero[:, None] * ones_S[None, :]
        out[:, 0] = (C * CS).sum(axis=1)
        out[:, 1] = CS.sum(axis=1)
        out[:, 2] = (C * Gr).sum(axis=1)
        out[:, 3] = Gr.sum(axis=1)

    def regrid_rows(self, Q, G, TS, ones_S, rows, scale, zero, new_scale, new_zero) -> None:
        if self.name == "numba":
            kernels.regrid_rows(Q, G, TS, ones_S, rows, scale, zero, new_scale, new_zero)
            return
        xp = self.xp
        C = xp.rint(Q[rows] / scale[:, None] + zero[:, None])
        CS = (TS[rows] - G[rows]) / scale[:, None] + zero[:, None] * ones_S[None, :]
        Q[rows] = new_scale[:, None] * (C - new_zero[:, None])
        G[rows] = TS[rows] - new_scale[:, None] * (CS - new_zero[:, None] * ones_S[None, :])


NUMBA = Backend(np, "numba")
NUMPY = Backend(np, "numpy")  # the array-operation kernels on NumPy: what the GPU path runs, checkable on a CPU


def for_device(device: str) -> Backend:
    """Numba on the CPU; CuPy's array operations (cuBLAS GEMMs) on the GPU."""
    if device == "gpu":
        import cupy

        return Backend(cupy, "cupy")
    return NUMBA
