"""Triple moves of ``dmmv.local`` against enumerating every move of up to three variables."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from dmmv_cases import random_tiny_problem

import dopt
from dopt.core.errors import DoptError
from dopt.dmmv import DMMVProblem, fir
from dopt.dmmv.triples import TripleMoves


def enumerated_best(problem: DMMVProblem, levels: np.ndarray, cands: np.ndarray, reach: int) -> float:
    """Lowest max violation over every move of one to three of ``cands``, each by 1..reach levels."""
    steps = [s for s in range(-reach, reach + 1) if s != 0]
    best = np.inf
    for k in (1, 2, 3):
        for members in itertools.combinations(cands, k):
            js = np.array(members)
            for shift in itertools.product(steps, repeat=k):
                moved = levels[js] + np.array(shift)
                if (moved < 0).any() or (moved >= problem.sizes[js]).any():
                    continue
                trial = levels.copy()
                trial[js] = moved
                best = min(best, problem.objective(problem.value_of(trial)))
    return best


def worst_row_variables(problem: DMMVProblem, levels: np.ndarray) -> np.ndarray:
    """The movable variables with a nonzero coefficient in the (first) most violated row."""
    worst = int(np.argmax(problem.violations(problem.value_of(levels))))
    row = sp.csr_array(problem.A)[[worst]].toarray().ravel()
    return np.flatnonzero((row != 0) & (problem.sizes > 1))


def sparse_problem(seed: int) -> DMMVProblem:
    """A 30 x 10 sparse instance: the worst row's variables touch only some rows."""
    rng = np.random.default_rng(seed)
    A = sp.random_array((30, 10), density=0.25, rng=rng, format="csc")
    return DMMVProblem(A, np.linspace(-2, 2, 7), b=A @ rng.uniform(-2, 2, size=10))


CASES = [random_tiny_problem(seed) for seed in range(40)] + [sparse_problem(seed) for seed in range(10)]


@pytest.mark.parametrize("reach", [1, 2])
def test_finds_the_best_move_of_up_to_three_variables(reach: int) -> None:
    """Over random points, the move found lowers the max exactly as much as the best enumerated one, or is None."""
    found = 0
    for case, problem in enumerate(CASES):
        rng = np.random.default_rng(case)
        moves = TripleMoves(problem, size=64, reach=reach)
        for _ in range(3):
            levels = (rng.random(problem.shape[1]) * problem.sizes).astype(np.int64)
            v = problem.violations(problem.value_of(levels))
            tol = 1e-9 * v.max()
            best = enumerated_best(problem, levels, worst_row_variables(problem, levels), reach)
            move = moves.find(levels, v, tol)
            if best >= v.max() - tol:
                assert move is None, problem.name
                continue
            assert move is not None, problem.name
            js, new = move
            assert 1 <= js.size <= 3 and np.all(np.abs(new - levels[js]) <= reach) and np.all(new != levels[js])
            assert np.all((new >= 0) & (new < problem.sizes[js]))
            trial = levels.copy()
            trial[js] = new
            assert problem.objective(problem.value_of(trial)) == pytest.approx(best, rel=1e-12, abs=1e-12)
            found += 1
    assert found >= 40  # the cases exercise the search, not only its refusals


def test_size_keeps_the_variables_with_most_effect_on_the_worst_row() -> None:
    """With room for two variables the move is the best one over the two largest |a_ij| x level spacing."""
    problem = DMMVProblem(
        np.array([[3.0, -0.5, 2.0, 0.1], [1.0, 1.0, 1.0, 1.0]]), np.arange(5.0), b=np.array([-20.0, 5.0])
    )
    levels = np.array([4, 2, 4, 2])
    move = TripleMoves(problem, size=2, reach=1).find(levels, problem.violations(problem.value_of(levels)), 0.0)
    assert move is not None
    assert set(move[0]) <= {0, 2}
    best = enumerated_best(problem, levels, np.array([0, 2]), 1)
    trial = levels.copy()
    trial[move[0]] = move[1]
    assert problem.objective(problem.value_of(trial)) == best


def test_local_search_uses_triple_moves_on_a_fir_design() -> None:
    """On a FIR design single moves stall where moves of two or three variables still lower the ripple."""
    problem = fir.fir_problem(fir.PRESETS["lowpass-25-8"])
    on = dopt.solve(problem, "dmmv.local", device="cpu", seed=0, max_rounds=400)
    off = dopt.solve(problem, "dmmv.local", device="cpu", seed=0, max_rounds=400, triple_size=0)
    assert on.extras["triple_moves"] > 0 and off.extras["triple_moves"] == 0
    assert on.objective == problem.objective(on.x)


@pytest.mark.parametrize(
    ("options", "fragment"), [({"triple_size": -1}, "triple_size"), ({"triple_reach": 0}, "reach")]
)
def test_bad_triple_options_are_errors(options: dict, fragment: str) -> None:
    with pytest.raises(DoptError, match=fragment):
        dopt.solve(random_tiny_problem(1), "dmmv.local", device="cpu", **options)


@pytest.mark.parametrize("sparse", [False, True])
def test_problem_rows_and_activities_match_the_matrix(sparse: bool) -> None:
    """``DMMVProblem.row`` and ``activities`` (what the moves read A through) agree with A itself."""
    rng = np.random.default_rng(3)
    dense = np.where(rng.random((12, 7)) < 0.4, rng.normal(size=(12, 7)), 0.0)
    problem = DMMVProblem(sp.csc_array(dense) if sparse else dense, np.arange(3.0), b=np.zeros(12))
    x = rng.normal(size=7)
    rows = np.array([0, 5, 11])
    np.testing.assert_allclose(problem.activities(rows, x), dense[rows] @ x)
    for i in range(12):
        cols, coefs = problem.row(i)
        np.testing.assert_array_equal(cols, np.flatnonzero(dense[i]))
        np.testing.assert_array_equal(coefs, dense[i, cols])
