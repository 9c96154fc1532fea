"""quant.quantease: monotone coordinate steps and passes, the blocked pass against the direct one, brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from quant_cases import (
    brute_force_row,
    cd_reference_pass,
    coordinate_minimum,
    objective_direct,
    random_problem,
)

import dopt
from dopt.core.errors import MethodError
from dopt.quant.cd import CDState
from dopt.quant.gptq import act_order

CASES = [
    {"bits": 2},
    {"bits": 3},
    {"bits": 4, "sym": True},
    {"bits": 3, "group_size": 5},
    {"bits": 2, "group_size": 4, "sym": True},
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("params", CASES)
def test_every_column_update_never_increases_the_objective(seed: int, params: dict) -> None:
    problem = random_problem(9, 13, seed=seed, **params)
    rng = np.random.default_rng(seed)
    grid = problem.grid
    Q = grid.quantize(problem.W + 0.3 * rng.normal(size=problem.W.shape) * grid.scale[:, grid.gidx])  # a poor start
    state = CDState(problem.W, Q, problem.Sigma, grid, order=rng.permutation(13), block_size=4)
    f = problem.objective(state.solution()[0])
    for _ in range(3):
        for j in range(13):
            state.sweep(blocks=[(j, j + 1)])
            now = problem.objective(state.solution()[0])
            assert now <= f * (1 + 1e-12)
            assert state.objective() == pytest.approx(now, rel=1e-9, abs=1e-12)
            f = now


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("params", CASES)
def test_blocked_pass_equals_the_direct_pass(seed: int, params: dict) -> None:
    problem = random_problem(11, 17, seed=seed, **params)
    grid = problem.grid
    Q0 = grid.quantize(problem.W)
    order = act_order(problem.Sigma)
    expected = Q0
    state = CDState(problem.W, Q0, problem.Sigma, grid, order=order, block_size=5)
    for _ in range(3):
        expected = cd_reference_pass(problem, expected, grid, order)
        state.sweep()
        np.testing.assert_allclose(state.solution()[0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("params", CASES)
def test_rounded_passes_and_grid_moves_never_increase_the_objective(seed: int, params: dict) -> None:
    problem = random_problem(10, 12, seed=seed, **params)
    state = CDState(problem.W, problem.grid.quantize(problem.W), problem.Sigma, problem.grid, symmetric=problem.sym)
    f = problem.objective(state.solution()[0])
    for _ in range(4):
        for step in (state.sweep, state.refine_grids):
            step()
            Q, grid = state.solution()
            now = problem.objective(Q)
            assert now <= f * (1 + 1e-12)
            f = now
            problem.check(Q)  # still on a grid: same codes, moved scale and zero-point
            np.testing.assert_allclose(grid.dequantize(grid.codes(Q)), Q, rtol=0, atol=1e-12)
    result = dopt.solve(problem, "quant.quantease", tol=0, max_passes=15)
    history = result.extras["pass_objectives"]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(history))


@pytest.mark.parametrize("init", ["gptq_act", "gptq", "rtn", "w"])
@pytest.mark.parametrize("refine", [True, False])
def test_inits_end_on_the_grid_and_below_their_start(init: str, refine: bool) -> None:
    problem = random_problem(30, 24, seed=3, bits=3)
    result = dopt.solve(problem, "quant.quantease", init=init, refine_grid=refine)
    problem.check(result.x)
    assert result.objective == pytest.approx(problem.objective(result.x), rel=1e-12)
    assert result.objective == pytest.approx(objective_direct(problem.W, _x(problem), result.x), rel=1e-9)
    assert result.extras["pass_objectives"][-1] == pytest.approx(result.objective, rel=1e-9)
    if init != "w":
        assert result.objective <= result.extras["pass_objectives"][0] * (1 + 1e-12)
    if not refine and init.startswith("gptq"):
        gptq = dopt.solve(problem, "quant.gptq", act_order=init == "gptq_act")
        assert result.objective <= gptq.objective * (1 + 1e-12)
        assert (problem.row_errors(result.x) <= problem.row_errors(gptq.x) * (1 + 1e-12) + 1e-12).all()


def _x(problem):
    """X with X Xᵀ = Σ (a square root), to check the objective against ‖(W − Ŵ)X‖²."""
    vals, vecs = np.linalg.eigh(problem.Sigma)
    return vecs * np.sqrt(np.maximum(vals, 0))


def test_guard_keeps_every_row_at_most_gptq_act_order() -> None:
    for seed in range(4):
        problem = random_problem(25, 20, seed=seed, bits=3)
        gptq = dopt.solve(problem, "quant.gptq", act_order=True)
        result = dopt.solve(problem, "quant.quantease", guard=True)
        assert (problem.row_errors(result.x) <= problem.row_errors(gptq.x) * (1 + 1e-12) + 1e-12).all()


def test_relaxed_passes_end_rounded() -> None:
    problem = random_problem(20, 16, seed=4, bits=3)
    result = dopt.solve(problem, "quant.quantease", init="w", refine_grid=False, relaxed_passes=True, max_passes=10)
    problem.check(result.x)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("p", "params"), [(6, {}), (8, {}), (7, {"group_size": 3}), (6, {"sym": True})])
def test_brute_force_on_tiny_layers(seed: int, p: int, params: dict) -> None:
    """2 bits, p <= 8: enumerate every grid point of every row (4^p assignments)."""
    problem = random_problem(3, p, seed=seed, bits=2, **params)
    X = _x(problem)
    best = {}
    for i in range(3):
        best[i], x_row = brute_force_row(problem, problem.grid, i)
        assert best[i] == pytest.approx(objective_direct(problem.W[i : i + 1], X, x_row[None, :]), rel=1e-9, abs=1e-12)
    optimum = sum(best.values())
    for method, opts in [
        ("quant.rtn", {}),
        ("quant.gptq", {"static_groups": True}),  # (dynamic groups leave the problem's grid)
        ("quant.gptq", {"act_order": True, "static_groups": True}),
        ("quant.quantease", {"refine_grid": False}),
        ("quant.quantease", {"refine_grid": False, "init": "w"}),
    ]:
        result = dopt.solve(problem, method, **opts)
        assert result.objective == pytest.approx(objective_direct(problem.W, X, result.x), rel=1e-9, abs=1e-12)
        assert result.objective >= optimum * (1 - 1e-9) - 1e-12
        if method == "quant.quantease":
            assert coordinate_minimum(problem, problem.grid, result.x)
    # grid refinement may leave the problem's grid, but never beats the optimum of the grid it ends on
    result = dopt.solve(problem, "quant.quantease")
    final = dopt.quant.Grid(result.extras["scale"], result.extras["zero"].astype(float), result.extras["gidx"], 3)
    own = sum(brute_force_row(problem, final, i)[0] for i in range(3))
    assert result.objective >= own * (1 - 1e-9) - 1e-12
    assert coordinate_minimum(problem, final, result.x)
    # the optimum is a fixed point of the descent
    x_opt = np.array([brute_force_row(problem, problem.grid, i)[1] for i in range(3)])
    state = CDState(problem.W, x_opt, problem.Sigma, problem.grid)
    state.sweep()
    np.testing.assert_array_equal(state.solution()[0], x_opt)


def test_dead_inputs_keep_their_start() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(9, 50))
    X[4] = 0.0
    problem = dopt.quant.QuantProblem(W=rng.normal(size=(6, 9)), X=X, bits=3)
    for init in ("gptq_act", "rtn", "w"):
        result = dopt.solve(problem, "quant.quantease", init=init)
        assert np.isfinite(result.x).all()
        problem.check(result.x)


def test_time_limit_returns_a_quantized_layer() -> None:
    problem = random_problem(50, 40, seed=6, bits=3)
    result = dopt.solve(problem, "quant.quantease", time_limit=1e-9)
    assert result.status == "time_limit"
    problem.check(result.x)


def test_options_are_validated() -> None:
    problem = random_problem(3, 4)
    with pytest.raises(MethodError, match="tol"):
        dopt.solve(problem, "quant.quantease", tol=2.0)
    with pytest.raises(MethodError, match="init"):
        dopt.solve(problem, "quant.quantease", init="zeros")
    assert dopt.solve(problem).method == "quant.quantease"
