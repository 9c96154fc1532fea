"""The CPU search state of ``dmmv.local``: levels, weighted excesses, violations and their max-tree.

The GPU state in ``cuda_state.py`` offers the same operations on device
arrays, so the search in ``local.py`` is written once for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dopt.dmmv import kernels_cpu as k
from dopt.dmmv.problem import DMMVProblem


@dataclass(frozen=True)
class CpuMatrix:
    """C = diag(w) A as the CPU kernels read it; built once and shared by every population's state."""

    indptr: np.ndarray  # CSC of a sparse C; with a dense C every column is empty here
    indices: np.ndarray
    coefs: np.ndarray
    dense: np.ndarray | None  # a dense C in Fortran order (its columns contiguous), else None

    @classmethod
    def of(cls, problem: DMMVProblem) -> CpuMatrix:
        """The kernels' view of ``problem``'s matrix: a dense A stays dense, with no sparse copy (at
        m n ~ 10^7 one would take seconds to build and twice the memory)."""
        if problem.is_sparse:
            return cls(*problem.weighted_columns(), None)
        m, n = problem.shape
        dense = np.empty((m, n), order="F")
        np.multiply(problem.A, problem.weights[:, None], out=dense)  # one pass, no C-ordered temporary
        return cls(np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0), dense)


class CpuState:
    """Levels ``q`` and the row excesses ``g``, ``h`` and violations ``v`` kept consistent under moves."""

    def __init__(self, problem: DMMVProblem, matrix: CpuMatrix | None = None) -> None:
        """``matrix``: the shared ``CpuMatrix.of(problem)`` (built here when not given)."""
        self.problem = problem
        matrix = CpuMatrix.of(problem) if matrix is None else matrix
        self.indptr, self.indices, self.coefs, self.dense = matrix.indptr, matrix.indices, matrix.coefs, matrix.dense
        m, n = problem.shape
        self.values = np.ascontiguousarray(problem.values)
        self.sizes = problem.sizes.astype(np.int64)
        self.q = np.zeros(n, dtype=np.int64)
        self.g, self.h, self.v = np.zeros(m), np.zeros(m), np.zeros(m)
        self.tree = np.zeros(2 * (1 << max(0, (m - 1).bit_length())))
        self.all_vars = np.arange(n, dtype=np.int64)
        self.no_dense = np.zeros((0, 0), order="F")  # apply's placeholder for "A is sparse"

    def load(self, levels: np.ndarray) -> None:
        """Set every level and recompute excesses and violations from scratch (no drift)."""
        p = self.problem
        self.q[:] = levels
        s = p.A @ p.value_of(self.q)
        k.excesses(s, p.lower, p.upper, p.weights, self.g, self.h, self.v)
        k.tree_build(self.v, self.tree)

    def objective(self) -> float:
        """The current largest violation."""
        return float(self.tree[1])

    def levels(self) -> np.ndarray:
        return self.q.copy()

    def violations(self) -> np.ndarray:
        return self.v.copy()

    def above(self, row: int) -> bool:
        """True when row ``row`` is violated from above (its activity must decrease)."""
        return bool(self.g[row] > self.h[row])

    def full_pass(self, t_obj: float, squarings: int, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best move of every variable: (level, new max, surrogate change). Level -1 marks a variable with no
        other value."""
        js = self.all_vars
        level, new_max, ds = np.empty(js.size, dtype=np.int64), np.empty(js.size), np.empty(js.size)
        tail = (self.values, self.sizes, self.q, js, t_obj, squarings, tol, level, new_max, ds)
        if self.dense is not None:
            k.pass_dense(self.dense, self.g, self.h, self.v, *tail)
        else:
            order = np.argsort(-self.v, kind="stable")
            k.pass_sparse(self.indptr, self.indices, self.coefs, self.g, self.h, self.v, order, *tail)
        return level, new_max, ds

    def apply(self, cands: np.ndarray, t_scale: float, squarings: int, tol: float, ds_tol: float) -> int:
        """Recheck candidates in order on the current state, applying those that still improve."""
        return int(
            k.apply_candidates(
                self.indptr,
                self.indices,
                self.coefs,
                self.no_dense if self.dense is None else self.dense,
                self.g,
                self.h,
                self.v,
                self.values,
                self.sizes,
                self.q,
                self.tree,
                cands.astype(np.int64),
                t_scale,
                squarings,
                tol,
                ds_tol,
            )
        )

    def set_levels(self, js: np.ndarray, levels: np.ndarray) -> None:
        """Move the given variables to the given levels unconditionally."""
        tail = (self.g, self.h, self.v, self.values, self.q, self.tree, js.astype(np.int64), levels.astype(np.int64))
        if self.dense is not None:
            k.set_levels_dense(self.dense, *tail)
        else:
            k.set_levels(self.indptr, self.indices, self.coefs, *tail)
