"""quant.gptq against the direct unblocked GPTQ recurrences, damping and its failures, RTN."""

from __future__ import annotations

import numpy as np
import pytest
from quant_cases import gptq_reference, random_problem

import dopt
from dopt.core.errors import MethodError, ProblemError
from dopt.quant import QuantProblem
from dopt.quant.gptq import act_order, inverse_factor, quantize_gptq


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("act", [False, True])
@pytest.mark.parametrize("block_size", [1, 5, 128])
def test_gptq_matches_the_unblocked_recurrences(seed: int, act: bool, block_size: int) -> None:
    problem = random_problem(15, 23, seed=seed, bits=3)
    result = dopt.solve(problem, "quant.gptq", act_order=act, block_size=block_size)
    order = act_order(problem.Sigma) if act else None
    expected = gptq_reference(problem.W, problem.Sigma, 3, order=order, grid=problem.grid)
    np.testing.assert_allclose(result.x, expected, rtol=0, atol=1e-10)
    problem.check(result.x)


@pytest.mark.parametrize("act", [False, True])
@pytest.mark.parametrize(("group_size", "block_size"), [(4, 128), (8, 4), (6, 4), (32, 5)])
def test_gptq_groups_match_the_recurrences(act: bool, group_size: int, block_size: int) -> None:
    """Dynamic groups: each group's grid from the weights updated so far, in quantization order."""
    problem = random_problem(9, 30, seed=5, bits=2, group_size=group_size)
    result = dopt.solve(problem, "quant.gptq", act_order=act, block_size=block_size)
    order = act_order(problem.Sigma) if act else None
    expected = gptq_reference(problem.W, problem.Sigma, 2, order=order, group_size=group_size)
    np.testing.assert_allclose(result.x, expected, rtol=0, atol=1e-10)
    # static groups: grids from the original W, whatever the order
    static = dopt.solve(problem, "quant.gptq", act_order=act, static_groups=True, block_size=block_size)
    expected = gptq_reference(problem.W, problem.Sigma, 2, order=order, grid=problem.grid)
    np.testing.assert_allclose(static.x, expected, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(static.extras["gidx"], problem.gidx)


def test_dead_inputs_are_guarded() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(8, 40))
    X[[2, 5]] = 0.0  # two inputs never fire: Σ_jj = 0
    problem = QuantProblem(W=rng.normal(size=(5, 8)), X=X, bits=3)
    assert np.diag(problem.Sigma)[[2, 5]].tolist() == [0.0, 0.0]
    for act in (False, True):
        result = dopt.solve(problem, "quant.gptq", act_order=act)
        assert np.isfinite(result.x).all()
        np.testing.assert_array_equal(result.x[:, [2, 5]], 0.0)
        order = act_order(problem.Sigma) if act else None
        expected = gptq_reference(problem.W, problem.Sigma, 3, order=order, grid=problem.grid)
        np.testing.assert_allclose(result.x, expected, rtol=0, atol=1e-10)


def test_row_errors_and_gradient_come_out_exact() -> None:
    problem = random_problem(10, 16, seed=7, bits=3)
    factor = inverse_factor(problem.Sigma, 0.01, order=act_order(problem.Sigma))
    run = quantize_gptq(problem.W, factor, problem.grid, gradient=True)
    np.testing.assert_allclose(run.row_errors, problem.row_errors(run.Q), rtol=1e-9)
    np.testing.assert_allclose(run.G, (problem.W - run.Q) @ problem.Sigma, rtol=0, atol=1e-9 * np.abs(run.G).max())


def test_inverse_factor_is_the_upper_cholesky_factor_of_the_inverse() -> None:
    problem = random_problem(3, 12, seed=8)
    order = act_order(problem.Sigma)
    factor = inverse_factor(problem.Sigma, 0.01, order=order)
    H = problem.Sigma + 0.01 * np.diag(problem.Sigma).mean() * np.eye(12)
    Hp = H[np.ix_(order, order)]
    np.testing.assert_allclose(factor.U.T @ factor.U, np.linalg.inv(Hp), rtol=1e-9, atol=1e-12)
    assert np.allclose(factor.U, np.triu(factor.U))


def test_cholesky_failure_raises_the_damping() -> None:
    # rank-deficient Σ (fewer tokens than inputs) and no damping: the factorisation fails
    rng = np.random.default_rng(9)
    X = rng.normal(size=(10, 3))
    problem = QuantProblem(W=rng.normal(size=(4, 10)), X=X, bits=3, damping=0.0)
    with pytest.warns(UserWarning, match="damping raised"):
        result = dopt.solve(problem, "quant.gptq")
    assert result.extras["damping"] > 0
    assert "Cholesky failed" in result.extras["notes"][0]
    with pytest.raises(ProblemError, match="not positive definite"):
        dopt.solve(problem, "quant.gptq", auto_damping=False)
    indefinite = QuantProblem(W=np.ones((2, 2)), Sigma=np.array([[1.0, 3.0], [3.0, 1.0]]), bits=3, damping=0.0)
    with pytest.raises(ProblemError, match="not positive definite"):  # not even at 100% damping
        dopt.solve(indefinite, "quant.gptq")


def test_bad_options() -> None:
    problem = random_problem(3, 4)
    with pytest.raises(MethodError, match="block_size"):
        dopt.solve(problem, "quant.gptq", block_size=0)
    with pytest.raises(MethodError, match="unknown option"):
        dopt.solve(problem, "quant.gptq", act_order=True, nope=1)


def test_rtn_and_gptq_improve_in_order() -> None:
    problem = random_problem(40, 32, seed=10, bits=3)
    rtn = dopt.solve(problem, "quant.rtn")
    gptq = dopt.solve(problem, "quant.gptq")
    np.testing.assert_array_equal(rtn.x, problem.grid.quantize(problem.W))
    assert gptq.objective < rtn.objective
    for result in (rtn, gptq):
        assert result.objective == pytest.approx(problem.objective(result.x), rel=1e-12)
        np.testing.assert_allclose(
            problem.grid.dequantize(result.extras["codes"].astype(np.int64)), result.x, rtol=0, atol=1e-12
        )
