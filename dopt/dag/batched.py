"""Swap evaluation as batched array code (NumPy on the CPU, CuPy on the GPU): one batched Cholesky per size bucket.

For a swap of positions a < b with L = b - a + 1, the new residual scales of positions a..b
are the diagonal of the Cholesky factor of (P B)(P B)^T, where B = Lf[a:b+1, a:b+1] and P
exchanges its first and last rows. Candidates are grouped by L rounded up to a power of
two; each block is padded with an identity (whose diagonal contributes exactly 1 per
padded row), so a bucket is one gather, one batched matmul and one batched Cholesky.
"""

from __future__ import annotations

from typing import Any

import numpy as np

JITTER = 1e-13  # relative diagonal shift that keeps batched Cholesky defined on singular (PSD) blocks


def array_namespace(x: Any) -> Any:
    """cupy for CuPy arrays, else numpy."""
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def swap_deltas_batched(Lf: Any, pos_a: np.ndarray, pos_b: np.ndarray) -> np.ndarray:
    """Change of the l2 order score for each swap (pos_a[k], pos_b[k]); ``Lf`` may live on the GPU."""
    xp = array_namespace(Lf)
    pos_a, pos_b = np.asarray(pos_a, dtype=np.int64), np.asarray(pos_b, dtype=np.int64)
    out = np.empty(pos_a.size)
    lengths = pos_b - pos_a + 1
    buckets = np.maximum(4, 2 ** np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64))
    d = Lf.shape[0]
    diag_sq = Lf.diagonal() ** 2
    prefix = xp.concatenate([xp.zeros(1), xp.cumsum(diag_sq)])
    scale = float(diag_sq.max()) if d else 1.0
    for size in np.unique(buckets):
        members = np.flatnonzero(buckets == size)
        a, L = pos_a[members], lengths[members]
        local = np.arange(size)
        # source row of each padded block row: b first, the middle in place, a last; padding rows map to a
        src = np.where(local[None, :] == 0, L[:, None] - 1, local[None, :])
        src = np.where(local[None, :] == (L[:, None] - 1), 0, src)
        valid = local[None, :] < L[:, None]
        rows = np.where(valid, a[:, None] + src, 0)
        cols = np.where(valid, a[:, None] + local[None, :], 0)
        block = Lf[xp.asarray(rows)[:, :, None], xp.asarray(cols)[:, None, :]]
        keep = xp.asarray(valid[:, :, None] & valid[:, None, :] & (cols[:, None, :] <= rows[:, :, None]))
        block = xp.where(keep, block, 0.0)
        gram = block @ block.transpose(0, 2, 1)
        pad = xp.asarray(~valid, dtype=gram.dtype)
        eye = xp.eye(int(size))
        gram = gram + eye[None] * (pad[:, :, None] + JITTER * scale)
        factor = xp.linalg.cholesky(gram)
        new = (xp.diagonal(factor, axis1=1, axis2=2) ** 2).sum(axis=1) - xp.asarray(size - L) * (1.0 + JITTER * scale)
        old = prefix[xp.asarray(a + L)] - prefix[xp.asarray(a)]
        delta = 0.5 * (new - old)
        out[members] = delta.get() if xp is not np else delta
    return out
