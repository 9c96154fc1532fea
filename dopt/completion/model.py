"""The fitted model (factors and biases), predictions, and the fit measures every method reports."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dopt.completion.kernels import predict_entries
from dopt.completion.problem import CompletionProblem, penalty
from dopt.core.errors import ProblemError
from dopt.core.result import Result


@dataclass
class Model:
    """M ~ mu + b 1^T + 1 c^T + U V^T."""

    U: np.ndarray
    V: np.ndarray
    mu: float
    row_bias: np.ndarray
    col_bias: np.ndarray

    @classmethod
    def zeros(cls, problem: CompletionProblem) -> Model:
        m, n = problem.shape
        k = problem.rank
        return cls(np.zeros((m, k)), np.zeros((n, k)), problem.mean, np.zeros(m), np.zeros(n))

    @classmethod
    def from_x(cls, x: Any) -> Model:
        """The model held in a Result's ``x`` dict (or the dict itself)."""
        if isinstance(x, Result):
            x = x.x
        if not isinstance(x, dict) or "U" not in x or "V" not in x:
            raise ProblemError("expected a completion Result or its x dict (with 'U' and 'V')")
        U = np.ascontiguousarray(x["U"], dtype=np.float64)
        V = np.ascontiguousarray(x["V"], dtype=np.float64)
        if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1]:
            raise ProblemError(f"U and V must be 2-D with equal ranks, got {U.shape} and {V.shape}")
        rb = np.asarray(x.get("row_bias", np.zeros(U.shape[0])), dtype=np.float64)
        cb = np.asarray(x.get("col_bias", np.zeros(V.shape[0])), dtype=np.float64)
        return cls(U, V, float(x.get("mu", 0.0)), rb, cb)

    def to_x(self) -> dict[str, Any]:
        return {"U": self.U, "V": self.V, "mu": self.mu, "row_bias": self.row_bias, "col_bias": self.col_bias}

    def predict(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Predicted values at (rows[t], cols[t])."""
        out = np.empty(rows.size)
        predict_entries(rows, cols, self.U, self.V, float(self.mu), self.row_bias, self.col_bias, out)
        return out


def predict(result: Result | dict[str, Any], rows: Any, cols: Any) -> np.ndarray:
    """Predictions of a completion Result at the entries (rows[t], cols[t]).

    Rows or columns that had no observed entries have zero factors and zero
    bias, so their predictions are the global mean plus the other side's bias.
    """
    model = Model.from_x(result)
    r = np.asarray(rows).astype(np.int64, copy=False).reshape(-1)
    c = np.asarray(cols).astype(np.int64, copy=False).reshape(-1)
    if r.shape != c.shape:
        raise ProblemError(f"rows and cols must have the same length, got {r.size} and {c.size}")
    m, n = model.U.shape[0], model.V.shape[0]
    if r.size and (r.min() < 0 or r.max() >= m or c.min() < 0 or c.max() >= n):
        raise ProblemError(f"rows/cols: indices out of range for a {m} x {n} model")
    return model.predict(r, c)


class Scorer:
    """Objective and RMSEs of a model on one problem, with the Numba prediction kernel."""

    def __init__(self, problem: CompletionProblem) -> None:
        self.problem = problem

    def training_error(self, model: Model) -> np.ndarray:
        p = self.problem
        return p.values - model.predict(p.rows, p.cols)

    def objective(self, model: Model, sse: float) -> float:
        """The training squared error ``sse`` plus lam times the weighted squared norms of factors (and biases)."""
        return float(sse + self.problem.lam * penalty(self.problem, model))

    def validation_rmse(self, model: Model) -> float:
        p = self.problem
        if not p.has_validation:
            return math.nan
        err = p.val_values - model.predict(p.val_rows, p.val_cols)
        return float(np.sqrt(np.mean(err * err)))
