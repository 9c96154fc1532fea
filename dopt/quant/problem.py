"""The layer-wise quantization problem: min over grid points Ŵ of ‖(W − Ŵ)X‖²_F.

W is the layer's weight matrix (q outputs × p inputs) and X its calibration
inputs (p × N tokens); only Σ = X Xᵀ matters, since
‖(W − Ŵ)X‖²_F = tr((W − Ŵ) Σ (W − Ŵ)ᵀ), and a problem may be given Σ directly.
Each row of Ŵ (each group of ``group_size`` input columns of a row) lies on its
own uniform grid of 2^bits levels (see :mod:`dopt.quant.grid`), except at most
``outliers`` entries kept in full precision.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from dopt.core.errors import FormatError, ProblemError
from dopt.core.problem import Problem, check_keys, float_array, require_finite
from dopt.core.registry import register_kind
from dopt.quant.grid import Grid, group_index, make_grid

PARAM_KEYS = {"bits", "sym", "group_size", "clip", "outliers", "damping"}
DATA_KEYS = {"W", "X", "Sigma", "X_heldout", "Sigma_heldout"}
SYMMETRY_RTOL = 1e-6  # Σ must be symmetric to this relative tolerance (it is then symmetrised exactly)
GRID_RTOL = 1e-9  # check(): how close to a grid point an entry must be


@register_kind
@dataclass(frozen=True, eq=False, repr=False)
class QuantProblem(Problem):
    """Quantize ``W`` (q × p) to minimise ‖(W − Ŵ)X‖²_F = tr((W − Ŵ)Σ(W − Ŵ)ᵀ).

    Give the calibration inputs as ``X`` (p × N) or ``Sigma`` = X Xᵀ (p × p,
    symmetric positive semidefinite); ``X_heldout`` or ``Sigma_heldout``
    (optional) measure the error on other inputs. Grid: ``bits`` (2..8) per
    entry, asymmetric per row from its min and max (``sym`` for symmetric),
    ``group_size`` input columns per grid (0: one grid per row), ``clip`` for
    GPTQ's clipping search of the range. ``outliers``: entries allowed in full
    precision (a count, or a fraction of q·p when below 1). ``damping``: the
    fraction of Σ's mean diagonal that GPTQ adds to Σ before inverting it.
    """

    kind = "quant"
    W: Any
    X: Any = None
    Sigma: Any = None
    bits: int = 4
    sym: bool = False
    group_size: int = 0
    clip: bool = False
    outliers: float = 0
    damping: float = 0.01
    X_heldout: Any = None
    Sigma_heldout: Any = None

    def __post_init__(self) -> None:
        W = float_array(self.W, "W")
        if W.ndim != 2 or W.size == 0:
            raise ProblemError(f"W: expected a non-empty q x p matrix, got shape {W.shape}")
        require_finite(W, "W")
        p = W.shape[1]
        Sigma = _gram(self.X, self.Sigma, p, "")
        if Sigma is None:
            raise ProblemError("X/Sigma: give the calibration inputs X (p x N) or Sigma = X X^T (p x p)")
        heldout = _gram(self.X_heldout, self.Sigma_heldout, p, "_heldout")
        bits = _integer(self.bits, "bits")
        if not 2 <= bits <= 8:
            raise ProblemError(f"bits: expected 2..8, got {bits}")
        group_size = _integer(self.group_size, "group_size")
        if group_size < 0:
            raise ProblemError(f"group_size: expected >= 0 (0: one grid per row), got {group_size}")
        for name in ("sym", "clip"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ProblemError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        for name in ("outliers", "damping"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ProblemError(f"{name}: expected a number, got {value!r}")
            if not (0 <= value < np.inf):
                raise ProblemError(f"{name}: expected a finite number >= 0, got {value!r}")
        if self.outliers >= 1 and float(self.outliers) != int(self.outliers):
            raise ProblemError(
                f"outliers: a count must be an integer (a fraction must be below 1), got {self.outliers}"
            )
        values = {
            "W": W,
            "X": None,
            "Sigma": Sigma,
            "Sigma_heldout": heldout,
            "X_heldout": None,
            "bits": bits,
            "group_size": group_size,
            "sym": bool(self.sym),
            "clip": bool(self.clip),
            "outliers": self.outliers if self.outliers < 1 else int(self.outliers),
            "damping": float(self.damping),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # ----------------------------------------------------------------- facts
    @property
    def shape(self) -> tuple[int, int]:
        """(q outputs, p inputs) of W."""
        return self.W.shape

    @property
    def maxq(self) -> int:
        return 2**self.bits - 1

    @property
    def max_outliers(self) -> int:
        """The number of entries allowed in full precision."""
        if self.outliers >= 1:
            return min(int(self.outliers), self.W.size)
        return round(self.outliers * self.W.size)

    @property
    def gidx(self) -> np.ndarray:
        """The group of each input column."""
        return group_index(self.shape[1], self.group_size)

    @functools.cached_property
    def grid(self) -> Grid:
        """The problem's grid of W (what RTN rounds to, and every method starts from)."""
        return make_grid(self.W, self.bits, sym=self.sym, group_size=self.group_size, clip=self.clip)

    @functools.cached_property
    def W_Sigma(self) -> np.ndarray:
        """W Σ (q × p), computed once per problem (the reference error and the grid line searches use it)."""
        return self.W @ self.Sigma

    @functools.cached_property
    def reference(self) -> float:
        """‖W X‖²_F = tr(W Σ Wᵀ), the denominator of the relative error."""
        return float(np.einsum("ij,ij->", self.W, self.W_Sigma))

    # ------------------------------------------------------------- objective
    def objective(self, x: Any) -> float:
        """‖(W − x)X‖²_F computed as tr((W − x) Σ (W − x)ᵀ)."""
        return _quadratic(self.W - self._candidate(x), self.Sigma)

    def row_errors(self, x: Any, heldout: bool = False) -> np.ndarray:
        """The objective's share of every row: (w_i − x_i)ᵀ Σ (w_i − x_i)."""
        D = self.W - self._candidate(x)
        S = self.Sigma_heldout if heldout else self.Sigma
        return np.einsum("ij,ij->i", D @ S, D)

    def relative_error(self, x: Any) -> float:
        """‖(W − x)X‖²_F / ‖W X‖²_F."""
        return self.objective(x) / self.reference if self.reference > 0 else float(self.objective(x))

    @functools.cached_property
    def heldout_reference(self) -> float | None:
        """‖W X_heldout‖²_F (None without held-out inputs)."""
        return None if self.Sigma_heldout is None else _quadratic(self.W, self.Sigma_heldout)

    def heldout_relative_error(self, x: Any) -> float | None:
        """The relative error on the held-out inputs (None without them)."""
        if self.Sigma_heldout is None:
            return None
        err = _quadratic(self.W - self._candidate(x), self.Sigma_heldout)
        base = self.heldout_reference
        return err / base if base > 0 else err

    def _candidate(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self.W.shape:
            raise ProblemError(f"x: expected shape {self.W.shape}, got {x.shape}")
        return x

    # ----------------------------------------------------------------- check
    def check(self, x: Any) -> None:
        """Raise ProblemError unless ``x`` lies on b-bit grids (one per row and group) but for ≤ max_outliers entries.

        The grid of each row and group is inferred from ``x`` itself: a scale
        s and integer zero-point z with every on-grid entry equal to s·(c − z),
        c in 0..maxq (so 0 is a grid point); the entries no such grid explains
        count as full-precision outliers.
        """
        x = self._candidate(x)
        if not np.isfinite(x).all():
            raise ProblemError("x: contains NaN or infinite values")
        off = 0
        gidx = self.gidx
        for g in range(int(gidx.max()) + 1):
            cols = gidx == g
            for i in range(x.shape[0]):
                off += off_grid_count(x[i, cols], self.maxq)
        if off > self.max_outliers:
            raise ProblemError(
                f"x: {off} entries lie off every {self.bits}-bit grid; at most {self.max_outliers} outliers are allowed"
            )

    # ----------------------------------------------------------------- files
    @classmethod
    def from_data(cls, params: dict[str, Any], data: dict[str, Any], **info: Any) -> QuantProblem:
        check_keys("params", params, PARAM_KEYS, "quant")
        check_keys("data", data, DATA_KEYS, "quant")
        if "W" not in data:
            raise FormatError("data: missing 'W'")
        arrays = {key: _dense(value, key) for key, value in data.items()}
        return cls(**arrays, **params, **info)

    def to_data(self) -> tuple[dict[str, Any], dict[str, Any]]:
        params = {
            "bits": self.bits,
            "sym": self.sym,
            "group_size": self.group_size,
            "clip": self.clip,
            "outliers": self.outliers,
            "damping": self.damping,
        }
        data = {"W": self.W, "Sigma": self.Sigma}
        if self.Sigma_heldout is not None:
            data["Sigma_heldout"] = self.Sigma_heldout
        return params, data

    def summary(self) -> dict[str, Any]:
        q, p = self.shape
        diag = np.diag(self.Sigma)
        facts: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "W": f"{q} x {p}",
            "bits": self.bits,
            "grid": ("symmetric" if self.sym else "asymmetric")
            + (f", groups of {self.group_size}" if self.group_size else ", per row")
            + (", clipping search" if self.clip else ""),
            "outliers": self.max_outliers,
            "damping": self.damping,
            "dead inputs (Sigma_jj = 0)": int(np.count_nonzero(diag == 0)),
            "held-out inputs": self.Sigma_heldout is not None,
        }
        return facts

    def __repr__(self) -> str:
        q, p = self.shape
        return f"QuantProblem(name={self.name!r}, q={q}, p={p}, bits={self.bits})"


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise ProblemError(f"{name}: expected an integer, got {value!r}")
    if float(value) != int(value):
        raise ProblemError(f"{name}: expected an integer, got {value!r}")
    return int(value)


def _dense(value: Any, key: str) -> np.ndarray:
    if hasattr(value, "toarray"):
        value = value.toarray()
    return float_array(value, key)


def _quadratic(D: np.ndarray, S: np.ndarray) -> float:
    """tr(D S Dᵀ)."""
    return float(np.einsum("ij,ij->", D @ S, D))


def _gram(X: Any, Sigma: Any, p: int, suffix: str) -> np.ndarray | None:
    """Σ from X (p × N) or given directly; validated and symmetrised. None when neither is given."""
    if X is not None and Sigma is not None:
        raise ProblemError(f"X{suffix}/Sigma{suffix}: give one of them, not both")
    if X is not None:
        X = float_array(X, f"X{suffix}")
        if X.ndim != 2 or X.shape[0] != p:
            raise ProblemError(f"X{suffix}: expected a {p} x N matrix (one column per token), got shape {X.shape}")
        require_finite(X, f"X{suffix}")
        return X @ X.T
    if Sigma is None:
        return None
    S = float_array(Sigma, f"Sigma{suffix}")
    if S.shape != (p, p):
        raise ProblemError(f"Sigma{suffix}: expected shape ({p}, {p}), got {S.shape}")
    require_finite(S, f"Sigma{suffix}")
    scale = max(float(np.abs(S).max()), np.finfo(float).tiny)
    if float(np.abs(S - S.T).max()) > SYMMETRY_RTOL * scale:
        raise ProblemError(f"Sigma{suffix}: not symmetric")
    diag = np.diag(S)
    if (diag < 0).any():
        j = int(np.flatnonzero(diag < 0)[0])
        raise ProblemError(f"Sigma{suffix}: negative diagonal entry at {j} (Sigma must be positive semidefinite)")
    return (S + S.T) / 2


def off_grid_count(values: np.ndarray, maxq: int, rtol: float = GRID_RTOL) -> int:
    """The fewest entries of ``values`` to drop so that the rest lie on one grid s·(c − z), c, z in 0..maxq."""
    v = np.asarray(values, dtype=np.float64)
    nz = v[v != 0]
    if nz.size == 0:
        return 0
    tol = rtol * float(np.abs(v).max())
    best = nz.size  # everything non-zero off the grid: always possible (the grid holds 0)
    uniq, counts = np.unique(nz, return_counts=True)
    bases = uniq[np.argsort(-counts, kind="stable")][:4]  # an on-grid value is almost surely among the most frequent
    for base in bases:
        for m in range(1, maxq + 1):  # base = ±m steps from zero
            step = abs(base) / m
            k = np.round(v / step)
            on = np.abs(v - k * step) <= tol
            ks = k[on].astype(np.int64)
            if ks.size == 0:
                continue
            # the best window of maxq + 1 consecutive integers that contains 0
            lo_options = np.arange(-maxq, 1)
            counts_in = ((ks[None, :] >= lo_options[:, None]) & (ks[None, :] <= lo_options[:, None] + maxq)).sum(1)
            best = min(best, v.size - int(counts_in.max()))
            if best == 0:
                return 0
    return best
