"""quant.quantease_outlier: budget and structure of H, monotone descent, brute force on tiny layers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from quant_cases import objective_direct, random_problem, row_grid_points

import dopt
from dopt.core.errors import MethodError
from dopt.quant import Grid


def _parts(problem, result):
    """Ŵ (on the grid) and H (the outliers) of a result."""
    e = result.extras
    H = np.zeros(problem.shape)
    H[e["outlier_rows"], e["outlier_cols"]] = e["outlier_values"]
    grid = Grid(e["scale"], e["zero"].astype(float), e["gidx"], problem.maxq)
    return grid.dequantize(e["codes"].astype(np.int64)), H, grid


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("params", [{"bits": 3}, {"bits": 2, "group_size": 6}, {"bits": 3, "sym": True}])
def test_budget_structure_and_monotone_descent(seed: int, params: dict) -> None:
    problem = random_problem(16, 18, seed=seed, outliers=0.05, **params)
    for opts in ({}, {"selection": "magnitude", "refine_grid": False}, {"init": "w", "alpha": 0.5}):
        result = dopt.solve(problem, "quant.quantease_outlier", tol=0, max_passes=6, **opts)
        Q, H, _ = _parts(problem, result)
        np.testing.assert_allclose(Q + H, result.x, rtol=0, atol=1e-12)
        assert np.count_nonzero(H) <= problem.max_outliers == result.extras["outliers"]
        problem.check(result.x)
        assert result.objective == pytest.approx(problem.objective(result.x), rel=1e-10)
        history = result.extras["pass_objectives"]
        assert all(b <= a * (1 + 1e-10) for a, b in itertools.pairwise(history))
        assert history[-1] == pytest.approx(result.objective, rel=1e-8)


def test_outliers_lower_the_error_and_columns_stay_whole() -> None:
    problem = random_problem(24, 20, seed=7, bits=3, outliers=48)
    plain = dopt.solve(problem, "quant.quantease")
    unstructured = dopt.solve(problem, "quant.quantease_outlier")
    columns = dopt.solve(problem, "quant.quantease_outlier", structure="columns")
    assert unstructured.objective < plain.objective
    cols = set(columns.extras["outlier_cols"].tolist())
    assert len(cols) == 2 and columns.extras["outlier_rows"].size == 48
    assert columns.objective < plain.objective * 1.01
    assert dopt.solve(problem, "quant.quantease_outlier", outliers=0).extras["outliers"] == 0
    with pytest.raises(MethodError, match="fewer than one whole column"):
        dopt.solve(problem, "quant.quantease_outlier", structure="columns", outliers=10)
    with pytest.raises(MethodError, match="alpha"):
        dopt.solve(problem, "quant.quantease_outlier", alpha=1.5)


@pytest.mark.parametrize("seed", range(6))
def test_brute_force_with_one_outlier_on_tiny_layers(seed: int) -> None:
    """2 bits, p = 5, s = 1: every position of the outlier and every grid point of the rest, on the final grid."""
    problem = random_problem(2, 5, seed=seed, bits=2, outliers=1)
    result = dopt.solve(problem, "quant.quantease_outlier")
    _, _, grid = _parts(problem, result)
    S, W = problem.Sigma, problem.W
    best_plain, best_gain = 0.0, 0.0
    for i in range(2):
        points = row_grid_points(grid, i, np.arange(5))
        plain = min(float((W[i] - np.array(c)) @ S @ (W[i] - np.array(c))) for c in itertools.product(*points))
        with_one = plain
        for j in range(5):  # entry j free: its best value given the others is a 1-D least squares
            others = [k for k in range(5) if k != j]
            for combo in itertools.product(*[points[k] for k in others]):
                d = W[i].copy()
                d[others] -= np.array(combo)
                d[j] = 0.0  # residual of the free entry is chosen optimally: d_j = -(S d)_j / S_jj on the rest
                d[j] = -(S[j] @ d) / S[j, j]
                with_one = min(with_one, float(d @ S @ d))
        best_plain += plain
        best_gain = max(best_gain, plain - with_one)
    optimum = best_plain - best_gain
    assert result.objective >= optimum * (1 - 1e-9) - 1e-12
    X = np.linalg.cholesky(S + 1e-300 * np.eye(5))
    assert result.objective == pytest.approx(objective_direct(W, X, result.x), rel=1e-8)
