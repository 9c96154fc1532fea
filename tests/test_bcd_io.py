"""bcd problem files: manifests for every loss, LIBSVM reading, bundled files, validation and the plot helper."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from bcd_cases import lattice, logistic, multinomial

import dopt
from dopt.bcd import BCDProblem, load_libsvm, read_libsvm
from dopt.bcd.libsvm import parse_libsvm
from dopt.bcd.plot import plot_convergence, plot_files
from dopt.core.errors import FormatError, ProblemError

PROBLEMS = Path(__file__).resolve().parent.parent / "problems" / "bcd"


@pytest.mark.parametrize(
    "problem",
    [
        logistic(0, l1=0.2),
        multinomial(0, l2=0.1),
        lattice(side=5, labelled=3),
        BCDProblem(loss="least_squares", A=sp.random_array((20, 30), density=0.2, rng=0), b=np.arange(20.0), l1=0.5),
    ],
    ids=["logistic", "multinomial", "label_propagation", "sparse-lasso"],
)
def test_manifest_round_trip(problem: BCDProblem, tmp_path: Path) -> None:
    path = dopt.save(problem, tmp_path / "p.toml")
    back = dopt.load(path)
    assert isinstance(back, BCDProblem) and back.loss == problem.loss
    assert (back.l1, back.l2, back.label_weight) == (problem.l1, problem.l2, problem.label_weight)
    x = np.random.default_rng(0).normal(size=problem.x_shape)
    assert back.objective(x) == problem.objective(x)


def test_bundled_files_solve_to_their_optimality_targets() -> None:
    lasso = dopt.solve(PROBLEMS / "small-lasso.toml")
    assert lasso.method == "bcd.lasso" and lasso.extras["relative_gap"] <= 1e-10
    logit = dopt.solve(PROBLEMS / "small-logistic.toml")
    assert logit.extras["relative_gap"] <= 1e-8
    labels = dopt.load(PROBLEMS / "lattice-labels.toml")
    res = dopt.solve(labels)
    assert res.status == "converged" and res.extras["update"] == "message_passing"
    assert labels.optimality(res.x) <= 1e-6 * labels.optimality(np.zeros(labels.x_shape))


def test_libsvm_file_matches_the_manifest() -> None:
    manifest = dopt.load(PROBLEMS / "small-logistic.toml")
    X, y = parse_libsvm(PROBLEMS / "small-logistic.svm", n_features=manifest.n_features)
    np.testing.assert_allclose(X.toarray(), manifest.A.toarray(), rtol=1e-6)
    np.testing.assert_array_equal(y, manifest.b)
    problem = load_libsvm(PROBLEMS / "small-logistic.svm", loss="logistic", l1=manifest.l1)
    assert problem.loss == "logistic" and set(np.unique(problem.b)) == {-1.0, 1.0}


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn not installed")
def test_numpy_parser_agrees_with_sklearn(tmp_path: Path) -> None:
    path = tmp_path / "d.svm"
    path.write_text("# comment\n2 1:0.5 3:-1e-2\n\n0 2:4 # trailing\n1 1:1 2:2 3:3\n")
    X1, y1 = parse_libsvm(path)
    X2, y2 = read_libsvm(path)
    np.testing.assert_array_equal(X1.toarray(), X2.toarray())
    np.testing.assert_array_equal(y1, y2)
    multi = load_libsvm(path, loss="multinomial")
    np.testing.assert_array_equal(multi.b, [2.0, 0.0, 1.0])


def test_bad_libsvm_lines_are_format_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.svm"
    path.write_text("1 3:1 2:1\n")
    with pytest.raises(FormatError, match="increasing"):
        parse_libsvm(path)
    path.write_text("1 a:b\n")
    with pytest.raises(FormatError, match="LIBSVM"):
        parse_libsvm(path)


def test_validation_names_the_field() -> None:
    A = np.ones((3, 2))
    with pytest.raises(ProblemError, match="loss"):
        BCDProblem(loss="hinge", A=A, b=np.ones(3))
    with pytest.raises(ProblemError, match="-1 or 1"):
        BCDProblem(loss="logistic", A=A, b=np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ProblemError, match="l1"):
        BCDProblem(loss="least_squares", A=A, b=np.ones(3), l1=-1.0)
    with pytest.raises(ProblemError, match="symmetric"):
        BCDProblem(loss="label_propagation", W=np.array([[0, 1.0], [0, 0]]), b=np.zeros(2), labelled=np.ones(2))
    with pytest.raises(ProblemError, match="x: expected shape"):
        logistic(0).objective(np.zeros(3))


def test_unknown_manifest_entries_are_refused(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(
        'kind = "bcd"\n[params]\nloss = "least_squares"\nalpha = 1\n[data]\nA = [[1.0]]\nb = [1.0]\n'
    )
    with pytest.raises(FormatError, match="alpha"):
        dopt.load(tmp_path / "p.toml")


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    problem = logistic(0, l2=0.1)
    runs = [
        dopt.solve(problem, "bcd.greedy", selection=rule, partition="sorted", max_iter=50) for rule in ("cyclic", "gsq")
    ]
    out = plot_convergence(runs, ["cyclic", "gsq"], out=tmp_path / "fig.png")
    assert out.stat().st_size > 1000
    runs[0].save(tmp_path / "a.json")
    assert plot_files([tmp_path / "a.json"], out=tmp_path / "g.png").stat().st_size > 1000
