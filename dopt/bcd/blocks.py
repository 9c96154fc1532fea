"""Fixed block partitions: contiguous, sorted by Lipschitz constant, and forests of a sparse graph."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dopt.bcd.kernels import forest_partition


@dataclass(frozen=True)
class Partition:
    """Blocks as a permutation cut into consecutive runs: block k is ``perm[starts[k]:starts[k + 1]]``."""

    perm: np.ndarray
    starts: np.ndarray  # length n_blocks + 1

    @property
    def n_blocks(self) -> int:
        return len(self.starts) - 1

    def block(self, k: int) -> np.ndarray:
        return self.perm[self.starts[k] : self.starts[k + 1]]

    def sizes(self) -> np.ndarray:
        return np.diff(self.starts)

    def block_sums(self, per_coordinate: np.ndarray) -> np.ndarray:
        """The sum of a per-coordinate score over each block."""
        return np.add.reduceat(per_coordinate[self.perm], self.starts[:-1])

    def padded(self) -> np.ndarray:
        """n_blocks x max_size index matrix, padded with p (an index past the end)."""
        sizes = self.sizes()
        out = np.full((self.n_blocks, int(sizes.max())), len(self.perm), dtype=np.int64)
        for k in range(self.n_blocks):
            out[k, : sizes[k]] = self.block(k)
        return out


def contiguous(p: int, size: int) -> Partition:
    """Blocks 0..size-1, size..2 size-1, ... (the last may be shorter)."""
    return Partition(np.arange(p), np.append(np.arange(0, p, size), p))


def sorted_by_lipschitz(L: np.ndarray, size: int) -> Partition:
    """Coordinates sorted by L_i, then cut in runs of ``size``: similar constants share a block, so L_b stays tight."""
    p = len(L)
    return Partition(np.argsort(-L, kind="stable"), np.append(np.arange(0, p, size), p))


def forests(Q: sp.csr_array | sp.csc_array, L: np.ndarray) -> Partition:
    """Greedy forest packing of the graph of Q: each block induces a forest (visiting nodes by decreasing L_i)."""
    csr = sp.csr_array(Q)
    order = np.argsort(-L, kind="stable").astype(np.int64)
    label = forest_partition(csr.indptr.astype(np.int64), csr.indices.astype(np.int64), order)
    perm = np.argsort(label, kind="stable")
    counts = np.bincount(label)
    return Partition(perm, np.concatenate(([0], np.cumsum(counts))))
