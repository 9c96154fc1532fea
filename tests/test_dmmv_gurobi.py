"""``dmmv.gurobi`` (the MILP of dmmv.milp solved by Gurobi) against brute force and HiGHS."""

from __future__ import annotations

import numpy as np
import pytest
from dmmv_cases import brute_force, gaussian_problem, random_tiny_problem

import dopt
from dopt.core.context import SolveContext
from dopt.dmmv import DMMVProblem, gurobi, milp

gp = pytest.importorskip("gurobipy")


def _licence_problem() -> str | None:
    """Why Gurobi cannot start here (no licence, an expired one), or None when it can."""
    try:
        with gp.Env(empty=True) as env:
            env.setParam("OutputFlag", 0)
            env.start()
    except gp.GurobiError as exc:
        return str(exc)
    return None


LICENCE_PROBLEM = _licence_problem()
pytestmark = pytest.mark.skipif(LICENCE_PROBLEM is not None, reason=f"no usable Gurobi licence: {LICENCE_PROBLEM}")


@pytest.mark.parametrize("seed", range(30))
def test_finds_brute_force_optimum(seed: int) -> None:
    problem = random_tiny_problem(seed)
    optimum, _ = brute_force(problem)
    res = dopt.solve(problem, "dmmv.gurobi", threads=1)
    problem.check(res.x)
    assert res.objective == problem.objective(res.x)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(optimum, rel=1e-6, abs=1e-9)
    assert res.extras["bound"] == res.objective and res.extras["gap"] == 0.0
    assert res.extras["solver_status"] == "OPTIMAL"


def test_one_hot_domains_match_highs() -> None:
    """Non-uniform domains take the one-hot encoding: Gurobi and HiGHS agree on its optimum."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(30, 10))
    values = np.array([-2.0, -0.5, 0.0, 0.25, 1.5])
    problem = DMMVProblem(A, values, b=A @ rng.choice(values, size=10) + rng.normal(scale=0.3, size=30))
    assert milp.formulate(problem).onehot.all()
    ours = dopt.solve(problem, "dmmv.gurobi", threads=1)
    highs = dopt.solve(problem, "dmmv.milp")
    assert ours.status == highs.status == "optimal"
    assert ours.objective == pytest.approx(highs.objective, rel=1e-6)


def test_time_limit_returns_incumbent_and_bound() -> None:
    problem = gaussian_problem()
    res = dopt.solve(problem, "dmmv.gurobi", time_limit=1, threads=1)
    assert res.status == "time_limit"
    problem.check(res.x)
    assert res.objective == problem.objective(res.x)
    assert 0.0 < res.extras["bound"] <= res.objective
    assert res.wall_time < 3.0


def test_mip_start_is_the_first_incumbent() -> None:
    problem = gaussian_problem()
    start = dopt.solve(problem, "dmmv.local", time_limit=1, seed=0)
    res = dopt.solve(problem, "dmmv.gurobi", time_limit=0.3, threads=1, x0=start.x)
    assert res.history[0][1] == start.objective
    assert res.objective <= start.objective


def test_callback_stop_interrupts_with_incumbent() -> None:
    problem = gaussian_problem()
    seen = []
    res = dopt.solve(problem, "dmmv.gurobi", time_limit=20, callback=lambda progress: seen.append(progress) or True)
    assert res.status == "interrupted"
    assert res.wall_time < 10
    assert seen and seen[0].x is not None
    assert res.objective <= seen[0].objective


def test_callback_error_propagates() -> None:
    def fail(progress: object) -> None:
        raise RuntimeError("user callback failed")

    with pytest.raises(RuntimeError, match="user callback failed"):
        dopt.solve(gaussian_problem(), "dmmv.gurobi", time_limit=20, callback=fail)


def test_no_incumbent_falls_back_to_rounded_relaxation() -> None:
    ctx = SolveContext()
    ctx.interrupted = True  # a stop request before Gurobi's first solution
    res = gurobi.run(gaussian_problem(), gurobi.GurobiOptions(), ctx)
    assert res.status == "interrupted"
    assert res.extras["fallback"].startswith("rounded LP relaxation")


def test_size_limited_licence_is_a_clear_error() -> None:
    """The pip licence caps the model at 2000 rows: the refusal names the limit and the way out."""
    problem = gaussian_problem(n=20, m=1001)  # 2002 epigraph rows
    try:
        res = dopt.solve(problem, "dmmv.gurobi", time_limit=1, threads=1)
    except dopt.MethodError as exc:
        assert "licence" in str(exc) and "2002 constraints" in str(exc) and "dmmv.milp" in str(exc)
    else:
        pytest.skip(f"this Gurobi licence accepts 2002 constraints (status {res.status})")


def test_other_gurobi_failures_keep_their_message() -> None:
    error = gurobi._method_error(gp.GurobiError(10001, "out of memory"), milp.formulate(random_tiny_problem(0)))
    assert "out of memory" in str(error) and "licence" not in str(error)


def test_bad_options_are_errors() -> None:
    with pytest.raises(dopt.MethodError, match="threads"):
        dopt.solve(random_tiny_problem(0), "dmmv.gurobi", threads=-1)
    with pytest.raises(dopt.MethodError, match="mip_rel_gap"):
        dopt.solve(random_tiny_problem(0), "dmmv.gurobi", mip_rel_gap=-0.1)
