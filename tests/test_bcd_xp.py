"""bcd.greedy's array-namespace (GPU) path, run with NumPy standing in for CuPy, against the CPU solver."""

from __future__ import annotations

import numpy as np
import pytest
from bcd_cases import lattice, lattice_optimum, least_squares, logistic, multinomial, relative

import dopt
from dopt.bcd.greedy import GreedyOptions
from dopt.bcd.xp_greedy import run_xp
from dopt.core.context import SolveContext
from dopt.core.errors import MethodError


def run(problem, **options):
    return run_xp(problem, GreedyOptions(**options), SolveContext(device="cpu"), np)


@pytest.mark.parametrize(
    "problem",
    [least_squares(0, l2=0.1), logistic(1, l2=0.3), multinomial(2, l2=0.2), lattice(side=8, labelled=6)],
    ids=["least_squares", "logistic", "multinomial", "label_propagation"],
)
@pytest.mark.parametrize("update", ["gradient", "matrix"])
def test_xp_path_reaches_the_cpu_optimum(problem, update: str) -> None:
    cpu = dopt.solve(problem, "bcd.greedy", partition="variable", selection="gsl", tol=1e-11, max_iter=200_000)
    got = run(problem, selection="gsl", update=update, tol=1e-10, max_iter=200_000)
    assert got.status == "converged"
    best = lattice_optimum(problem) if problem.loss == "label_propagation" else cpu.objective
    assert abs(relative(got.objective, best)) <= 1e-8


def test_xp_path_l1_matches_bcd_lasso() -> None:
    problem = least_squares(3, l1=2.0)
    best = dopt.solve(problem, "bcd.lasso", tol=1e-13).objective
    got = run(problem, selection="gs", update="gradient", tol=1e-10)
    assert abs(relative(got.objective, best)) <= 1e-8


def test_xp_path_refuses_what_it_does_not_run() -> None:
    with pytest.raises(MethodError, match="device cpu"):
        run(least_squares(0), selection="cyclic")
    with pytest.raises(MethodError, match="update=gradient"):
        run(least_squares(0, l1=1.0), selection="gs", update="matrix")


@pytest.mark.gpu
def test_gpu_matches_cpu() -> None:
    problem = logistic(1, l2=0.3)
    gpu = dopt.solve(problem, "bcd.greedy", device="gpu", selection="gsl", tol=1e-10)
    cpu = dopt.solve(problem, "bcd.greedy", device="cpu", partition="variable", selection="gsl", tol=1e-10)
    assert gpu.device == "gpu" and abs(relative(gpu.objective, cpu.objective)) <= 1e-8
