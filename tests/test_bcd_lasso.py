"""L1 problems: bcd.lasso and the proximal greedy rules against KKT conditions, duality gaps and scikit-learn."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
import scipy.sparse as sp
from bcd_cases import least_squares, logistic, relative

import dopt
from dopt.bcd import BCDProblem, lambda_max, regularization_path
from dopt.bcd.duality import duality_gap
from dopt.core.errors import MethodError

HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None


def sparse_design(seed: int = 0, n: int = 60, p: int = 150) -> tuple[sp.csc_array, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = sp.random_array((n, p), density=0.15, rng=rng, format="csc") * 3.0
    w = np.zeros(p)
    w[:6] = rng.normal(size=6)
    return sp.csc_array(A), A @ w + 0.05 * rng.normal(size=n)


def lasso_problem(frac: float = 0.1, sparse: bool = True, l2: float = 0.0) -> BCDProblem:
    A, b = sparse_design()
    A = A if sparse else A.toarray()
    top = float(np.max(np.abs(A.T @ b)))
    return BCDProblem(loss="least_squares", A=A, b=b, l1=frac * top, l2=l2)


def l1_logistic(frac: float = 0.1, sparse: bool = True) -> BCDProblem:
    A, b = sparse_design(1)
    y = np.where(b > np.median(b), 1.0, -1.0)
    A = A if sparse else A.toarray()
    return BCDProblem(loss="logistic", A=A, b=y, l1=frac * float(np.max(np.abs(A.T @ y))) / 2)


def tall_correlated(loss: str, frac: float, seed: int = 3, n: int = 300, p: int = 25) -> BCDProblem:
    """n >> p with strongly correlated columns (shared factors): the dense Gram path's case."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, 4)) @ rng.normal(size=(4, p)) + 0.3 * rng.normal(size=(n, p))
    w = np.zeros(p)
    w[:5] = rng.normal(size=5)
    b = A @ w + 0.5 * rng.normal(size=n)
    if loss == "logistic":
        b = np.where(b > 0, 1.0, -1.0)
    return BCDProblem(loss=loss, A=A, b=b, l1=frac * lambda_max(BCDProblem(loss=loss, A=A, b=b)))


def kkt(problem: BCDProblem, x: np.ndarray) -> float:
    return problem.optimality(x)


@pytest.mark.parametrize("frac", [0.3, 0.05])
@pytest.mark.parametrize("sparse", [True, False])
def test_lasso_meets_kkt_and_gap(frac: float, sparse: bool) -> None:
    problem = lasso_problem(frac, sparse)
    res = dopt.solve(problem, "bcd.lasso", tol=1e-12)
    assert res.status == "converged"
    assert res.extras["relative_gap"] <= 1e-12
    assert kkt(problem, res.x) <= 1e-6 * problem.l1
    assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-12)
    assert duality_gap(problem, res.x) == pytest.approx(res.extras["duality_gap"], rel=1e-6, abs=1e-12)


@pytest.mark.skipif(not HAVE_SKLEARN, reason="scikit-learn not installed")
def test_lasso_matches_sklearn_at_tight_tolerance() -> None:
    from sklearn.linear_model import ElasticNet, Lasso

    problem = lasso_problem(0.05, sparse=False)
    n = problem.A.shape[0]
    ref = Lasso(alpha=problem.l1 / n, fit_intercept=False, tol=1e-12, max_iter=1_000_000).fit(problem.A, problem.b)
    res = dopt.solve(problem, "bcd.lasso", tol=1e-12)
    assert abs(relative(res.objective, problem.objective(ref.coef_))) <= 1e-8
    enet = lasso_problem(0.05, sparse=False, l2=2.0)
    alpha = enet.l1 + enet.l2
    ref = ElasticNet(alpha=alpha / n, l1_ratio=enet.l1 / alpha, fit_intercept=False, tol=1e-12, max_iter=1_000_000)
    ref.fit(enet.A, enet.b)
    res = dopt.solve(enet, "bcd.lasso", tol=1e-12)
    assert abs(relative(res.objective, enet.objective(ref.coef_))) <= 1e-8
    assert res.extras["duality_gap"] >= -1e-9


@pytest.mark.parametrize("sparse", [True, False])
def test_l1_logistic_meets_kkt(sparse: bool) -> None:
    problem = l1_logistic(0.1, sparse)
    res = dopt.solve(problem, "bcd.lasso", tol=1e-12)
    assert res.status == "converged"
    assert kkt(problem, res.x) <= 1e-6 * problem.l1
    assert 0 < np.count_nonzero(res.x) < problem.n_features


@pytest.mark.parametrize("loss", ["least_squares", "logistic"])
@pytest.mark.parametrize("frac", [0.1, 0.01])
def test_gram_and_column_solves_agree(loss: str, frac: float) -> None:
    problem = tall_correlated(loss, frac)
    sparse = BCDProblem(loss=loss, A=sp.csc_array(problem.A), b=problem.b, l1=problem.l1)
    runs = [
        dopt.solve(problem, "bcd.lasso", tol=1e-12, gram="on"),
        dopt.solve(problem, "bcd.lasso", tol=1e-12, gram="off"),
        dopt.solve(sparse, "bcd.lasso", tol=1e-12),
    ]
    for res in runs:
        assert res.status == "converged"
        assert kkt(problem, res.x) <= 1e-6 * problem.l1
        assert abs(relative(res.objective, runs[0].objective)) <= 1e-10
        assert duality_gap(problem, res.x) <= 1e-9 * problem.objective(np.zeros(problem.n_features))


@pytest.mark.skipif(not HAVE_SKLEARN, reason="scikit-learn not installed")
@pytest.mark.parametrize("l2", [0.0, 5.0])
def test_gram_path_matches_sklearn_on_correlated_tall_data(l2: float) -> None:
    from sklearn.linear_model import ElasticNet

    problem = dataclasses.replace(tall_correlated("least_squares", 0.01), l2=l2)
    n = problem.A.shape[0]
    alpha = problem.l1 + problem.l2
    ref = ElasticNet(alpha=alpha / n, l1_ratio=problem.l1 / alpha, fit_intercept=False, tol=1e-12, max_iter=10**6)
    ref.fit(problem.A, problem.b)
    res = dopt.solve(problem, "bcd.lasso", tol=1e-12)
    assert abs(relative(res.objective, problem.objective(ref.coef_))) <= 1e-8
    assert res.extras["relative_gap"] <= 1e-12


def test_screening_and_anderson_do_not_change_the_answer() -> None:
    problem = lasso_problem(0.05)
    base = dopt.solve(problem, "bcd.lasso", tol=1e-12, screening=False, anderson=False)
    fast = dopt.solve(problem, "bcd.lasso", tol=1e-12)
    assert fast.extras["screened"] > 0
    assert abs(relative(fast.objective, base.objective)) <= 1e-10


def test_sparse_lasso_with_active_sweeps_matches_the_gram_solve() -> None:
    """Wide sparse Lasso at lmax/100 (most working-set columns stay zero, so the CD sweeps only the nonzero ones
    between full epochs) reaches the optimum of the dense Gram-matrix solve, which always sweeps every column."""
    from dopt.bcd.bench import correlated_sparse, synthetic_problem

    problem = synthetic_problem(correlated_sparse(300, 1200, 0.02), "least_squares", 0.01)
    sparse = dopt.solve(problem, "bcd.lasso", tol=1e-12)
    dense = BCDProblem(loss="least_squares", A=problem.A.toarray(), b=problem.b, l1=problem.l1)
    gram = dopt.solve(dense, "bcd.lasso", tol=1e-12, gram="on")
    assert sparse.status == gram.status == "converged"
    assert 0 < sparse.extras["support"] < problem.n_features // 4
    assert kkt(problem, sparse.x) <= 1e-6 * problem.l1
    assert abs(relative(sparse.objective, gram.objective)) <= 1e-11


def test_anderson_speeds_up_sparse_l1_logistic_without_changing_the_answer() -> None:
    from dopt.bcd.bench import correlated_sparse, synthetic_problem

    problem = synthetic_problem(correlated_sparse(200, 1000, 0.02), "logistic", 0.01)
    plain = dopt.solve(problem, "bcd.lasso", tol=1e-10, anderson=False)
    fast = dopt.solve(problem, "bcd.lasso", tol=1e-10)
    for res in (plain, fast):
        assert res.status == "converged"
        assert kkt(problem, res.x) <= 1e-5 * problem.l1
    assert abs(relative(fast.objective, plain.objective)) <= 1e-10
    assert fast.extras["epochs"] < 0.5 * plain.extras["epochs"]


@pytest.mark.parametrize("selection", ["gs", "gsl", "gsq", "cyclic"])
@pytest.mark.parametrize("update", ["gradient", "matrix"])
@pytest.mark.parametrize("partition", ["sorted", "variable"])
def test_proximal_greedy_rules_reach_the_lasso_optimum(selection: str, update: str, partition: str) -> None:
    problem = lasso_problem(0.1)
    best = dopt.solve(problem, "bcd.lasso", tol=1e-13).objective
    res = dopt.solve(problem, "bcd.greedy", partition=partition, selection=selection, update=update, block_size=5)
    assert res.status == "converged"
    assert abs(relative(res.objective, best)) <= 1e-8
    assert res.extras["duality_gap"] <= 1e-6 * res.objective


def test_greedy_l1_logistic_with_matrix_updates() -> None:
    problem = logistic(2, l1=0.5)
    best = dopt.solve(problem, "bcd.lasso", tol=1e-13).objective
    res = dopt.solve(problem, "bcd.greedy", selection="gsq", partition="variable", update="matrix")
    assert abs(relative(res.objective, best)) <= 1e-8


def test_gap_is_zero_only_at_the_optimum() -> None:
    problem = lasso_problem(0.1)
    res = dopt.solve(problem, "bcd.lasso", tol=1e-13)
    assert abs(duality_gap(problem, res.x)) <= 1e-9 * res.objective
    assert duality_gap(problem, res.x + 0.01) > 1e-6


def test_path_matches_individual_solves_and_warm_starts_help() -> None:
    problem = lasso_problem(0.5, sparse=False)
    path = regularization_path(problem, n_values=8, eps=0.01, tol=1e-10)
    assert path.l1_values[0] == pytest.approx(lambda_max(problem))
    assert np.count_nonzero(path.coefs[:, 0]) == 0  # x = 0 is optimal at lambda_max
    for k in (3, 7):
        stage = BCDProblem(loss="least_squares", A=problem.A, b=problem.b, l1=float(path.l1_values[k]))
        alone = dopt.solve(stage, "bcd.lasso", tol=1e-12)
        assert abs(relative(path.objectives[k], alone.objective)) <= 1e-8
        assert path.gaps[k] <= 1e-9 * stage.objective(np.zeros(problem.n_features))
    assert path.statuses == ["converged"] * 8


def test_lasso_refuses_other_problems() -> None:
    with pytest.raises(MethodError, match="l1 > 0"):
        dopt.solve(least_squares(0), "bcd.lasso")
    with pytest.raises(MethodError, match="logistic"):
        dopt.solve(logistic(0, l1=0.1, l2=0.1), "bcd.lasso")
