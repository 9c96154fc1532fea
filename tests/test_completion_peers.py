"""The completion peers' wrappers: fancyimpute's SoftImpute solves the problem completion.svd solves."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import dopt
from dopt.completion import low_rank
from dopt.completion.peers import softimpute_fit


def test_fancyimpute_softimpute_matches_completion_svd_at_the_same_threshold():
    pytest.importorskip("fancyimpute")
    problem, _, _ = low_rank(120, 90, 4, 0.4, noise=0.1, seed=3, validation=0.1)
    problem = dataclasses.replace(problem, lam=2.0, weighted_lambda=False)
    ours = dopt.solve(problem, "completion.svd", max_iters=500, tol=1e-10)
    theirs = softimpute_fit(problem, shrinkage=2.0, max_rank=problem.rank, max_iters=500)
    assert theirs["val_rmse"] == pytest.approx(ours.extras["val_rmse"], rel=0.05)
    assert theirs["val_rmse"] < 0.5 * float(np.std(problem.val_values))  # it really completed the matrix


def test_fancyimpute_refuses_what_does_not_fit_densely(monkeypatch):
    monkeypatch.setattr("dopt.completion.peers.DENSE_LIMIT", 100)
    problem, _, _ = low_rank(20, 10, 2, 0.5, seed=0, validation=0.1)
    with pytest.raises(ValueError, match="dense"):
        softimpute_fit(problem)
