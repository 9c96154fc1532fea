"""The dag problem (scores, validation, files), graph metrics, simulators, the NOTEARS baseline and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dopt
from dopt.cli import main
from dopt.core.errors import FormatError, ProblemError
from dopt.dag import DAGProblem, accuracy, is_dag, shd
from dopt.dag.files import save_csv
from dopt.dag.graph import order_mask, threshold_to_dag, topological_order
from dopt.dag.notears import acyclicity
from dopt.dag.simulate import simulate, simulate_dag, simulated_problem

ROOT = Path(__file__).resolve().parents[1]


def random_dag_weights(rng: np.random.Generator, d: int) -> np.ndarray:
    W = np.triu(rng.normal(size=(d, d)) * (rng.random((d, d)) < 0.5), 1)
    perm = rng.permutation(d)
    return W[np.ix_(perm, perm)]


def test_l2_score_and_gradient_match_the_definitions() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6))
    problem = DAGProblem(X=X, lambda1=0.1, center=False)
    W = random_dag_weights(rng, 6)
    direct = 0.5 / 50 * np.sum((X - X @ W) ** 2) + 0.1 * np.abs(W).sum()
    assert problem.objective(W) == pytest.approx(direct, rel=1e-12)
    E = np.zeros((6, 6))
    E[1, 2] = 1e-6
    fd = (problem.loss(W + E) - problem.loss(W - E)) / 2e-6
    assert problem.loss_gradient(W)[1, 2] == pytest.approx(fd, rel=1e-6)


def test_logistic_score_and_gradient_match_the_definitions() -> None:
    rng = np.random.default_rng(1)
    X = (rng.random((80, 5)) < 0.4).astype(float)
    problem = DAGProblem(X=X, score="logistic")
    W = random_dag_weights(rng, 5)
    Z = X @ W
    assert problem.loss(W) == pytest.approx(np.mean(np.sum(np.log1p(np.exp(Z)) - X * Z, axis=1)), rel=1e-12)
    E = np.zeros((5, 5))
    E[3, 0] = 1e-6
    fd = (problem.loss(W + E) - problem.loss(W - E)) / 2e-6
    assert problem.loss_gradient(W)[3, 0] == pytest.approx(fd, rel=1e-6)


def test_centering_and_standardising() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 3)) * [1.0, 10.0, 100.0] + 5.0
    assert np.allclose(DAGProblem(X=X).data.mean(axis=0), 0.0)
    assert np.allclose(DAGProblem(X=X, standardize=True).data.std(axis=0), 1.0)
    np.testing.assert_array_equal(DAGProblem(X=X, center=False).data, X)


def test_refit_is_least_squares_on_the_parents() -> None:
    rng = np.random.default_rng(3)
    problem = simulated_problem(6, 200, seed=3)
    W = problem.refit(problem.true_graph)
    for j in range(6):
        parents = np.flatnonzero(problem.true_graph[:, j])
        if parents.size:
            coef = np.linalg.lstsq(problem.data[:, parents], problem.data[:, j], rcond=None)[0]
            np.testing.assert_allclose(W[parents, j], coef, rtol=1e-10)
    assert problem.refit_l2_score(problem.true_graph) <= problem.loss(problem.true_graph) + 1e-12
    assert rng is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.ones(5)}, "n x d"),
        ({"X": np.full((4, 2), np.nan)}, "NaN"),
        ({"X": np.ones((4, 2)), "score": "l1"}, "score"),
        ({"X": np.full((4, 2), 2.0), "score": "logistic"}, "binary"),
        ({"X": np.ones((4, 2)), "lambda1": -1.0}, "lambda1"),
        ({"X": np.ones((4, 2)), "w_threshold": np.inf}, "w_threshold"),
        ({"X": np.ones((4, 2)), "true_graph": np.ones((3, 3))}, "shape"),
        ({"X": np.ones((4, 2)), "true_graph": np.eye(2)}, "self-loops"),
        ({"X": np.ones((4, 2)), "standardize": True}, "constant"),
    ],
)
def test_invalid_problems_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ProblemError, match=match):
        DAGProblem(**kwargs)


def test_check_refuses_cycles_and_self_loops() -> None:
    problem = DAGProblem(X=np.random.default_rng(0).normal(size=(10, 3)))
    problem.check(np.array([[0, 1.0, 0], [0, 0, 1.0], [0, 0, 0]]))
    with pytest.raises(ProblemError, match="cycle"):
        problem.check(np.array([[0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]]))
    with pytest.raises(ProblemError, match="self-loops"):
        problem.check(np.eye(3))


def test_accuracy_counts_missing_extra_and_reversed_edges() -> None:
    true = np.zeros((4, 4))
    true[0, 1] = true[1, 2] = true[2, 3] = 1
    est = np.zeros((4, 4))
    est[1, 0] = 1  # reversed
    est[1, 2] = 1  # correct
    est[0, 3] = 1  # extra; 2 -> 3 missing
    acc = accuracy(true, est)
    assert acc == {"shd": 3.0, "tpr": 1 / 3, "fdr": 2 / 3, "fpr": 2 / 3, "nnz": 3.0}
    assert shd(true, true) == 0 and shd(true, np.zeros((4, 4))) == 3


def test_topological_order_and_dag_cut() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        W = random_dag_weights(rng, 7)
        order = topological_order(W)
        assert order is not None and np.all(order_mask(order)[W != 0])
        cyclic = W + W.T * (rng.random((7, 7)) < 0.3)
        cut = threshold_to_dag(cyclic)
        assert is_dag(cut) and np.all((cut == 0) | (cut == cyclic))


def test_simulators_give_dags_of_the_requested_size() -> None:
    rng = np.random.default_rng(5)
    B = simulate_dag(30, 2, "ER", rng)
    assert is_dag(B) and B.sum() == 60
    S = simulate_dag(30, 4, "SF", rng)
    assert is_dag(S) and abs(S.sum() - 4 * 30) <= 4 * 4
    X, W = simulate(20, 500, graph="ER", degree=2, noise="gauss", seed=1)
    weights = np.abs(W[W != 0])
    assert np.all((weights >= 0.5) & (weights <= 2.0)) and X.shape == (500, 20)
    X2, W2 = simulate(20, 500, graph="ER", degree=2, noise="gauss", seed=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(W, W2)
    for noise in ("exp", "gumbel"):
        assert np.isfinite(simulate(5, 50, noise=noise, seed=0)[0]).all()
    binary, _ = simulate(5, 50, noise="logistic", seed=0)
    assert set(np.unique(binary)) <= {0.0, 1.0}
    # a root node's variance is the noise variance: equal-variance Gaussian SEM
    roots = np.flatnonzero(W.sum(axis=0) == 0)
    assert np.allclose(X[:, roots].var(axis=0), 1.0, atol=0.25)


def test_csv_problem_file_round_trip(tmp_path: Path) -> None:
    problem = simulated_problem(5, 40, seed=0, lambda1=0.02, standardize=True)
    path = save_csv(problem, tmp_path / "p.toml", digits=17)
    loaded = dopt.load(path)
    np.testing.assert_array_equal(loaded.X, problem.X)
    np.testing.assert_array_equal(loaded.true_graph, problem.true_graph)
    assert (loaded.lambda1, loaded.standardize, loaded.score) == (0.02, True, "l2")
    npy = dopt.load(dopt.save(problem, tmp_path / "q.toml"))
    np.testing.assert_array_equal(npy.X, problem.X)


def test_manifest_errors_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("1,2\n3,4\n5,7\n")
    (tmp_path / "a.toml").write_text('kind = "dag"\n[params]\nalpha = 1\n[data]\nX = "x.csv"\n')
    with pytest.raises(FormatError, match="alpha"):
        dopt.load(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text('kind = "dag"\n[data]\nY = "x.csv"\n')
    with pytest.raises(FormatError, match="Y"):
        dopt.load(tmp_path / "b.toml")
    (tmp_path / "c.toml").write_text('kind = "dag"\n[params]\nscore = "l3"\n[data]\nX = "x.csv"\n')
    with pytest.raises(ProblemError, match="score"):
        dopt.load(tmp_path / "c.toml")


def test_notears_baseline_finds_a_dag_with_small_acyclicity_violation() -> None:
    problem = simulated_problem(5, 500, seed=1, lambda1=0.05)
    result = dopt.solve(problem, "dag.notears")
    assert is_dag(result.x) and result.status == "converged"
    assert result.extras["h"] <= 1e-6
    assert result.extras["shd"] <= 1
    assert result.objective == pytest.approx(problem.objective(result.x))
    topo = dopt.solve(problem, "dag.topo", init="notears")
    assert topo.extras["shd"] <= result.extras["shd"]


def test_acyclicity_is_zero_exactly_on_dags() -> None:
    rng = np.random.default_rng(6)
    W = random_dag_weights(rng, 6)
    assert abs(acyclicity(W)[0]) < 1e-10
    W[np.nonzero(W)[1][0], np.nonzero(W)[0][0]] = 1.0
    assert acyclicity(W)[0] > 0.1


@pytest.mark.parametrize("name", ["er2-d10", "sf4-d20", "sachs"])
def test_bundled_problem_files_solve_from_the_cli(name: str, capsys: pytest.CaptureFixture) -> None:
    path = ROOT / "problems" / "dag" / f"{name}.toml"
    assert main(["solve", str(path), "--quiet"]) == 0
    assert "dag.topo" in capsys.readouterr().out
    problem = dopt.load(path)
    result = dopt.solve(problem)
    assert is_dag(result.x)
    if name != "sachs":
        assert result.extras["shd"] == 0
