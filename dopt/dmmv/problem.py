"""The Discrete Min-Max Violation problem.

Choose each x_j from a finite set D_j to minimise the largest weighted
violation ``max_i w_i * max(0, a_i.x - u_i, l_i - a_i.x)``.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from dopt.core.errors import FormatError, ProblemError
from dopt.core.problem import Problem, check_keys, float_array, float_vector, require_finite
from dopt.core.registry import register_kind

DATA_KEYS = {"A", "lower", "upper", "b", "values", "weights"}


@register_kind
@dataclass(frozen=True, eq=False, repr=False)
class DMMVProblem(Problem):
    """min over x_j in D_j of max_i w_i * max(0, a_i.x - upper_i, lower_i - a_i.x).

    ``A`` is an m x n dense array or scipy.sparse matrix; ``values`` is either
    one 1-D domain shared by every variable or an n x k array of per-variable
    domains padded with NaN (stored sorted, duplicates removed). ``lower`` and
    ``upper`` may hold -inf / +inf; pass ``b`` instead for equalities.
    """

    kind = "dmmv"
    A: Any
    values: Any
    lower: Any = None
    upper: Any = None
    weights: Any = None
    b: InitVar[Any] = None

    def __post_init__(self, b: Any) -> None:
        A = _matrix(self.A)
        m, n = A.shape
        if b is not None:
            if self.lower is not None or self.upper is not None:
                raise ProblemError("b: give either b or lower/upper, not both")
            lower = upper = float_vector(b, "b", m)
            if not np.isfinite(lower).all():
                raise ProblemError("b: contains infinite values")
        else:
            if self.lower is None and self.upper is None:
                raise ProblemError("lower/upper: give b, or at least one of lower and upper")
            lower = np.full(m, -np.inf) if self.lower is None else float_vector(self.lower, "lower", m)
            upper = np.full(m, np.inf) if self.upper is None else float_vector(self.upper, "upper", m)
        bad = np.flatnonzero(lower > upper)
        if bad.size:
            i = int(bad[0])
            raise ProblemError(f"lower/upper: lower > upper in constraint {i} ({lower[i]} > {upper[i]})")
        if np.isposinf(lower).any() or np.isneginf(upper).any():
            raise ProblemError("lower/upper: lower may not be +inf and upper may not be -inf")
        weights = np.ones(m) if self.weights is None else float_vector(self.weights, "weights", m)
        if not (np.isfinite(weights) & (weights > 0)).all():
            raise ProblemError("weights: must be positive and finite")
        values = _domains(self.values, n)
        for name, value in (("A", A), ("lower", lower), ("upper", upper), ("weights", weights), ("values", values)):
            object.__setattr__(self, name, value)

    @property
    def shape(self) -> tuple[int, int]:
        """(m constraints, n variables)."""
        return self.A.shape

    @cached_property
    def sizes(self) -> np.ndarray:
        """Number of values in each variable's domain (computed once; read-only)."""
        sizes = np.count_nonzero(~np.isnan(self.values), axis=1)
        sizes.setflags(write=False)
        return sizes

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.A)

    def violations(self, x: Any) -> np.ndarray:
        """The weighted violation of every constraint at ``x``."""
        s = self.A @ np.asarray(x, dtype=np.float64)
        return self.weights * np.maximum(0.0, np.maximum(s - self.upper, self.lower - s))

    def objective(self, x: Any) -> float:
        """The largest weighted violation at ``x``."""
        return float(self.violations(x).max(initial=0.0))

    def levels(self, x: Any) -> np.ndarray:
        """Index of each x_j in its domain; ProblemError when some x_j is not in D_j."""
        x = np.asarray(x, dtype=np.float64)
        n = self.shape[1]
        if x.shape != (n,):
            raise ProblemError(f"x: expected shape ({n},), got {x.shape}")
        filled = np.where(np.isnan(self.values), np.inf, self.values)
        idx = np.argmin(np.abs(filled - x[:, None]), axis=1)
        chosen = self.values[np.arange(n), idx]
        bad = np.flatnonzero(~np.isclose(chosen, x, rtol=1e-12, atol=1e-12))
        if bad.size:
            j = int(bad[0])
            raise ProblemError(f"x: x[{j}] = {x[j]!r} is not in its domain")
        return idx

    def check(self, x: Any) -> None:
        """Raise ProblemError unless every x_j lies in its domain D_j."""
        self.levels(x)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns and coefficients of the nonzeros of constraint ``i`` (a sparse A keeps a CSR copy for this)."""
        if not self.is_sparse:
            cols = np.flatnonzero(self.A[i])
            return cols, self.A[i, cols]
        lo, hi = self._by_rows.indptr[i], self._by_rows.indptr[i + 1]
        return self._by_rows.indices[lo:hi], self._by_rows.data[lo:hi]

    def activities(self, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """a_i.x for the constraints ``rows``."""
        if not self.is_sparse:
            return (self.A @ x)[rows]
        return self._by_rows[rows] @ x

    @cached_property
    def _by_rows(self) -> sp.csr_array:
        return sp.csr_array(self.A)

    def weighted_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """C = diag(w) A by columns: CSC ``indptr``, ``indices`` (rows, sorted) and ``data`` (int64, int64, float64)."""
        if self.is_sparse:  # A is CSC with summed duplicates and sorted rows (_matrix): C keeps its structure
            A = self.A
            C = sp.csc_array((A.data * self.weights[A.indices], A.indices.copy(), A.indptr.copy()), shape=A.shape)
            C.eliminate_zeros()  # entries stored as zeros; in place, hence the copies: A keeps its index arrays
            return C.indptr.astype(np.int64), C.indices.astype(np.int64), C.data
        return dense_columns(self.weights[:, None] * self.A)

    def value_of(self, levels: np.ndarray) -> np.ndarray:
        """The point whose x_j is the ``levels[j]``-th value of D_j."""
        return self.values[np.arange(self.shape[1]), levels]

    @classmethod
    def from_data(cls, params: dict[str, Any], data: dict[str, Any], **info: Any) -> DMMVProblem:
        if params:
            raise FormatError(f"params: dmmv takes no parameters, got {sorted(params)}")
        check_keys("data", data, DATA_KEYS, "dmmv")
        for key in ("A", "values"):
            if key not in data:
                raise FormatError(f"data: missing '{key}'")
        return cls(
            data["A"],
            data["values"],
            lower=data.get("lower"),
            upper=data.get("upper"),
            weights=data.get("weights"),
            b=data.get("b"),
            **info,
        )

    def to_data(self) -> tuple[dict[str, Any], dict[str, Any]]:
        shared = bool((self.values == self.values[0]).all()) and not np.isnan(self.values).any()
        data: dict[str, Any] = {"A": self.A, "values": self.values[0] if shared else self.values}
        if np.array_equal(self.lower, self.upper):
            data["b"] = self.lower
        else:
            data["lower"], data["upper"] = self.lower, self.upper
        if not np.all(self.weights == 1.0):
            data["weights"] = self.weights
        return {}, data

    def summary(self) -> dict[str, Any]:
        m, n = self.shape
        nnz = self.A.nnz if self.is_sparse else int(np.count_nonzero(self.A))
        sizes = self.sizes
        return {
            "kind": self.kind,
            "name": self.name,
            "variables": n,
            "constraints": m,
            "nonzeros": nnz,
            "storage": "sparse" if self.is_sparse else "dense",
            "domain sizes": f"{sizes.min()}..{sizes.max()}" if sizes.min() != sizes.max() else str(sizes.min()),
            "equalities": int(np.count_nonzero(self.lower == self.upper)),
        }

    def __repr__(self) -> str:
        m, n = self.shape
        return f"DMMVProblem(name={self.name!r}, m={m}, n={n}, sparse={self.is_sparse})"


def dense_columns(C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSC ``indptr``, ``indices`` (rows, sorted) and ``data`` of the dense matrix ``C``.

    Without zeros this is one strided copy; scipy's dense-to-sparse conversion takes
    seconds at m n ~ 10^7.
    """
    columns = C.T  # row j of the transpose is column j of C
    nonzero = columns != 0
    indptr = np.zeros(columns.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(nonzero, axis=1), out=indptr[1:])
    if indptr[-1] == columns.size:
        rows = np.tile(np.arange(columns.shape[1], dtype=np.int64), columns.shape[0])
        return indptr, rows, np.ascontiguousarray(columns, dtype=np.float64).ravel()
    js, rows = np.nonzero(nonzero)
    return indptr, rows.astype(np.int64), columns[js, rows].astype(np.float64)


def _matrix(A: Any) -> np.ndarray | sp.csc_array:
    """A as float64: dense C-order array or CSC sparse array, finite, 2-D and non-empty."""
    if sp.issparse(A):
        if A.dtype.kind not in "biuf":
            raise ProblemError(f"A: {A.dtype} entries; expected real numbers")
        A = sp.csc_array(A, dtype=np.float64)
        A.sum_duplicates()
        A.sort_indices()
    else:
        A = float_array(A, "A")
        if A.ndim != 2:
            raise ProblemError(f"A: expected a 2-D matrix, got shape {A.shape}")
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise ProblemError(f"A: empty matrix of shape {A.shape}")
    require_finite(A, "A")
    return A


def _domains(values: Any, n: int) -> np.ndarray:
    """Per-variable domains as an n x k array, each row sorted, unique, NaN-padded."""
    vals = float_array(values, "values")
    if vals.ndim == 1:
        vals = np.broadcast_to(vals, (n, vals.shape[0]))
    if vals.ndim != 2 or vals.shape[0] != n:
        raise ProblemError(f"values: expected a 1-D domain or an ({n}, k) array, got shape {vals.shape}")
    if np.isinf(vals).any():
        raise ProblemError("values: contains infinite values")
    rows = [np.unique(row[~np.isnan(row)]) for row in vals]
    empty = [j for j, row in enumerate(rows) if row.size == 0]
    if empty:
        raise ProblemError(f"values: the domain of variable {empty[0]} is empty")
    k = max(row.size for row in rows)
    out = np.full((n, k), np.nan)
    for j, row in enumerate(rows):
        out[j, : row.size] = row
    return out
