"""``dmmv.cpsat`` (OR-Tools CP-SAT on the integer-scaled MILP) against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from dmmv_cases import brute_force, gaussian_problem, random_tiny_problem

import dopt
from dopt.dmmv import DMMVProblem

pytest.importorskip("ortools")


@pytest.mark.parametrize("seed", range(30))
def test_finds_brute_force_optimum(seed: int) -> None:
    problem = random_tiny_problem(seed)
    optimum, _ = brute_force(problem)
    res = dopt.solve(problem, "dmmv.cpsat", workers=1)
    problem.check(res.x)
    assert res.objective == problem.objective(res.x)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(optimum, rel=1e-5, abs=1e-9)
    assert res.extras["bound"] <= res.objective


def test_time_limit_returns_a_point_and_a_status() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(120, 40))
    problem = DMMVProblem(A, np.linspace(-1, 1, 16), b=A @ rng.uniform(-1, 1, size=40))
    res = dopt.solve(problem, "dmmv.cpsat", time_limit=0.5, workers=1)
    assert res.status in {"time_limit", "optimal"}
    assert res.objective == problem.objective(res.x)
    assert res.wall_time < 10


def test_bad_options_are_errors() -> None:
    with pytest.raises(dopt.MethodError, match="resolution"):
        dopt.solve(random_tiny_problem(0), "dmmv.cpsat", resolution=1.0)
    with pytest.raises(dopt.MethodError, match="workers"):
        dopt.solve(random_tiny_problem(0), "dmmv.cpsat", workers=-1)


def test_solution_hint_is_the_first_incumbent() -> None:
    """x0 (here dmmv.local's answer) is followed first; the search can only improve on it."""
    problem = gaussian_problem()
    start = dopt.solve(problem, "dmmv.local", time_limit=1, seed=0)
    res = dopt.solve(problem, "dmmv.cpsat", time_limit=3, workers=1, x0=start.x)  # presolve takes ~0.5 s
    assert res.history[0][1] == start.objective
    assert res.objective <= start.objective
    cold = dopt.solve(problem, "dmmv.cpsat", time_limit=3, workers=1)
    assert cold.history[0][1] > start.objective  # without the hint the first incumbent is a worse one


def test_hint_outside_the_domains_is_an_error() -> None:
    problem = random_tiny_problem(0)
    with pytest.raises(dopt.MethodError, match="x0"):
        dopt.solve(problem, "dmmv.cpsat", x0=np.full(problem.shape[1], 1e9))
