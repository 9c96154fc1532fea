"""bcd.greedy: every partition, selection rule and update reaches the independently computed optimum."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from bcd_cases import (
    lattice,
    lattice_optimum,
    lbfgs_optimum,
    least_squares,
    logistic,
    lstsq_optimum,
    multinomial,
    relative,
)

import dopt
from dopt.bcd import BCDProblem, blocks
from dopt.bcd.kernels import block_lasso, greedy_forest, tree_solve
from dopt.core.errors import MethodError

RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsq")
LS, LOGIT, SOFTMAX = least_squares(1), logistic(3, l2=0.5), multinomial(4, l2=0.2)
OPTIMA: dict[str, float] = {}


def optimum(name: str) -> float:
    """Each reference computed once per session."""
    if name not in OPTIMA:
        OPTIMA[name] = {
            "ls": lambda: lstsq_optimum(LS),
            "logit": lambda: lbfgs_optimum(LOGIT),
            "softmax": lambda: lbfgs_optimum(SOFTMAX),
        }[name]()
    return OPTIMA[name]


FIXED = ("contiguous", "sorted", "variable")
UPDATES = ("gradient", "matrix")


@pytest.mark.parametrize(("partition", "selection", "update"), list(itertools.product(FIXED, RULES, UPDATES)))
def test_least_squares_every_rule_reaches_lstsq(partition: str, selection: str, update: str) -> None:
    problem, best = LS, optimum("ls")
    res = dopt.solve(problem, "bcd.greedy", partition=partition, selection=selection, update=update, block_size=4)
    assert res.status == "converged"
    assert abs(relative(res.objective, best)) <= 1e-8
    assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-12)


@pytest.mark.parametrize("gram", ["on", "off"])
def test_gram_and_residual_forms_agree(gram: str) -> None:
    problem = least_squares(2, n=30, p=20, l2=0.5)
    res = dopt.solve(problem, "bcd.greedy", gram=gram, selection="gsl", partition="sorted")
    assert abs(relative(res.objective, lstsq_optimum(problem))) <= 1e-8


@pytest.mark.parametrize(
    ("partition", "selection", "update"),
    list(itertools.product(("sorted", "variable"), ("cyclic", "gsl", "gsq"), UPDATES)),
)
def test_logistic_reaches_lbfgs(partition: str, selection: str, update: str) -> None:
    problem, best = LOGIT, optimum("logit")
    res = dopt.solve(problem, "bcd.greedy", partition=partition, selection=selection, update=update)
    assert res.status == "converged"
    assert abs(relative(res.objective, best)) <= 1e-8
    assert np.abs(problem.gradient(res.x)).max() <= 1e-6


@pytest.mark.parametrize(
    ("selection", "update"), [("random", "matrix"), ("gs", "gradient"), ("gsl", "matrix"), ("gsq", "matrix")]
)
def test_multinomial_reaches_lbfgs(selection: str, update: str) -> None:
    res = dopt.solve(SOFTMAX, "bcd.greedy", partition="sorted", selection=selection, update=update, block_size=3)
    assert res.x.shape == (8, 3)
    assert abs(relative(res.objective, optimum("softmax"))) <= 1e-8


@pytest.mark.parametrize(
    ("partition", "selection"),
    [
        ("auto", "gsq"),
        ("forest", "gsq"),
        ("greedy_tree", "gsl"),
        ("greedy_tree", "gs"),
        ("greedy_tree", "random"),
        ("forest", "cyclic"),
        ("forest", "gsl"),
        ("sorted", "gsq"),
        ("variable", "gsl"),
    ],
)
def test_label_propagation_reaches_direct_solve(partition: str, selection: str) -> None:
    problem = lattice()
    res = dopt.solve(problem, "bcd.greedy", partition=partition, selection=selection, max_iter=200_000)
    assert res.status == "converged"
    assert abs(relative(res.objective, lattice_optimum(problem))) <= 1e-8


def test_tree_blocks_beat_fixed_blocks_on_the_lattice() -> None:
    """Message passing on forests needs far fewer updates than size-5 blocks (the paper's Fig. 6 finding)."""
    problem = lattice(side=15, labelled=10, weight=100.0)
    tree = dopt.solve(problem, "bcd.greedy", partition="greedy_tree", selection="gsl")
    fixed = dopt.solve(problem, "bcd.greedy", partition="sorted", selection="gsl", max_iter=200_000)
    assert tree.status == fixed.status == "converged"
    assert tree.iterations * 5 < fixed.iterations


def test_forest_partition_blocks_induce_forests() -> None:
    rng = np.random.default_rng(0)
    graph = nx.gnm_random_graph(80, 240, seed=1)
    W = sp.csr_array(nx.to_scipy_sparse_array(graph, format="csr"), dtype=float)
    part = blocks.forests(W, rng.uniform(1, 2, size=80))
    assert np.array_equal(np.sort(part.perm), np.arange(80))
    for k in range(part.n_blocks):
        assert nx.is_forest(graph.subgraph(part.block(k).tolist()))
    order = rng.permutation(80).astype(np.int64)
    grown = greedy_forest(W.indptr.astype(np.int64), W.indices.astype(np.int64), order, 80)
    assert nx.is_forest(graph.subgraph(grown.tolist()))
    outside = set(range(80)) - set(grown.tolist())
    for v in outside:  # maximal: adding any other node creates a cycle
        assert not nx.is_forest(graph.subgraph([*grown.tolist(), v]))


def test_tree_solve_matches_dense_solve() -> None:
    rng = np.random.default_rng(3)
    tree = nx.random_labeled_tree(40, seed=2)
    W = sp.csr_array(nx.to_scipy_sparse_array(tree, format="csr"), dtype=float) * rng.uniform(0.5, 2.0)
    W = sp.csr_array(W + W.T)
    Q = sp.csr_array(sp.diags_array(np.asarray(W.sum(axis=1)).ravel() + rng.uniform(0.1, 1.0, 40)) - W)
    nodes = np.arange(40, dtype=np.int64)
    rhs = rng.normal(size=(40, 2))
    pos = np.full(40, -1, dtype=np.int64)
    got = tree_solve(Q.indptr.astype(np.int64), Q.indices.astype(np.int64), Q.data, nodes, rhs, pos)
    np.testing.assert_allclose(got, np.linalg.solve(Q.toarray(), rhs), rtol=1e-10, atol=1e-12)
    assert (pos == -1).all()


def test_block_lasso_kernel_solves_the_block_subproblem() -> None:
    rng = np.random.default_rng(0)
    M = rng.normal(size=(10, 6))
    H, g, x = M.T @ M, rng.normal(size=(6, 1)), rng.normal(size=(6, 1))
    d = block_lasso(H, g, x, 0.7, 10_000, 1e-15)
    grad = g + H @ d
    new = x + d
    assert np.all(np.where(new != 0, np.abs(grad + 0.7 * np.sign(new)), np.maximum(np.abs(grad) - 0.7, 0)) < 1e-9)


def test_greedy_needs_fewer_iterations_than_cyclic_and_random() -> None:
    """The paper's ordering on a least-squares problem with unequal column scales."""
    problem = least_squares(5, n=80, p=60)
    its = {}
    for rule in ("cyclic", "random", "gsl", "gsq"):
        res = dopt.solve(problem, "bcd.greedy", partition="sorted", selection=rule, update="gradient", tol=1e-6)
        its[rule] = res.iterations
    assert max(its["gsl"], its["gsq"]) < min(its["cyclic"], its["random"]), its


def test_time_limit_and_trace() -> None:
    problem = least_squares(0, n=30, p=10)
    res = dopt.solve(problem, "bcd.greedy", selection="cyclic", max_iter=7, tol=0.0)
    assert res.status == "iteration_limit" and res.iterations == 7
    trace = res.extras["trace"]
    assert trace["iteration"] == list(range(8))
    assert np.all(np.diff(trace["objective"]) <= 1e-12)  # block steps never increase the objective


def test_bad_combinations_are_refused() -> None:
    with pytest.raises(MethodError, match="forest"):
        dopt.solve(least_squares(0), "bcd.greedy", partition="forest")
    with pytest.raises(MethodError, match="block_size"):
        dopt.solve(least_squares(0), "bcd.greedy", block_size=0)
    with pytest.raises(MethodError, match="greedy_tree"):
        dopt.solve(lattice(), "bcd.greedy", partition="greedy_tree", selection="cyclic")


def test_x0_warm_start_is_used() -> None:
    problem = least_squares(0)
    first = dopt.solve(problem, "bcd.greedy")
    again = dopt.solve(problem, "bcd.greedy", x0=first.x)
    assert again.iterations <= 1
    assert isinstance(problem, BCDProblem)
