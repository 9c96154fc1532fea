"""The exact and bounding DMMV baselines: dmmv.milp, dmmv.round and the LP relaxation, against brute force."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from dmmv_cases import brute_force, gaussian_problem, random_tiny_problem
from scipy.optimize import linprog

import dopt
from dopt.core.context import SolveContext
from dopt.dmmv import DMMVProblem, milp, relax
from dopt.dmmv.relax import lp_relaxation, round_to_domain

SEEDS = range(60)
BACKENDS = ("highspy", "scipy")


@functools.cache
def tiny(seed: int) -> tuple[DMMVProblem, float]:
    """Tiny instance ``seed`` and its brute-force optimum."""
    problem = random_tiny_problem(seed)
    return problem, brute_force(problem)[0]


def chebyshev_problem() -> DMMVProblem:
    """min over x in {0, 0.5, 1} of max(|x|, 3|x - 1|): LP optimum x = 0.75, discrete optimum x = 1."""
    return DMMVProblem(np.ones((2, 1)), [0.0, 0.5, 1.0], b=[0.0, 1.0], weights=[1.0, 3.0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_milp_finds_brute_force_optimum(seed: int, backend: str) -> None:
    problem, best = tiny(seed)
    res = dopt.solve(problem, "dmmv.milp", backend=backend)
    problem.check(res.x)
    assert res.status == "optimal"
    assert res.objective == problem.objective(res.x)
    assert res.objective == pytest.approx(best, abs=1e-9)
    assert res.extras["bound"] <= best + 1e-9
    assert res.extras["solver"] == backend


@pytest.mark.parametrize("seed", SEEDS)
def test_round_bound_is_valid(seed: int) -> None:
    problem, best = tiny(seed)
    res = dopt.solve(problem, "dmmv.round")
    problem.check(res.x)
    assert res.status == "converged"
    assert res.objective == problem.objective(res.x)
    assert res.extras["bound"] <= best + 1e-9
    assert res.extras["relaxation_objective"] == pytest.approx(res.extras["bound"], abs=1e-7)


def test_lp_relaxation_known_answer() -> None:
    lp = lp_relaxation(chebyshev_problem())
    assert lp.status == "optimal"
    np.testing.assert_allclose(lp.x, [0.75], atol=1e-9)
    assert lp.bound == pytest.approx(0.75, abs=1e-9)


def _lp_parts(problem: DMMVProblem) -> tuple:
    """The relaxation's inequality rows, right-hand side and box, as ``lp_relaxation`` builds them."""
    rows = relax.epigraph_rows(problem, problem.A, np.zeros(problem.shape[0]))
    a_ub = sp.vstack([rows.upper, -rows.lower], format="csr")
    b_ub = np.concatenate([rows.upper_rhs, -rows.lower_rhs])
    return (a_ub, b_ub, *relax.domain_range(problem))


@pytest.mark.parametrize("seed", range(12))
def test_dual_bound_is_valid_for_any_multipliers_and_tight_at_the_dual_optimum(seed: int) -> None:
    problem, best = tiny(seed)
    a_ub, b_ub, lo, hi = _lp_parts(problem)
    n = problem.shape[1]
    cost = np.zeros(n + 1)
    cost[n] = 1.0
    bounds = np.column_stack([np.append(lo, 0.0), np.append(hi, np.inf)])
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    rng = np.random.default_rng(seed)
    for _ in range(20):
        y = rng.exponential(size=b_ub.size) * (rng.random(b_ub.size) < 0.5)
        assert relax.dual_bound(a_ub, b_ub, lo, hi, y) <= res.fun + 1e-9
    assert relax.dual_bound(a_ub, b_ub, lo, hi, res.ineqlin.marginals) == pytest.approx(res.fun, abs=1e-9)
    assert res.fun <= best + 1e-9


@pytest.mark.skipif(not milp.highspy_available(), reason="PDLP needs highspy")
@pytest.mark.parametrize("seed", range(8))
def test_pdlp_relaxation_bound_is_valid_and_close_to_the_simplex(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sparse LPs go to PDLP (threshold lowered here): its bound never exceeds the brute-force optimum and
    matches the simplex's LP optimum to PDLP's accuracy."""
    problem, best = tiny(seed)
    sparse_problem = DMMVProblem(
        sp.csc_array(problem.A), problem.values, lower=problem.lower, upper=problem.upper, weights=problem.weights
    )
    simplex = lp_relaxation(sparse_problem)
    monkeypatch.setattr(relax, "PDLP_MIN_NNZ", 0)
    pdlp = lp_relaxation(sparse_problem)
    assert pdlp.status == "optimal"
    assert pdlp.bound <= best + 1e-9
    assert pdlp.bound == pytest.approx(simplex.bound, rel=1e-4, abs=1e-6)
    lo, hi = relax.domain_range(problem)
    assert np.all((pdlp.x >= lo) & (pdlp.x <= hi))


def test_zero_violation_fit_skips_the_lp_on_consistent_dense_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Data from a point inside the box (one variable of a single value): the fit meets every row, the LP
    solver is never called, and the bound is the LP optimum 0."""
    rng = np.random.default_rng(5)
    A = rng.normal(size=(40, 12))
    values = np.tile(np.linspace(-1.0, 1.0, 5), (12, 1))
    values[3, 1:] = np.nan
    values[3, 0] = 0.25
    z = np.append(rng.uniform(-0.9, 0.9, size=11), 0.0)
    z[3] = 0.25
    problem = DMMVProblem(A, values, lower=A @ z - 0.01, upper=A @ z + 0.01)

    def no_lp(*args: object, **kwargs: object) -> None:
        raise AssertionError("the LP solver ran")

    monkeypatch.setattr(relax, "linprog", no_lp)
    lp = lp_relaxation(problem)
    assert (lp.status, lp.bound) == ("optimal", 0.0)
    assert problem.objective(lp.x) <= 1e-9 and lp.x[3] == 0.25
    assert relax.zero_violation_point(chebyshev_problem()) is None
    monkeypatch.undo()
    simplex = lp_relaxation(problem, solver="simplex")  # skips the fit: the LP itself, same optimum 0
    assert simplex.status == "optimal" and simplex.bound == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="solver"):
        lp_relaxation(problem, solver="pdlp")


def test_round_to_domain_nearest_with_ties_to_lower() -> None:
    problem = DMMVProblem(np.ones((1, 3)), [[0.0, 1.0, np.nan], [-1.0, 0.0, 2.0], [5.0, np.nan, np.nan]], b=[0.0])
    np.testing.assert_array_equal(round_to_domain(problem, [0.5, 1.0, -7.0]), [0, 1, 0])
    np.testing.assert_array_equal(round_to_domain(problem, [0.9, 1.2, 9.0]), [1, 2, 0])


def test_round_and_milp_on_known_instance() -> None:
    problem = chebyshev_problem()
    rounded = dopt.solve(problem, "dmmv.round")
    assert rounded.x.tolist() == [0.5]  # 0.75 is halfway: ties go to the lower value
    assert rounded.objective == pytest.approx(1.5)
    assert rounded.extras["bound"] == pytest.approx(0.75)
    exact = dopt.solve(problem, "dmmv.milp")
    assert exact.x.tolist() == [1.0]
    assert exact.objective == pytest.approx(1.0)


def _solve_small(values: np.ndarray, n: int, seed: int) -> tuple[DMMVProblem, milp.Formulation]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(2 * n, n))
    problem = DMMVProblem(A, values, b=A @ rng.uniform(values.min(), values.max(), size=n))
    return problem, milp.formulate(problem)


@pytest.mark.parametrize("backend", BACKENDS)
def test_uniform_grid_uses_integer_levels(backend: str) -> None:
    values = np.arange(16) * 0.1 - 0.75  # a uniform grid up to rounding noise
    problem, form = _solve_small(values, 3, seed=7)
    assert form.grid.all() and not form.onehot.any()
    assert form.num_col == 3 + 1
    res = dopt.solve(problem, "dmmv.milp", backend=backend)
    assert res.objective == pytest.approx(brute_force(problem)[0], abs=1e-9)
    problem.check(res.x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonuniform_domain_uses_one_hot(backend: str) -> None:
    values = np.array([-1.0, 0.0, 0.5, 2.0])
    problem, form = _solve_small(values, 4, seed=8)  # seed 8 once fooled scipy's HiGHS presolve
    assert form.onehot.all() and not form.grid.any()
    assert form.num_col == 4 * 4 + 1
    assert form.matrix.shape[0] == 2 * 2 * 4 + 4  # two rows per equality, one choice row per variable
    res = dopt.solve(problem, "dmmv.milp", backend=backend)
    assert res.objective == pytest.approx(brute_force(problem)[0], abs=1e-9)
    problem.check(res.x)


def test_mixed_domains_columns() -> None:
    problem = DMMVProblem(np.ones((1, 3)), [[2.0, np.nan, np.nan], [0.0, 1.0, np.nan], [0.0, 1.0, 3.0]], b=[4.0])
    form = milp.formulate(problem)
    assert form.grid.tolist() == [False, True, False]
    assert form.onehot.tolist() == [False, False, True]
    assert form.num_col == 0 + 1 + 3 + 1
    res = dopt.solve(problem, "dmmv.milp")
    assert res.objective == 0.0
    assert res.x.tolist() == [2.0, 1.0, 1.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_time_limit_returns_incumbent_and_bound(backend: str) -> None:
    problem = gaussian_problem()
    res = dopt.solve(problem, "dmmv.milp", time_limit=1, backend=backend)
    assert res.status == "time_limit"
    problem.check(res.x)
    assert res.objective == problem.objective(res.x)
    assert 0.0 <= res.extras["bound"] <= res.objective
    assert 0.0 <= res.extras["gap"] <= 1.0
    assert res.wall_time < 3.0


def test_callback_stop_interrupts_with_incumbent() -> None:
    problem = gaussian_problem()
    seen = []
    res = dopt.solve(problem, "dmmv.milp", time_limit=20, callback=lambda progress: seen.append(progress) or True)
    assert res.status == "interrupted"
    problem.check(res.x)
    assert len(seen) >= 1 and seen[0].x is not None
    assert res.objective <= seen[0].objective
    assert res.history


@pytest.mark.parametrize("seed", range(10))
def test_columns_of_inverts_levels_of(seed: int) -> None:
    problem = random_tiny_problem(seed)
    form = milp.formulate(problem)
    levels = np.random.default_rng(seed).integers(0, problem.sizes)
    y = form.columns_of(levels, 0.5)
    np.testing.assert_array_equal(form.levels_of(y), levels)
    assert y[-1] == 0.5


def test_mip_start_is_the_first_incumbent() -> None:
    problem = gaussian_problem()
    start = dopt.solve(problem, "dmmv.local", time_limit=1, seed=0)
    res = dopt.solve(problem, "dmmv.milp", time_limit=0.3, x0=start.x)
    assert res.history[0][1] == start.objective
    assert res.objective <= start.objective


def test_mip_start_errors() -> None:
    problem = random_tiny_problem(0)
    x0 = problem.value_of(np.zeros(problem.shape[1], dtype=np.int64))
    with pytest.raises(dopt.MethodError, match="highspy"):
        dopt.solve(problem, "dmmv.milp", backend="scipy", x0=x0)
    with pytest.raises(dopt.MethodError, match="x0"):
        dopt.solve(problem, "dmmv.milp", x0=x0 + 0.123)


def test_callback_error_propagates() -> None:
    def fail(progress: object) -> None:
        raise RuntimeError("user callback failed")

    with pytest.raises(RuntimeError, match="user callback failed"):
        dopt.solve(gaussian_problem(), "dmmv.milp", time_limit=20, callback=fail)


def test_no_incumbent_falls_back_to_rounded_relaxation() -> None:
    problem = gaussian_problem()
    ctx = SolveContext()
    ctx.interrupted = True  # as if Ctrl-C came before HiGHS found anything
    res = milp.run(problem, milp.MILPOptions(), ctx)
    assert res.status == "interrupted"
    assert res.extras["fallback"].startswith("rounded LP relaxation")
    rounded = dopt.solve(problem, "dmmv.round")
    np.testing.assert_array_equal(res.x, rounded.x)
    assert res.extras["bound"] == pytest.approx(rounded.extras["bound"])


def test_auto_backend_without_highspy_uses_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milp, "highspy_available", lambda: False)
    problem, best = tiny(3)
    res = dopt.solve(problem, "dmmv.milp")
    assert res.extras["solver"] == "scipy"
    assert res.objective == pytest.approx(best, abs=1e-9)
    with pytest.raises(dopt.MethodError, match="highspy"):
        dopt.solve(problem, "dmmv.milp", backend="highspy")


def test_gap_option_and_validation() -> None:
    problem, best = tiny(5)
    res = dopt.solve(problem, "dmmv.milp", mip_rel_gap=0.5)
    assert res.status == "converged"
    assert res.objective <= 2 * best + 1e-9
    with pytest.raises(dopt.MethodError, match="mip_rel_gap"):
        dopt.solve(problem, "dmmv.milp", mip_rel_gap=-1.0)
    with pytest.raises(dopt.MethodError, match="backend"):
        dopt.solve(problem, "dmmv.milp", backend="gurobi")
