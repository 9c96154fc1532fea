"""Max-error quantization of a weight matrix as DMMV, one output row at a time.

For a layer ``Y = X W^T`` (W: rows x d weights, X: samples x d calibration
inputs), row r's quantized weights ``ŵ`` are chosen from the row's B-bit
asymmetric grid ``lo + s q`` (lo = min w, s = (max w - min w) / (2^B - 1),
q = 0..2^B - 1) to minimise ``max_t |x_t.(ŵ - w)|``: the DMMV problem with
A = X, b = X w. Round-to-nearest (RTN) on the same grid is the baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import dopt
from dopt.core.result import Result
from dopt.dmmv.problem import DMMVProblem


def row_grid(w: Any, bits: int) -> np.ndarray:
    """The 2^bits-level asymmetric min-max grid of one weight row (a single level for a constant row)."""
    w = np.asarray(w, dtype=np.float64)
    if bits < 1:
        raise ValueError(f"bits: need at least 1 bit, got {bits}")
    lo, hi = float(w.min()), float(w.max())
    if hi == lo:
        return np.array([lo])
    return lo + (hi - lo) / (2**bits - 1) * np.arange(2**bits)


def rtn(W: Any, bits: int) -> np.ndarray:
    """Round-to-nearest: every weight moved to the nearest level of its row's grid."""
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    out = np.empty_like(W)
    for r, w in enumerate(W):
        grid = row_grid(w, bits)
        step = grid[1] - grid[0] if grid.size > 1 else 1.0
        out[r] = grid[np.clip(np.rint((w - grid[0]) / step), 0, grid.size - 1).astype(np.int64)]
    return out


def row_problem(w: Any, X: Any, bits: int, **info: Any) -> DMMVProblem:
    """The DMMV problem of one row: ŵ on the row's grid, minimising max_t |x_t.ŵ - x_t.w|."""
    w = np.asarray(w, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    info.setdefault("description", describe(X.shape, bits))
    return DMMVProblem(X, row_grid(w, bits), b=X @ w, **info)


def describe(shape: tuple[int, int], bits: int) -> str:
    """A one-line human description of a row problem with calibration inputs of ``shape``, used in files."""
    samples, d = shape
    return (
        f"Max-error quantization of one weight row: {d} weights on the row's {bits}-bit asymmetric min-max grid; "
        f"{samples} calibration inputs x_t; objective: max_t |x_t.(w_hat - w)|, the worst output error."
    )


def layer_errors(W: Any, W_hat: Any, X: Any) -> dict[str, float]:
    """The output error E = X (Ŵ - W)^T: its max |E|, mean over rows of the row max, and relative Frobenius norm."""
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    E = np.asarray(X, dtype=np.float64) @ (np.atleast_2d(W_hat) - W).T
    reference = np.linalg.norm(np.asarray(X) @ W.T)
    return {
        "max_error": float(np.abs(E).max()),
        "mean_row_max": float(np.abs(E).max(axis=0).mean()),
        "relative_frobenius": float(np.linalg.norm(E) / reference) if reference > 0 else float(np.linalg.norm(E)),
    }


def quantize_layer(
    W: Any,
    X: Any,
    bits: int,
    time_per_row: float | None = 1.0,
    method: str = "dmmv.local",
    seed: int = 0,
    **options: Any,
) -> tuple[np.ndarray, list[Result]]:
    """Quantize every row of W by solving its DMMV problem with ``method``; returns (Ŵ, one Result per row).

    ``dmmv.local`` starts from the row's RTN solution unless ``options`` says otherwise;
    ``time_per_row=None`` leaves the stopping rule to the method's options.
    """
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    start = rtn(W, bits)
    rows, results = [], []
    for r, w in enumerate(W):
        problem = row_problem(w, X, bits, name=f"row-{r}")
        row_options = dict(options)
        if method == "dmmv.local" and "init" not in row_options:
            row_options.setdefault("x0", start[r])
        result = dopt.solve(problem, method, time_limit=time_per_row, seed=seed + r, **row_options)
        rows.append(result.x)
        results.append(result)
    return np.vstack(rows), results


def synthetic_layer(rows: int, cols: int, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A transformer-like layer: heavy-tailed weights (Student t, 4 dof) and correlated inputs with outlier channels.

    Inputs are ``Z L`` for a random mixing ``L`` (correlated features) with 2% of the
    channels scaled by 10, as activation outliers in LLMs are. Returns (W, X).
    """
    rng = np.random.default_rng(seed)
    W = rng.standard_t(4, size=(rows, cols)) / np.sqrt(cols)
    mixing = np.eye(cols) + rng.normal(scale=0.3 / np.sqrt(cols), size=(cols, cols))
    X = rng.standard_normal((samples, cols)) @ mixing
    outliers = rng.choice(cols, size=max(1, cols // 50), replace=False)
    X[:, outliers] *= 10.0
    return W, X
