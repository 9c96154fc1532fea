"""The DAG structure-learning problem: a NOTEARS score of a weighted adjacency matrix W over data X.

Convention: W[i, j] != 0 means i -> j. Scores (per sample, as in NOTEARS and DAGMA):
``l2`` is 1/(2n) ||X - X W||_F^2 and ``logistic`` is 1/n sum(log(1 + exp(X W)) - X * (X W)),
plus ``lambda1 * ||W||_1``. Methods return W thresholded at ``w_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dopt.core.errors import FormatError, ProblemError
from dopt.core.problem import Problem, check_keys, float_array, require_finite
from dopt.core.registry import register_kind
from dopt.dag import graph

SCORES = ("l2", "logistic")
PARAM_KEYS = {"score", "lambda1", "w_threshold", "center", "standardize"}
DATA_KEYS = {"X", "true_graph"}


@register_kind
@dataclass(frozen=True, eq=False, repr=False)
class DAGProblem(Problem):
    """Learn a DAG W minimising score(X, W) + lambda1 ||W||_1 subject to acyclicity.

    ``X`` is an n x d data matrix (one row a sample); ``score`` is ``l2`` or ``logistic``
    (binary 0/1 data); ``center`` subtracts the column means before an l2 score and
    ``standardize`` also scales each column to unit variance (for data in mixed units);
    ``true_graph`` (optional, d x d, nonzero = edge) is used only for evaluation (SHD, TPR, FDR);
    it may hold cycles (the Sachs consensus graph does).
    """

    kind = "dag"
    X: Any
    score: str = "l2"
    lambda1: float = 0.0
    w_threshold: float = 0.3
    center: bool = True
    standardize: bool = False
    true_graph: Any = None

    def __post_init__(self) -> None:
        X = float_array(self.X, "X")
        if X.ndim != 2:
            raise ProblemError(f"X: expected an n x d data matrix, got shape {X.shape}")
        n, d = X.shape
        if n < 2 or d < 1:
            raise ProblemError(f"X: need at least 2 samples and 1 variable, got shape {X.shape}")
        require_finite(X, "X")
        if self.score not in SCORES:
            raise ProblemError(f"score: {self.score!r} is not one of {', '.join(SCORES)}")
        if self.score == "logistic" and not np.isin(X, (0.0, 1.0)).all():
            raise ProblemError("X: the logistic score needs binary 0/1 data")
        for name in ("lambda1", "w_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < np.inf):
                raise ProblemError(f"{name}: expected a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("center", "standardize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ProblemError(f"{name}: expected true or false, got {getattr(self, name)!r}")
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.standardize and self.score == "l2" and np.any(X.std(axis=0) == 0):
            raise ProblemError(
                f"X: column {int(np.flatnonzero(X.std(axis=0) == 0)[0])} is constant; cannot standardize"
            )
        true = None
        if self.true_graph is not None:
            true = float_array(self.true_graph, "true_graph")
            if true.shape != (d, d):
                raise ProblemError(f"true_graph: expected shape ({d}, {d}), got {true.shape}")
            require_finite(true, "true_graph")
            if np.any(np.diag(true) != 0):
                raise ProblemError("true_graph: nonzero diagonal (self-loops)")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "true_graph", true)
        data = X
        if self.score == "l2" and (self.center or self.standardize):
            data = X - X.mean(axis=0)
            if self.standardize:
                data = data / data.std(axis=0)
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_cov", data.T @ data / n)

    @property
    def shape(self) -> tuple[int, int]:
        """(n samples, d variables)."""
        return self.X.shape

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def data(self) -> np.ndarray:
        """The matrix the score is computed on (X, centred / standardised for l2 as the params say)."""
        return self._data

    @property
    def covariance(self) -> np.ndarray:
        """data^T data / n, the sufficient statistic of the l2 score."""
        return self._cov

    def loss(self, W: Any) -> float:
        """The smooth part of the score (no L1 term)."""
        W = self._matrix(W)
        if self.score == "l2":
            return l2_loss(self._cov, W)
        Z = self._data @ W
        return float((np.logaddexp(0.0, Z) - self._data * Z).sum() / self.shape[0])

    def loss_gradient(self, W: Any) -> np.ndarray:
        """Gradient of :meth:`loss` with respect to W."""
        W = self._matrix(W)
        if self.score == "l2":
            return self._cov @ W - self._cov
        Z = self._data @ W
        return self._data.T @ (_sigmoid(Z) - self._data) / self.shape[0]

    def objective(self, W: Any) -> float:
        """score(W) + lambda1 ||W||_1 (diagonal entries must be zero)."""
        W = self._matrix(W)
        return self.loss(W) + self.lambda1 * float(np.abs(W).sum())

    def check(self, W: Any) -> None:
        """ProblemError unless W is a finite d x d matrix with zero diagonal whose graph is a DAG."""
        W = self._matrix(W)
        if not graph.is_dag(W):
            raise ProblemError("W: the graph has a directed cycle")

    def refit(self, W: Any) -> np.ndarray:
        """Least-squares coefficients on the edges of W's graph (each node regressed on its parents)."""
        B = graph.support(self._matrix(W))
        out = np.zeros((self.d, self.d))
        for j in range(self.d):
            parents = np.flatnonzero(B[:, j])
            if parents.size:
                out[parents, j] = np.linalg.lstsq(self._data[:, parents], self._data[:, j], rcond=None)[0]
        return out

    def refit_l2_score(self, W: Any) -> float:
        """The l2 score of W's graph after a least-squares refit: the common yardstick of the benchmarks."""
        return l2_loss(self._cov, self.refit(W))

    def accuracy(self, W: Any) -> dict[str, float]:
        """SHD, TPR, FDR, FPR and edge count against ``true_graph`` (empty without one)."""
        return {} if self.true_graph is None else graph.accuracy(self.true_graph, W)

    def threshold(self, W: Any) -> np.ndarray:
        """W with entries of absolute value at most ``w_threshold`` set to zero."""
        W = np.array(W, dtype=np.float64)
        W[np.abs(W) <= self.w_threshold] = 0.0
        return W

    def _matrix(self, W: Any) -> np.ndarray:
        W = float_array(W, "W")
        d = self.d
        if W.shape != (d, d):
            raise ProblemError(f"W: expected shape ({d}, {d}), got {W.shape}")
        require_finite(W, "W")
        if np.any(np.diag(W) != 0):
            raise ProblemError("W: nonzero diagonal (self-loops)")
        return W

    @classmethod
    def from_data(cls, params: dict[str, Any], data: dict[str, Any], **info: Any) -> DAGProblem:
        check_keys("params", params, PARAM_KEYS, "dag")
        check_keys("data", data, DATA_KEYS, "dag")
        if "X" not in data:
            raise FormatError("data: missing 'X'")
        X = data["X"]
        if isinstance(X, np.ndarray) and X.ndim == 1:  # a CSV with a single column
            X = X[:, None]
        return cls(X=X, true_graph=data.get("true_graph"), **params, **info)

    def to_data(self) -> tuple[dict[str, Any], dict[str, Any]]:
        params = {
            "score": self.score,
            "lambda1": self.lambda1,
            "w_threshold": self.w_threshold,
            "center": self.center,
            "standardize": self.standardize,
        }
        data: dict[str, Any] = {"X": self.X}
        if self.true_graph is not None:
            data["true_graph"] = self.true_graph
        return params, data

    def summary(self) -> dict[str, Any]:
        n, d = self.shape
        info: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "samples": n,
            "variables": d,
            "score": self.score,
            "lambda1": self.lambda1,
            "w_threshold": self.w_threshold,
        }
        if self.true_graph is not None:
            info["true edges"] = int(np.count_nonzero(self.true_graph))
        return info

    def __repr__(self) -> str:
        n, d = self.shape
        return f"DAGProblem(name={self.name!r}, n={n}, d={d}, score={self.score!r}, lambda1={self.lambda1})"


def l2_loss(cov: np.ndarray, W: np.ndarray) -> float:
    """1/(2n) ||X - X W||_F^2 written with the covariance: 0.5 tr((I - W)^T cov (I - W))."""
    R = np.eye(W.shape[0]) - W
    return 0.5 * float(np.einsum("ij,ij->", R, cov @ R))


def _sigmoid(Z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * Z))
