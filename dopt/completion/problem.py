"""The low-rank matrix completion problem.

Find U (m x k), V (n x k) and, optionally, a global mean mu with row and
column biases b, c minimising

    sum_{(i,j) in Omega} (M_ij - mu - b_i - c_j - u_i . v_j)^2
        + lam * (sum_i w_i (|u_i|^2 + b_i^2) + sum_j w_j (|v_j|^2 + c_j^2))

where w_i = 1, or the number of observed entries of row i with
``weighted_lambda`` (ALS-WR, Spark's convention). mu is the mean of the
observed values and stays fixed. Rows and columns without observed entries
are allowed: their factors and biases are zero, so their predictions fall
back to mu plus the other side's bias.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from dopt.completion.kernels import column_major
from dopt.core.errors import FormatError, ProblemError
from dopt.core.problem import Problem, check_keys, float_array
from dopt.core.registry import register_kind

DATA_KEYS = {"ratings", "M", "rows", "cols", "values", "validation"}
PARAM_KEYS = {
    "m",
    "n",
    "rank",
    "lam",
    "weighted_lambda",
    "biases",
    "index_base",
    "validation_fraction",
    "split_seed",
}


@register_kind
@dataclass(frozen=True, eq=False, repr=False)
class CompletionProblem(Problem):
    """Observed entries ``(rows[t], cols[t]) -> values[t]`` of an m x n matrix to complete at rank ``rank``.

    Indices are 0-based; entries are stored sorted by (row, column). ``shape``
    defaults to one past the largest index. The optional ``val_*`` arrays are
    held-out entries, used only to report validation RMSE.
    """

    kind = "completion"
    rows: Any
    cols: Any
    values: Any
    shape: Any = None
    rank: int = 10
    lam: float = 0.0
    weighted_lambda: bool = False
    biases: bool = False
    val_rows: Any = None
    val_cols: Any = None
    val_values: Any = None

    def __post_init__(self) -> None:
        rows, cols, values = _entries(self.rows, self.cols, self.values, "")
        if rows.size == 0:
            raise ProblemError("values: no observed entries")
        shape = _shape(self.shape, rows, cols, self.val_rows, self.val_cols)
        rows, cols, values = _sorted_unique(rows, cols, values, shape, "")
        rank = self.rank
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
            raise ProblemError(f"rank: expected a positive integer, got {rank!r}")
        if rank >= min(shape):
            raise ProblemError(f"rank: {rank} must be smaller than min(m, n) = {min(shape)} for shape {shape}")
        lam = self.lam
        if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating, np.integer)):
            raise ProblemError(f"lam: expected a number, got {lam!r}")
        if not (math.isfinite(lam) and lam >= 0):
            raise ProblemError(f"lam: must be finite and >= 0, got {lam!r}")
        for name in ("weighted_lambda", "biases"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ProblemError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        given = [v is not None for v in (self.val_rows, self.val_cols, self.val_values)]
        if any(given) and not all(given):
            raise ProblemError("val_rows/val_cols/val_values: give all three or none")
        vr = vc = vv = None
        if all(given):
            vr, vc, vv = _entries(self.val_rows, self.val_cols, self.val_values, "val_")
            vr, vc, vv = _sorted_unique(vr, vc, vv, shape, "val_")
            both = np.intersect1d(rows * shape[1] + cols, vr * shape[1] + vc, assume_unique=True)
            if both.size:
                i, j = divmod(int(both[0]), shape[1])
                raise ProblemError(f"val_rows/val_cols: entry ({i}, {j}) is both observed and held out")
        fields = {
            "rows": rows,
            "cols": cols,
            "values": values,
            "shape": shape,
            "rank": int(rank),
            "lam": float(lam),
            "weighted_lambda": bool(self.weighted_lambda),
            "biases": bool(self.biases),
            "val_rows": vr,
            "val_cols": vc,
            "val_values": vv,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ views
    @property
    def nnz(self) -> int:
        """Number of observed entries |Omega|."""
        return int(self.values.size)

    @property
    def has_validation(self) -> bool:
        return self.val_values is not None

    @functools.cached_property
    def row_ptr(self) -> np.ndarray:
        """CSR row pointer of Omega (entries are stored in row-major order)."""
        return np.searchsorted(self.rows, np.arange(self.shape[0] + 1)).astype(np.int64)

    @functools.cached_property
    def column_major(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """CSC view of Omega: (column pointer, permutation from the stored order, rows and values by column)."""
        return column_major(self.rows, self.cols, self.values, self.shape[1])

    @property
    def col_order(self) -> tuple[np.ndarray, np.ndarray]:
        """(CSC column pointer, permutation taking the stored (row-major) order to column-major order)."""
        return self.column_major[0], self.column_major[1]

    @functools.cached_property
    def row_counts(self) -> np.ndarray:
        return np.diff(self.row_ptr)

    @functools.cached_property
    def col_counts(self) -> np.ndarray:
        return np.diff(self.col_order[0])

    @property
    def mean(self) -> float:
        """The global mean mu used with biases (0 without biases)."""
        return float(self.values.mean()) if self.biases else 0.0

    def matrix(self) -> sp.csr_array:
        """The observed entries as an m x n CSR matrix (explicit zeros kept)."""
        return sp.csr_array((self.values, self.cols, self.row_ptr), shape=self.shape)

    # ------------------------------------------------------------- objective
    def model(self, x: Any) -> dict[str, np.ndarray | float]:
        """Validate candidate ``x`` (a dict with U, V and, with biases, mu, row_bias, col_bias)."""
        if not isinstance(x, dict) or "U" not in x or "V" not in x:
            raise ProblemError("x: expected a dict with factors 'U' and 'V'")
        m, n = self.shape
        U, V = float_array(x["U"], "x.U"), float_array(x["V"], "x.V")
        if U.shape != (m, self.rank) or V.shape != (n, self.rank):
            raise ProblemError(f"x: expected U {(m, self.rank)} and V {(n, self.rank)}, got {U.shape} and {V.shape}")
        out: dict[str, Any] = {"U": U, "V": V, "mu": 0.0, "row_bias": np.zeros(m), "col_bias": np.zeros(n)}
        if self.biases:
            out["mu"] = float(x.get("mu", self.mean))
            out["row_bias"] = float_array(x.get("row_bias", np.zeros(m)), "x.row_bias").reshape(m)
            out["col_bias"] = float_array(x.get("col_bias", np.zeros(n)), "x.col_bias").reshape(n)
        for name, value in out.items():
            if not np.all(np.isfinite(value)):
                raise ProblemError(f"x: {name} holds NaN or infinite values")
        return out

    def check(self, x: Any) -> None:
        """Raise ProblemError unless ``x`` holds factors (and biases) of the right shapes."""
        self.model(x)

    def residuals(self, x: Any, validation: bool = False) -> np.ndarray:
        """Observed minus predicted values on the training (or held-out) entries, computed with NumPy alone."""
        model = self.model(x)
        if validation:
            return self.val_values - _predict(model, self.val_rows, self.val_cols)
        return self.values - _predict(model, self.rows, self.cols)

    def objective(self, x: Any) -> float:
        """Squared error on the observed entries plus the (weighted) L2 penalty."""
        model = self.model(x)
        err = self.values - _predict(model, self.rows, self.cols)
        return float(err @ err + self.lam * penalty(self, model))

    def penalty_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-row and per-column multipliers of lam: 1, or the entry counts with ``weighted_lambda``."""
        if self.weighted_lambda:
            return self.row_counts.astype(np.float64), self.col_counts.astype(np.float64)
        return np.ones(self.shape[0]), np.ones(self.shape[1])

    def rmse(self, x: Any, validation: bool = False) -> float:
        """Root-mean-square error on the training (or held-out) entries."""
        if validation and not self.has_validation:
            return math.nan
        err = self.residuals(x, validation)
        return float(np.sqrt(np.mean(err * err)))

    # ------------------------------------------------------------------ files
    @classmethod
    def from_data(cls, params: dict[str, Any], data: dict[str, Any], **info: Any) -> CompletionProblem:
        """Build from a manifest: ``ratings`` (N x 3), ``M`` (sparse) or ``rows/cols/values``; optional ``validation``.

        A self-contained ``.npz`` has no ``[params]``: its 0-d entries named like parameters are read as such.
        """
        data = dict(data)
        params = {**{key: _scalar(data.pop(key), key) for key in PARAM_KEYS & set(data)}, **params}
        unknown = set(params) - PARAM_KEYS  # worded as before: params may also come from the data table
        if unknown:
            raise FormatError(f"params: unknown {sorted(unknown)}; completion reads {sorted(PARAM_KEYS)}")
        check_keys("data", data, DATA_KEYS, "completion")
        base = params.get("index_base", 0)
        if base not in (0, 1) or isinstance(base, bool):
            raise FormatError(f"params: index_base must be 0 or 1, got {base!r}")
        rows, cols, values = _observations(data, base)
        shape = None
        if "m" in params or "n" in params:
            if "m" not in params or "n" not in params:
                raise FormatError("params: give both m and n, or neither")
            shape = (params["m"], params["n"])
        elif "M" in data:
            shape = data["M"].shape
        val = (None, None, None)
        if "validation" in data:
            val = _triples(data["validation"], "validation", base)
        fraction = params.get("validation_fraction", 0.0)
        if fraction:
            if val[0] is not None:
                raise FormatError("params: give either validation_fraction or a validation entry, not both")
            rows, cols, values, val = _split(rows, cols, values, fraction, params.get("split_seed", 0))
        kwargs = {k: params[k] for k in ("rank", "lam", "weighted_lambda", "biases") if k in params}
        return cls(
            rows, cols, values, shape=shape, val_rows=val[0], val_cols=val[1], val_values=val[2], **kwargs, **info
        )

    def to_data(self) -> tuple[dict[str, Any], dict[str, Any]]:
        params = {
            "m": self.shape[0],
            "n": self.shape[1],
            "rank": self.rank,
            "lam": self.lam,
            "weighted_lambda": self.weighted_lambda,
            "biases": self.biases,
        }
        data: dict[str, Any] = {"rows": self.rows, "cols": self.cols, "values": self.values}
        if self.has_validation:
            data["validation"] = np.column_stack([self.val_rows, self.val_cols, self.val_values])
        return params, data

    def summary(self) -> dict[str, Any]:
        m, n = self.shape
        return {
            "kind": self.kind,
            "name": self.name,
            "shape": f"{m} x {n}",
            "observed": self.nnz,
            "density": f"{self.nnz / (m * n):.4g}",
            "rank": self.rank,
            "lam": self.lam,
            "weighted_lambda": self.weighted_lambda,
            "biases": self.biases,
            "empty rows/cols": f"{int((self.row_counts == 0).sum())}/{int((self.col_counts == 0).sum())}",
            "held out": 0 if not self.has_validation else int(self.val_values.size),
        }

    def __repr__(self) -> str:
        return f"CompletionProblem(name={self.name!r}, shape={self.shape}, nnz={self.nnz}, rank={self.rank})"


def penalty(problem: CompletionProblem, model: Any) -> float:
    """sum_i w_i (|u_i|^2 + b_i^2) + sum_j w_j (|v_j|^2 + c_j^2) for a model dict or object with U, V and biases."""
    get = model.__getitem__ if isinstance(model, dict) else lambda name: getattr(model, name)
    wr, wc = problem.penalty_weights()
    U, V = get("U"), get("V")
    total = wr @ (np.einsum("ik,ik->i", U, U) + get("row_bias") ** 2)
    return float(total + wc @ (np.einsum("jk,jk->j", V, V) + get("col_bias") ** 2))


def _scalar(value: Any, key: str) -> Any:
    """A 0-d array entry as the Python scalar a manifest parameter would be."""
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise FormatError(f"data '{key}': a parameter must be a single value, got shape {arr.shape}")
    return arr.item()


def _predict(model: dict[str, Any], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """mu + b_i + c_j + u_i . v_j at each (rows[t], cols[t])."""
    out = np.einsum("tk,tk->t", model["U"][rows], model["V"][cols])
    return out + model["mu"] + model["row_bias"][rows] + model["col_bias"][cols]


def _indices(value: Any, name: str) -> np.ndarray:
    """Integer indices from any numeric array; fractional or non-finite values are refused."""
    arr = np.asarray(value)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64).reshape(-1) if arr.ndim <= 1 else _not_vector(name, arr)
    arr = float_array(arr, name)
    if arr.ndim != 1:
        _not_vector(name, arr)
    bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
    if bad.size:
        raise ProblemError(f"{name}: index {float(arr[bad[0]])} at position {int(bad[0])} is not an integer")
    return arr.astype(np.int64)


def _not_vector(name: str, arr: np.ndarray) -> np.ndarray:
    raise ProblemError(f"{name}: expected a 1-D array, got shape {arr.shape}")


def _entries(rows: Any, cols: Any, values: Any, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, c = _indices(rows, f"{prefix}rows"), _indices(cols, f"{prefix}cols")
    v = float_array(values, f"{prefix}values")
    if v.ndim != 1:
        raise ProblemError(f"{prefix}values: expected a 1-D array, got shape {v.shape}")
    if not r.size == c.size == v.size:
        raise ProblemError(f"{prefix}rows/cols/values: lengths differ ({r.size}, {c.size}, {v.size})")
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        t = int(bad[0])
        raise ProblemError(f"{prefix}values: entry ({r[t]}, {c[t]}) is {float(v[t])}; ratings must be finite numbers")
    return r, c, v


def _shape(shape: Any, rows: np.ndarray, cols: np.ndarray, val_rows: Any, val_cols: Any) -> tuple[int, int]:
    if shape is None:
        m, n = int(rows.max()) + 1, int(cols.max()) + 1
        if val_rows is not None and val_cols is not None:
            m = max(m, int(_indices(val_rows, "val_rows").max(initial=-1)) + 1)
            n = max(n, int(_indices(val_cols, "val_cols").max(initial=-1)) + 1)
        return m, n
    try:
        m, n = (int(s) for s in shape)
        exact = all(float(s) == int(s) for s in shape)
    except (TypeError, ValueError):
        raise ProblemError(f"shape: expected (m, n), got {shape!r}") from None
    if not exact or m < 1 or n < 1:
        raise ProblemError(f"shape: expected positive integers (m, n), got {shape!r}")
    return m, n


def _sorted_unique(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int], prefix: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries in row-major order; ProblemError for out-of-range indices and duplicates."""
    m, n = shape
    for name, idx, size in (("rows", rows, m), ("cols", cols, n)):
        bad = np.flatnonzero((idx < 0) | (idx >= size))
        if bad.size:
            t = int(bad[0])
            raise ProblemError(
                f"{prefix}{name}: index {idx[t]} at position {t} is out of range [0, {size}) for shape {shape}"
            )
    key = rows * n + cols
    order = np.argsort(key, kind="stable")
    key = key[order]
    dup = np.flatnonzero(key[1:] == key[:-1])
    if dup.size:
        i, j = divmod(int(key[dup[0]]), n)
        raise ProblemError(f"{prefix}rows/{prefix}cols: entry ({i}, {j}) is given more than once")
    return rows[order], cols[order], np.ascontiguousarray(values[order])


def _triples(value: Any, name: str, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values) from an N x 3 array or a sparse matrix."""
    if sp.issparse(value):
        coo = sp.coo_array(value)
        return coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    arr = float_array(value, name)
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise FormatError(f"data '{name}': expected N rows of (row, column, value), got shape {arr.shape}")
    return _indices(arr[:, 0], f"{name} rows") - base, _indices(arr[:, 1], f"{name} cols") - base, arr[:, 2]


def _observations(data: dict[str, Any], base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    given = [key for key in ("ratings", "M", "rows") if key in data]
    if len(given) != 1:
        raise FormatError("data: give exactly one of 'ratings' (N x 3), 'M' (sparse matrix) or 'rows/cols/values'")
    if given[0] == "rows":
        missing = {"cols", "values"} - set(data)
        if missing:
            raise FormatError(f"data: missing {sorted(missing)}")
        return _indices(data["rows"], "rows") - base, _indices(data["cols"], "cols") - base, data["values"]
    if given[0] == "M" and not sp.issparse(data["M"]):
        raise FormatError("data 'M': expected a sparse matrix file (.mtx or scipy .npz)")
    return _triples(data[given[0]], given[0], base)


def _split(
    rows: np.ndarray, cols: np.ndarray, values: Any, fraction: Any, seed: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Hold out ``fraction`` of the entries at random (numpy default_rng(seed))."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise FormatError(f"params: validation_fraction must be in (0, 1), got {fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise FormatError(f"params: split_seed must be a non-negative integer, got {seed!r}")
    held = np.random.default_rng(seed).random(rows.size) < fraction
    values = np.asarray(values)
    return rows[~held], cols[~held], values[~held], (rows[held], cols[held], values[held])
