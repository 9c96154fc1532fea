"""Max-error quantization: grids, RTN and its error bound, the row problem against exhaustive search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import dopt
from dopt.dmmv.maxquant import layer_errors, quantize_layer, row_grid, row_problem, rtn, synthetic_layer


def test_row_grid_spans_the_row_with_two_to_the_bits_levels() -> None:
    w = np.array([0.3, -1.2, 0.7, 2.0])
    grid = row_grid(w, 3)
    assert grid.size == 8 and grid[0] == -1.2 and grid[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(np.diff(grid), 3.2 / 7)
    np.testing.assert_array_equal(row_grid(np.full(5, 0.4), 3), [0.4])
    with pytest.raises(ValueError):
        row_grid(w, 0)


def test_rtn_is_the_nearest_grid_level_and_meets_its_error_bound() -> None:
    W, X = synthetic_layer(6, 20, 50, seed=1)
    Q = rtn(W, 3)
    for w, q in zip(W, Q, strict=True):
        grid = row_grid(w, 3)
        np.testing.assert_allclose(q, grid[np.argmin(np.abs(w[:, None] - grid[None, :]), axis=1)], atol=1e-12)
        step = grid[1] - grid[0]
        # |x_t.(q - w)| <= (step / 2) ||x_t||_1 for every sample
        assert np.abs(X @ (q - w)).max() <= step / 2 * np.abs(X).sum(axis=1).max() + 1e-12


def test_row_problem_objective_is_the_worst_output_error() -> None:
    W, X = synthetic_layer(2, 12, 30, seed=2)
    problem = row_problem(W[1], X, 2)
    q = rtn(W, 2)[1]
    problem.check(q)
    assert problem.objective(q) == pytest.approx(np.abs(X @ (q - W[1])).max(), rel=1e-12)


def exhaustive(w: np.ndarray, X: np.ndarray, bits: int) -> float:
    """The optimum of the row problem by enumerating every grid point."""
    grid = row_grid(w, bits)
    points = np.array(list(itertools.product(grid, repeat=w.size)))
    return float(np.abs((points - w) @ X.T).max(axis=1).min())


@pytest.mark.parametrize("seed", range(4))
def test_local_and_milp_reach_the_exhaustive_optimum_below_rtn(seed: int) -> None:
    W, X = synthetic_layer(1, 5, 16, seed=seed)
    best = exhaustive(W[0], X, 2)
    problem = row_problem(W[0], X, 2)
    local = dopt.solve(problem, "dmmv.local", seed=0)  # no time limit: stops at the LP bound or its stall limit
    exact = dopt.solve(problem, "dmmv.milp", time_limit=20)
    assert exact.status == "optimal" and exact.objective == pytest.approx(best, rel=1e-7)
    assert local.objective == pytest.approx(best, rel=1e-9)
    assert best <= problem.objective(rtn(W, 2)[0]) + 1e-12


def test_quantize_layer_never_worse_than_rtn_row_by_row() -> None:
    W, X = synthetic_layer(4, 24, 64, seed=3)
    W_hat, results = quantize_layer(W, X, 3, time_per_row=None, max_rounds=30)
    start = rtn(W, 3)
    assert len(results) == 4
    for r in range(4):
        row_problem(W[r], X, 3).check(W_hat[r])
        assert np.abs(X @ (W_hat[r] - W[r])).max() <= np.abs(X @ (start[r] - W[r])).max() + 1e-12
    assert layer_errors(W, W_hat, X)["max_error"] < layer_errors(W, start, X)["max_error"]


def test_layer_errors_by_direct_computation() -> None:
    W, X = synthetic_layer(3, 8, 10, seed=4)
    Q = rtn(W, 2)
    E = X @ (Q - W).T
    errors = layer_errors(W, Q, X)
    assert errors["max_error"] == pytest.approx(np.abs(E).max())
    assert errors["mean_row_max"] == pytest.approx(np.mean([np.abs(E[:, r]).max() for r in range(3)]))
    assert errors["relative_frobenius"] == pytest.approx(np.sqrt((E**2).sum() / ((X @ W.T) ** 2).sum()))


def test_synthetic_layer_is_seeded_with_outlier_channels() -> None:
    W, X = synthetic_layer(5, 100, 400, seed=0)
    assert W.shape == (5, 100) and X.shape == (400, 100)
    np.testing.assert_array_equal(X, synthetic_layer(5, 100, 400, seed=0)[1])
    scales = X.std(axis=0)
    assert (scales > 5 * np.median(scales)).sum() == 2
