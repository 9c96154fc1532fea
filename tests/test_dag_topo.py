"""``dag.topo`` against exhaustive search over all orders, its local optimality, recovery, options and inner solvers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from dag_cases import exhaustive, hard_instance, order_score_lstsq

import dopt
from dopt.core.errors import MethodError
from dopt.dag import DAGProblem, is_dag
from dopt.dag.inner import fit_all, l2_order_fit
from dopt.dag.kernels import cholesky_psd, swap_deltas
from dopt.dag.simulate import simulated_problem

SIZES = [4, 5, 5, 6, 6, 6, 6, 6, 6, 7]


@pytest.fixture(scope="module")
def exact_runs() -> list[tuple[DAGProblem, dict, list]]:
    """Each instance, the score of every order, and 20 single-start dag.topo runs."""
    runs = []
    for seed, d in enumerate(SIZES):
        problem = hard_instance(seed, d)
        scores = exhaustive(problem)
        results = [dopt.solve(problem, "dag.topo", seed=s) for s in range(20)]
        runs.append((problem, scores, results))
    return runs


def test_best_of_20_starts_matches_exhaustive_optimum(exact_runs: list) -> None:
    """The acceptance figure: within 1e-9 of the best of all d! orders on most instances."""
    hits = []
    for _, scores, results in exact_runs:
        best = min(scores.values())
        hits.append(min(r.extras["search_score"] for r in results) - best <= 1e-9 * max(1.0, best))
    assert np.mean(hits) >= 0.8, hits


def test_score_is_the_exact_score_of_the_returned_order(exact_runs: list) -> None:
    """The inner problem is solved exactly: the reported score is the lstsq score of its own order."""
    for _, scores, results in exact_runs:
        for r in results:
            assert r.extras["search_score"] == pytest.approx(scores[tuple(r.extras["order"])], rel=1e-9, abs=1e-12)
            assert r.objective == pytest.approx(r.extras["search_score"], rel=1e-9)  # w_threshold = 0


def test_returned_order_is_a_local_optimum_over_all_swaps(exact_runs: list) -> None:
    for _, scores, results in exact_runs:
        for r in results:
            order = list(r.extras["order"])
            here = scores[tuple(order)]
            for a in range(len(order)):
                for b in range(a + 1, len(order)):
                    swapped = order.copy()
                    swapped[a], swapped[b] = swapped[b], swapped[a]
                    assert scores[tuple(swapped)] >= here - 1e-9 * max(1.0, here)


def test_returned_graphs_are_dags_consistent_with_the_order(exact_runs: list) -> None:
    for problem, _, results in exact_runs:
        for r in results:
            problem.check(r.x)
            position = np.argsort(r.extras["order"])
            rows, cols = np.nonzero(r.x)
            assert np.all(position[rows] < position[cols])
            assert r.status == "converged"


def test_recovers_er2_graphs_d20() -> None:
    """ER2, d = 20, n = 1000, Gaussian equal-variance noise: SHD <= 2 on average over 5 seeds."""
    shds = []
    for seed in range(5):
        problem = simulated_problem(20, 1000, graph="ER", degree=2, seed=seed)
        result = dopt.solve(problem, "dag.topo", seed=seed)
        assert is_dag(result.x)
        assert result.extras["refit_score"] <= problem.refit_l2_score(problem.true_graph) + 1e-9
        shds.append(result.extras["shd"])
    assert np.mean(shds) <= 2.0, shds


def test_swap_deltas_match_recomputed_cholesky() -> None:
    rng = np.random.default_rng(3)
    d = 15
    X = rng.normal(size=(40, d)) @ rng.normal(size=(d, d))
    C = X.T @ X / 40
    order = rng.permutation(d)

    def score(o: np.ndarray) -> float:
        return 0.5 * float(np.sum(np.diag(np.linalg.cholesky(C[np.ix_(o, o)])) ** 2))

    a, b = np.triu_indices(d, 1)
    deltas = swap_deltas(cholesky_psd(C[np.ix_(order, order)]), a.astype(np.int64), b.astype(np.int64))
    for k in range(a.size):
        swapped = order.copy()
        swapped[a[k]], swapped[b[k]] = swapped[b[k]], swapped[a[k]]
        assert deltas[k] == pytest.approx(score(swapped) - score(order), abs=1e-10)


def test_closed_form_fit_matches_lstsq_even_when_singular() -> None:
    """With n < d the covariance is singular; the PSD Cholesky still gives the least-squares residuals."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 9))
    X -= X.mean(axis=0)
    order = rng.permutation(9)
    _, W, score = l2_order_fit(X.T @ X / 6, order)
    assert score == pytest.approx(order_score_lstsq(X, order), abs=1e-9)
    residual = X - X @ W
    assert 0.5 * np.sum(residual**2) / 6 == pytest.approx(score, abs=1e-9)


def test_lasso_inner_solution_meets_kkt() -> None:
    problem = simulated_problem(8, 300, seed=2, lambda1=0.05)
    order = np.arange(8, dtype=np.int64)
    W, losses = fit_all(problem.covariance, False, order, np.zeros((8, 8)), 0.05)
    grad = problem.loss_gradient(W)
    for k in range(8):
        pre = order[:k]
        g, w = grad[pre, order[k]], W[pre, order[k]]
        assert np.all(np.abs(g[w == 0]) <= 0.05 + 1e-7)
        assert np.allclose(g[w != 0], -0.05 * np.sign(w[w != 0]), atol=1e-7)
    assert losses.sum() == pytest.approx(problem.objective(W), rel=1e-9)


def test_logistic_inner_solution_meets_kkt() -> None:
    problem = simulated_problem(5, 400, seed=1, noise="logistic", lambda1=0.01)
    order = np.arange(5, dtype=np.int64)
    W, losses = fit_all(problem.data, True, order, np.zeros((5, 5)), 0.01)
    grad = problem.loss_gradient(W)
    for k in range(1, 5):
        g, w = grad[order[:k], order[k]], W[order[:k], order[k]]
        assert np.all(np.abs(g[w == 0]) <= 0.01 + 1e-6)
        assert np.allclose(g[w != 0], -0.01 * np.sign(w[w != 0]), atol=1e-6)
    assert losses.sum() == pytest.approx(problem.objective(W), rel=1e-9)


def test_penalised_search_reaches_swap_local_optimum() -> None:
    """With an L1 weight, no single swap of the returned order lowers the (refitted) objective."""
    problem = simulated_problem(6, 300, seed=4, lambda1=0.05, w_threshold=0.0)
    result = dopt.solve(problem, "dag.topo", seed=1)
    order = result.extras["order"]
    W0 = np.zeros((6, 6))
    base = fit_all(problem.covariance, False, order, W0, 0.05)[1].sum()
    assert result.extras["search_score"] == pytest.approx(base, rel=1e-8)
    for a in range(6):
        for b in range(a + 1, 6):
            swapped = order.copy()
            swapped[a], swapped[b] = swapped[b], swapped[a]
            assert fit_all(problem.covariance, False, swapped, W0, 0.05)[1].sum() >= base - 1e-8


def test_options_given_order_and_initialisers() -> None:
    problem = simulated_problem(10, 500, seed=0)
    truth_order = [int(v) for v in dopt.dag.graph.topological_order(problem.true_graph)]
    given = dopt.solve(problem, "dag.topo", order=truth_order, max_iter=0)
    assert given.extras["shd"] == 0
    from_w = dopt.solve(problem, "dag.topo", W_init=problem.true_graph)
    assert from_w.extras["search_score"] <= given.extras["search_score"] + 1e-12
    one_step = dopt.solve(problem, "dag.topo", max_iter=1, seed=5)
    assert one_step.status == "iteration_limit" and one_step.iterations == 1
    many = dopt.solve(problem, "dag.topo", restarts=4, seed=5)
    single = dopt.solve(problem, "dag.topo", seed=5)
    assert many.extras["search_score"] <= single.extras["search_score"] + 1e-12
    with pytest.raises(MethodError, match="permutation"):
        dopt.solve(problem, "dag.topo", order=[0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    with pytest.raises(MethodError, match="restarts"):
        dopt.solve(problem, "dag.topo", restarts=0)


def test_same_seed_same_answer_and_history_decreases() -> None:
    problem = simulated_problem(15, 300, seed=9)
    first = dopt.solve(problem, "dag.topo", seed=2)
    second = dopt.solve(problem, "dag.topo", seed=2)
    np.testing.assert_array_equal(first.x, second.x)
    values = [v for _, v in first.history]
    assert all(b < a for a, b in itertools.pairwise(values))


def test_time_limit_returns_a_dag() -> None:
    problem = simulated_problem(60, 200, seed=1)
    result = dopt.solve(problem, "dag.topo", time_limit=1e-3)
    assert result.status == "time_limit" and is_dag(result.x)


def test_batched_array_path_retraces_the_numba_search() -> None:
    """The GPU code path (batched Cholesky in array code), run here with NumPy as the array module."""
    from dopt.core.context import SolveContext
    from dopt.dag.batched import swap_deltas_batched
    from dopt.dag.topo import Search, TopoOptions

    problem = simulated_problem(12, 300, seed=3)
    order = np.random.default_rng(1).permutation(12)
    runs = [Search(problem, TopoOptions(), SolveContext(), xp).run(order)[0] for xp in (None, np)]
    np.testing.assert_array_equal(runs[0].order, runs[1].order)
    assert runs[0].score == runs[1].score
    a, b = np.triu_indices(12, 1)
    np.testing.assert_allclose(
        swap_deltas_batched(runs[0].factor, a, b),
        swap_deltas(runs[0].factor, a.astype(np.int64), b.astype(np.int64)),
        atol=1e-9,
    )
