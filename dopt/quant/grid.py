"""Uniform quantization grids: one (scale, zero-point) per output row and input-column group.

Row i, group g holds the values ``scale[i, g] * (c - zero[i, g])`` for integer
codes c in 0..maxq (maxq = 2^bits - 1); the zero-point is an integer in
0..maxq, so 0 is always on the grid. ``gidx[j]`` is the group of input
column j (all zeros without groups). Rounding to the grid is GPTQ's:
``s * (clip(round(x / s) + z, 0, maxq) - z)``, round half to even.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CLIP_GRID = 100  # GPTQ's clipping search: shrink factors 1 - k/100 ...
CLIP_MAX_SHRINK = 0.8  # ... for k < 80
CLIP_NORM = 2.4  # ... scored by sum |q(w) - w|^2.4


@dataclass
class Grid:
    """Per (row, group) uniform grids of ``maxq + 1`` levels containing zero."""

    scale: np.ndarray  # (q, G) float64, > 0
    zero: np.ndarray  # (q, G) float64 holding integers in 0..maxq
    gidx: np.ndarray  # (p,) int64, group of each input column
    maxq: int

    @property
    def groups(self) -> int:
        return self.scale.shape[1]

    def copy(self) -> Grid:
        return Grid(self.scale.copy(), self.zero.copy(), self.gidx.copy(), self.maxq)

    def take_rows(self, rows: Any) -> Grid:
        """The grids of a subset (or repetition) of rows."""
        return Grid(self.scale[rows], self.zero[rows], self.gidx, self.maxq)

    def column_params(self, cols: Any = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Scale and zero of every row at the given columns: two (q, len(cols)) arrays."""
        g = self.gidx[cols]
        return self.scale[:, g], self.zero[:, g]

    def quantize(self, values: np.ndarray, cols: Any = slice(None)) -> np.ndarray:
        """Round ``values`` (q × len(cols)) to the grid of those columns."""
        s, z = self.column_params(cols)
        return quantize(values, s, z, self.maxq)

    def codes(self, values: np.ndarray, cols: Any = slice(None)) -> np.ndarray:
        """Integer codes 0..maxq of the nearest grid points of ``values``."""
        s, z = self.column_params(cols)
        return np.clip(np.round(values / s) + z, 0, self.maxq).astype(np.int64)

    def dequantize(self, codes: np.ndarray, cols: Any = slice(None)) -> np.ndarray:
        s, z = self.column_params(cols)
        return s * (codes - z)

    def as_dict(self) -> dict[str, np.ndarray]:
        """The grid as plain arrays (scale, zero as integers, gidx), for a Result's extras."""
        return {"scale": self.scale.copy(), "zero": self.zero.astype(np.int64), "gidx": self.gidx.copy()}


def quantize(x: Any, scale: Any, zero: Any, maxq: int) -> Any:
    """GPTQ's rounding of ``x`` to ``scale * (c - zero)``, c in 0..maxq (any array namespace)."""
    xp = _namespace(x)
    return scale * (xp.clip(xp.round(x / scale) + zero, 0, maxq) - zero)


def _namespace(x: Any) -> Any:
    """NumPy, or CuPy for CuPy arrays."""
    if isinstance(x, np.ndarray) or not type(x).__module__.startswith("cupy"):
        return np
    import cupy

    return cupy


def group_index(p: int, group_size: int) -> np.ndarray:
    """Column groups of ``group_size`` consecutive columns (one group when 0)."""
    if group_size <= 0 or group_size >= p:
        return np.zeros(p, dtype=np.int64)
    return np.arange(p, dtype=np.int64) // group_size


def find_params(
    W: np.ndarray,
    maxq: int,
    *,
    sym: bool = False,
    clip: bool = False,
    shrinks: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    halvings: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero of each row of ``W`` from its min and max (with 0 inside), GPTQ's ``find_params``.

    ``clip`` runs GPTQ's clipping search: shrink the range by 1 - k/100 (k < 80)
    and keep, per row, the shrink with the least sum |q(w) - w|^2.4.
    ``shrinks`` replaces those factors (the full range is the starting point);
    ``weights`` (one per column) scores a shrink by sum weights·(q(w) - w)^2 instead.
    ``halvings`` > 0 then refines each row's best shrink f: with h the spacing
    of ``shrinks``, f ± h/2, then ± h/4 around the new best, and so on.
    """
    lo = np.minimum(W.min(axis=1), 0.0)
    hi = np.maximum(W.max(axis=1), 0.0)
    if sym:
        hi = np.maximum(-lo, hi)
        lo = -hi
    dead = (lo == 0) & (hi == 0)
    lo = np.where(dead, -1.0, lo)
    hi = np.where(dead, 1.0, hi)
    scale, zero = _params(lo, hi, maxq, sym)
    if not clip:
        return scale, zero
    from dopt.quant.kernels import clip_search

    factors = 1.0 - np.arange(int(CLIP_MAX_SHRINK * CLIP_GRID)) / CLIP_GRID if shrinks is None else shrinks
    w = np.zeros(0) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    scale, zero = scale.copy(), zero.copy()
    factors = np.asarray(factors, dtype=np.float64)
    spacing = float(abs(factors[1] - factors[0])) if factors.size > 1 and halvings else 0.0
    clip_search(np.ascontiguousarray(W), lo, hi, w, factors, maxq, sym, spacing, halvings, scale, zero)
    return scale, zero


def _params(lo: np.ndarray, hi: np.ndarray, maxq: int, sym: bool) -> tuple[np.ndarray, np.ndarray]:
    scale = (hi - lo) / maxq
    zero = np.full_like(scale, (maxq + 1) // 2) if sym else np.round(-lo / scale)
    return scale, zero


def make_grid(
    W: np.ndarray,
    bits: int,
    *,
    sym: bool = False,
    group_size: int = 0,
    clip: bool = False,
    gidx: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    shrinks: np.ndarray | None = None,
    halvings: int = 0,
) -> Grid:
    """The grid of every row and column group of ``W`` (RTN's grid, and the problem's).

    ``gidx`` overrides the consecutive groups of ``group_size``; ``exclude``
    (a boolean q × p mask) leaves entries out of each range (outliers kept in
    full precision). ``weights`` (one per column) make the clipping search
    data-aware: each shrink of ``shrinks`` is scored by the weighted squared
    rounding error (see :func:`find_params`, also for ``halvings``).
    """
    q, p = W.shape
    maxq = 2**bits - 1
    gidx = group_index(p, group_size) if gidx is None else np.asarray(gidx, dtype=np.int64)
    groups = int(gidx.max()) + 1 if p else 1
    scale = np.empty((q, groups))
    zero = np.empty((q, groups))
    for g in range(groups):
        cols = np.flatnonzero(gidx == g)
        block = W[:, cols]
        if exclude is not None:
            keep = ~exclude[:, cols]
            # excluded entries are replaced by 0, which every range holds anyway
            block = np.where(keep, block, 0.0)
        w = None if weights is None else weights[cols]
        scale[:, g], zero[:, g] = find_params(
            block, maxq, sym=sym, clip=clip, shrinks=shrinks, weights=w, halvings=halvings
        )
    return Grid(scale, zero, gidx, maxq)
