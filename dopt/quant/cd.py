"""Blocked cyclic coordinate descent on the layer-wise objective, and exact line searches on the grids.

The state keeps G = (T − Ŵ)Σ for the target T (W, or W − H with outliers H),
in the column order of the descent (columns are permuted once, so every block
is contiguous). A pass visits the columns block by block: inside a block the
Numba kernel moves each column to its exact minimiser on the grid and keeps
G exact on the block's columns; one GEMM per block then refreshes G
everywhere else. A pass costs about 2·q·p² flops, almost all of it in GEMMs.
The objective is Σ_ij (T − Ŵ)_ij G_ij, O(q·p) at any time.

:meth:`CDState.refine_grids` moves each row's (and group's) scale and
zero-point with the integer codes fixed: for every zero-point z' the best
scale is the exact line search s' = argmin f, in closed form from five
numbers per row and group, and the best (s', z') is taken when it lowers f.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dopt.quant.backend import NUMBA, Backend
from dopt.quant.grid import Grid

REFINE_RTOL = 1e-12  # a grid move must lower a row's objective by this fraction of its scale to count


class CDState:
    """Ŵ, G = (T − Ŵ)Σ and the grid, all in the column order ``order`` of the descent.

    ``G`` (when known) and ``TS`` = TΣ (for the grid line searches) may be
    given in the original column order; they are computed otherwise. The
    arrays live in ``backend.xp`` (NumPy, or CuPy on the GPU); the grid and
    the bookkeeping of rows stay on the host.
    """

    def __init__(
        self,
        target: np.ndarray,
        Q: np.ndarray,
        Sigma: np.ndarray,
        grid: Grid,
        *,
        order: np.ndarray | None = None,
        block_size: int = 128,
        symmetric: bool = False,
        G: np.ndarray | None = None,
        TS: np.ndarray | None = None,
        backend: Backend = NUMBA,
    ) -> None:
        p = Sigma.shape[0]
        xp = backend.xp
        self.backend = backend
        self.perm = np.arange(p) if order is None else np.asarray(order, dtype=np.int64)
        self.inverse = np.argsort(self.perm)
        perm = xp.asarray(self.perm)
        self.S = xp.ascontiguousarray(xp.asarray(Sigma)[perm][:, perm])
        self.d = backend.to_host(xp.diag(self.S)).copy()  # read one entry at a time by the kernels
        if backend.name == "numba":
            self.d = np.ascontiguousarray(self.d)
        self.T = xp.ascontiguousarray(xp.asarray(target)[:, perm])
        self.Q = xp.ascontiguousarray(xp.asarray(Q)[:, perm])
        self.grid = Grid(grid.scale.copy(), grid.zero.copy(), grid.gidx[self.perm], grid.maxq)
        self.block_size = block_size
        self.symmetric = symmetric
        self._TS = None if TS is None else xp.ascontiguousarray(xp.asarray(TS)[:, perm])
        self._ones_S = self.S.sum(axis=0)
        if G is None:
            self.resync()
        else:  # G = (T − Ŵ)Σ known already (from GPTQ)
            self.G = xp.ascontiguousarray(xp.asarray(G)[:, perm])
            self.objective()

    def _rows(self, rows: np.ndarray) -> Any:
        """Row indices as the backend's kernels take them."""
        return rows if self.backend.name == "numba" else self.backend.xp.asarray(rows)

    # ------------------------------------------------------------- queries
    def objective(self, rows: np.ndarray | None = None) -> float:
        """f = tr((T − Ŵ)Σ(T − Ŵ)ᵀ) from the maintained G, recomputing only ``rows`` (default: all)."""
        xp = self.backend.xp
        if rows is None:
            self.rows_f = ((self.T - self.Q) * self.G).sum(axis=1)
        elif rows.size:
            r = self._rows(rows)
            self.rows_f[r] = ((self.T[r] - self.Q[r]) * self.G[r]).sum(axis=1)
        return float(xp.sum(self.rows_f))

    def solution(self) -> tuple[np.ndarray, Grid]:
        """Ŵ and its grid in the original column order (on the host)."""
        grid = Grid(self.grid.scale.copy(), self.grid.zero.copy(), self.grid.gidx[self.inverse], self.grid.maxq)
        return self.backend.to_host(self.Q)[:, self.inverse].copy(), grid

    # ------------------------------------------------------------- updates
    def resync(self) -> None:
        """Recompute G exactly (one GEMM), discarding the rounding drift of the incremental updates."""
        self.G = (self.T - self.Q) @ self.S
        self.objective()

    def sweep(
        self,
        rounded: bool = True,
        *,
        rows: np.ndarray | None = None,
        blocks: list[tuple[int, int]] | None = None,
        force: bool = False,
    ) -> np.ndarray:
        """One pass of cyclic coordinate descent over every column (or the given column ranges).

        Only ``rows`` (indices; default all) are visited: rows are independent
        problems, so a row that no pass or grid move has changed since its last
        pass is at a coordinate-wise minimum and stays there. ``force`` rounds
        every entry to its target's grid point even where that raises the
        objective: the first pass from an unquantized start. Returns the
        boolean mask of the rows that moved.
        """
        q, p = self.Q.shape
        xp, backend = self.backend.xp, self.backend
        rows = np.arange(q) if rows is None else np.asarray(rows, dtype=np.int64)
        moved = np.zeros(q, dtype=bool)
        if rows.size == 0:
            return moved
        every = rows.size == q
        krows = self._rows(rows)
        B = self.block_size
        ranges = blocks if blocks is not None else [(j, min(j + B, p)) for j in range(0, p, B)]
        for j1, j2 in ranges:
            scale, zero = self.grid.column_params(slice(j1, j2))
            if not every:
                scale, zero = scale[rows], zero[rows]
            D = xp.zeros((rows.size, j2 - j1))
            backend.cd_block(
                self.Q,
                self.G,
                self.S,
                self.d,
                j1,
                j2,
                krows,
                backend.asarray(scale),
                backend.asarray(zero),
                self.grid.maxq,
                rounded,
                force,
                D,
            )
            hit = backend.to_host(D.any(axis=1))
            if not hit.any():
                continue
            moved[rows[hit]] = True
            if every and hit.mean() > 0.5:
                if j1 > 0:
                    self.G[:, :j1] -= D @ self.S[j1:j2, :j1]
                if j2 < p:
                    self.G[:, j2:] -= D @ self.S[j1:j2, j2:]
            else:
                sub = self._rows(rows[hit])
                update = D[self._rows(np.flatnonzero(hit))] @ self.S[j1:j2]
                update[:, j1:j2] = 0.0  # the kernel keeps the block's own columns exact
                self.G[sub] -= update
        return moved

    def refine_grids(self, rows: np.ndarray | None = None, allow_zero: bool = True) -> np.ndarray:
        """Exact line search on each row's (and group's) scale, jointly with its zero-point.

        The integer codes c stay fixed; for each zero-point z' (only the
        current one when ``allow_zero`` is False or the grid is symmetric)
        the scale minimising f is closed-form, and the best pair replaces the
        grid when it lowers f. Only ``rows`` (indices; default all) are
        looked at. Returns the boolean mask of the rows whose grid moved.
        """
        q = self.Q.shape[0]
        rows = np.arange(q) if rows is None else np.asarray(rows, dtype=np.int64)
        changed = np.zeros(q, dtype=bool)
        if rows.size == 0:
            return changed
        if self.grid.groups == 1:
            changed[rows] = self._refine_group(rows, None, allow_zero)
        else:
            for g in range(self.grid.groups):
                changed[rows] |= self._refine_group(rows, np.flatnonzero(self.grid.gidx == g), allow_zero)
        return changed

    def _refine_group(self, rows: np.ndarray, cols: np.ndarray | None, allow_zero: bool) -> np.ndarray:
        grid, xp, backend = self.grid, self.backend.xp, self.backend
        g = 0 if cols is None else int(grid.gidx[cols[0]])
        s, z = grid.scale[rows, g], grid.zero[rows, g]
        krows = self._rows(rows)
        if cols is None:  # ŴΣ = TΣ − G: no GEMM beyond the one-off TΣ
            if self._TS is None:
                self._TS = self.T @ self.S
            moments = xp.empty((rows.size, 4))
            backend.grid_moments(self.Q, self.G, self._TS, self._ones_S, krows, xp.asarray(s), xp.asarray(z), moments)
            a, b, u, v = backend.to_host(moments).T
            e = float(xp.sum(self._ones_S))
        else:
            kcols = xp.asarray(cols)
            Q = self.Q[krows][:, kcols]
            G = self.G[krows][:, kcols]
            C = xp.rint(Q / xp.asarray(s)[:, None] + xp.asarray(z)[:, None])  # the integer codes
            Sg = self.S[kcols][:, kcols]
            CS = C @ Sg
            e = float(xp.sum(Sg))
            a, b = backend.to_host((C * CS).sum(axis=1)), backend.to_host(CS.sum(axis=1))
            u, v = backend.to_host((G * C).sum(axis=1)), backend.to_host(G.sum(axis=1))
        m_G = s * (u - z * v)  # m·G for the current values m = s(c − z)
        m_S_m = s * s * (a - 2 * z * b + z * z * e)  # mᵀΣm
        if allow_zero and not self.symmetric:
            zs = np.broadcast_to(np.arange(grid.maxq + 1, dtype=np.float64), (rows.size, grid.maxq + 1))
        else:
            zs = z[:, None]
        # with k' = c − z', the best scale is s' = (k'·G + k'ᵀΣm) / k'ᵀΣk' and f falls by num² / den
        den = a[:, None] - 2 * zs * b[:, None] + zs * zs * e
        num = (u[:, None] - zs * v[:, None]) + s[:, None] * (
            a[:, None] - (z[:, None] + zs) * b[:, None] + (z[:, None] * zs) * e
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            new_s = num / den
            gain = np.where((den > 0) & (new_s > 0), num * num / den, -np.inf)
        best = np.argmax(gain, axis=1)
        pick = np.arange(rows.size)
        delta_f = (2 * m_G + m_S_m) - gain[pick, best]  # f' − f
        better = delta_f < -REFINE_RTOL * np.maximum(np.abs(m_S_m), np.finfo(float).tiny)
        if not better.any():
            return better
        sub = rows[better]
        s_new, z_new = new_s[pick, best][better], zs[pick, best][better]
        if cols is None:
            backend.regrid_rows(
                self.Q,
                self.G,
                self._TS,
                self._ones_S,
                self._rows(sub),
                xp.asarray(s[better]),
                xp.asarray(z[better]),
                xp.asarray(s_new),
                xp.asarray(z_new),
            )
        else:
            kbetter = self._rows(np.flatnonzero(better))
            Q_new = xp.asarray(s_new)[:, None] * (C[kbetter] - xp.asarray(z_new)[:, None])
            delta = Q_new - Q[kbetter]
            ksub = self._rows(sub)
            block = self.Q[ksub]
            block[:, kcols] = Q_new
            self.Q[ksub] = block
            self.G[ksub] -= delta @ self.S[kcols, :]
        grid.scale[sub, g] = s_new
        grid.zero[sub, g] = z_new
        return better
