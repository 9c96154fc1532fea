"""completion.als, completion.fast and completion.svd: kernels against lstsq, exact recovery, Eckart-Young, statuses."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from completion_cases import dense_problem, exact_low_rank, ridge_rows, row_sse

import dopt
from dopt import cli
from dopt.completion import kernels, low_rank, predict

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("completion.als", "completion.fast", "completion.svd")


def random_rows(seed: int, nrows: int = 40, ncols: int = 25, d: int = 6, empty: int = 3):
    """A random CSR pattern (some rows empty, some with fewer entries than d), targets, W and per-row lam."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 15, size=nrows)
    counts[:empty] = 0
    ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    idx = np.concatenate([np.sort(rng.choice(ncols, c, replace=False)) for c in counts]).astype(np.int64)
    y = rng.normal(size=idx.size)
    W = rng.normal(size=(ncols, d))
    lam = rng.uniform(0.05, 2.0, size=nrows)
    return ptr, idx, y, W, lam


@pytest.mark.parametrize(("seed", "d"), [(0, 6), (1, 6), (2, 1), (3, 2), (4, 3), (5, 4), (6, 9), (7, 12)])
def test_exact_row_solves_match_lstsq(seed, d):
    """Every rank (odd and even, below and above the Gram kernel's 2 x 4 blocks) against lstsq."""
    ptr, idx, y, W, lam = random_rows(seed, d=d)
    X = np.full((ptr.size - 1, W.shape[1]), np.nan)
    sse = kernels.exact_rows(ptr, idx, y, W, lam, X)
    np.testing.assert_allclose(X, ridge_rows(ptr, idx, y, W, lam), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(sse, row_sse(ptr, idx, y, W, X), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("jacobi", [True, False])
def test_cg_row_solves_converge_to_lstsq_and_first_step_descends(jacobi):
    ptr, idx, y, W, lam = random_rows(5)
    exact = ridge_rows(ptr, idx, y, W, lam)
    X = np.zeros_like(exact)
    kernels.cg_rows(ptr, idx, y, W, lam, X, 4 * W.shape[1], jacobi)
    np.testing.assert_allclose(X, exact, rtol=1e-7, atol=1e-9)
    # one step from zero: strictly closer to the ridge optimum (in the objective) on every non-empty row
    one = np.zeros_like(exact)
    sse = kernels.cg_rows(ptr, idx, y, W, lam, one, 1, jacobi)
    np.testing.assert_allclose(sse, row_sse(ptr, idx, y, W, one), rtol=1e-10, atol=1e-14)  # the carried residuals
    for r in range(ptr.size - 1):
        if ptr[r + 1] > ptr[r]:
            A, b = W[idx[ptr[r] : ptr[r + 1]]], y[ptr[r] : ptr[r + 1]]

            def f(x, A=A, b=b, r=r):
                return np.sum((A @ x - b) ** 2) + lam[r] * x @ x

            assert f(exact[r]) - 1e-12 <= f(one[r]) < f(np.zeros_like(one[r]))


def test_float32_cg_passes_agree_with_float64_to_float32_rounding():
    """Given W in float32 the CG kernel's passes over the entries run in float32; x stays float64."""
    ptr, idx, y, W, lam = random_rows(8, d=7)
    X0 = np.random.default_rng(1).normal(size=(ptr.size - 1, 7))
    double, single = X0.copy(), X0.copy()
    sse64 = kernels.cg_rows(ptr, idx, y, W, lam, double, 3, True)
    sse32 = kernels.cg_rows(ptr, idx, y, W.astype(np.float32), lam, single, 3, True)
    assert single.dtype == np.float64
    np.testing.assert_allclose(single, double, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sse32, sse64, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(single, double)  # really computed in float32


def test_parallel_and_serial_kernels_agree():
    ptr, idx, y, W, lam = random_rows(7, nrows=300, ncols=200, d=5)
    for pair, extra in ((kernels._EXACT, ()), (kernels._CG, (3, True))):
        out = [np.zeros((300, 5)), np.zeros((300, 5))]
        sse = [np.zeros(300), np.zeros(300)]
        for fn, X, s in zip((pair.serial, pair.parallel), out, sse, strict=True):
            fn(ptr, idx, y, W, lam, X, *extra, s)
        np.testing.assert_allclose(out[0], out[1], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(sse[0], sse[1], rtol=1e-12, atol=1e-14)
    assert numba.threading_layer()  # the parallel variants really ran in parallel (not a cached serial twin)


@pytest.mark.parametrize("method", ["completion.als", "completion.fast"])
def test_exact_recovery_of_a_low_rank_matrix(method):
    """Scaled-down acceptance test: relative Frobenius error of the full matrix <= 1e-6 (the benchmark runs 2000^2)."""
    problem, M = exact_low_rank(150, 120, rank=3, density=0.25, seed=4)
    res = dopt.solve(problem, method, seed=0)
    U, V = res.x["U"], res.x["V"]
    assert np.linalg.norm(U @ V.T - M) / np.linalg.norm(M) <= 1e-6
    assert res.status == "converged"


def test_svd_imputation_recovers_a_low_rank_matrix():
    problem, M = exact_low_rank(150, 120, rank=3, density=0.3, seed=4)
    res = dopt.solve(problem, "completion.svd", max_iters=400)
    assert np.linalg.norm(res.x["U"] @ res.x["V"].T - M) / np.linalg.norm(M) <= 1e-4


@pytest.mark.parametrize("method", METHODS)
def test_fully_observed_matrix_gives_the_eckart_young_optimum(method):
    """All entries observed, lam = 0: the optimum is the truncated SVD; its error is the tail of sigma^2."""
    problem, M = dense_problem()
    s = np.linalg.svd(M, compute_uv=False)
    res = dopt.solve(problem, method, seed=1, tol=1e-12, **({"max_iters": 500} if method.endswith("svd") else {}))
    assert res.objective == pytest.approx(np.sum(s[problem.rank :] ** 2), rel=1e-6)


def test_soft_impute_shrinks_singular_values_by_lam():
    """Fully observed: soft-impute's fixed point is U_k diag(max(sigma - lam, 0)) V_k^T."""
    problem, M = dense_problem(lam=0.7)
    res = dopt.solve(problem, "completion.svd", tol=1e-14, max_iters=500)
    u, s, vt = np.linalg.svd(M)
    k = problem.rank
    want = (u[:, :k] * np.maximum(s[:k] - 0.7, 0)) @ vt[:k]
    np.testing.assert_allclose(res.x["U"] @ res.x["V"].T, want, atol=1e-6)


@pytest.mark.parametrize("biases", [False, True])
def test_als_objective_never_increases_and_result_is_consistent(biases):
    """Exact block updates: each sweep's objective is <= the previous one; the reported objective recomputes."""
    problem, _, _ = low_rank(80, 60, 3, 0.3, noise=0.3, seed=2, lam=0.5, weighted_lambda=True, biases=biases)
    res = dopt.solve(problem, "completion.als", max_sweeps=15, tol=0)
    objectives = [h[1] for h in res.history]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(objectives))
    assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-10)
    assert res.extras["train_rmse"] == pytest.approx(problem.rmse(res.x), rel=1e-10)
    assert res.status == "iteration_limit" and res.iterations == 15


def test_biased_als_half_step_solves_the_row_problems_exactly():
    """After convergence, the U and row-bias step leaves every row at its exact ridge optimum."""
    problem, _, _ = low_rank(60, 50, 2, 0.4, noise=0.5, seed=3, lam=0.8, biases=True)
    res = dopt.solve(problem, "completion.als", max_sweeps=300, tol=1e-15)
    x = res.x
    W = np.column_stack([x["V"], np.ones(50)])
    y = problem.values - x["mu"] - x["col_bias"][problem.cols]
    want = ridge_rows(problem.row_ptr, problem.cols, y, W, np.full(60, 0.8))
    np.testing.assert_allclose(np.column_stack([x["U"], x["row_bias"]]), want, atol=1e-6)


def test_fast_matches_als_on_noisy_ratings_with_validation():
    problem, _, _ = low_rank(200, 150, 4, 0.2, noise=0.2, seed=5, lam=1.0, validation=0.1)
    als = dopt.solve(problem, "completion.als", max_sweeps=200, tol=1e-10)
    fast = dopt.solve(problem, "completion.fast", max_sweeps=400, tol=1e-10)
    assert fast.objective == pytest.approx(als.objective, rel=1e-4)
    assert fast.extras["val_rmse"] == pytest.approx(als.extras["val_rmse"], rel=1e-3)
    assert als.extras["val_rmse"] < 0.3  # noise 0.2 on unit-variance entries
    assert all(np.isfinite(h[3]) for h in als.history)


def test_mixed_precision_finishes_at_the_double_precision_fixed_point():
    """fast's float32 sweeps hand over to float64 once they stall; the end point is the float64 run's."""
    problem, _, _ = low_rank(200, 150, 4, 0.2, noise=0.2, seed=5, lam=1.0, validation=0.1)
    double = dopt.solve(problem, "completion.fast", precision="double", max_sweeps=400, tol=1e-12)
    mixed = dopt.solve(problem, "completion.fast", max_sweeps=400, tol=1e-12)
    assert double.extras["single_sweeps"] == 0
    assert 0 < mixed.extras["single_sweeps"] < mixed.iterations and mixed.status == "converged"
    assert mixed.objective == pytest.approx(double.objective, rel=1e-10)
    np.testing.assert_allclose(mixed.x["U"] @ mixed.x["V"].T, double.x["U"] @ double.x["V"].T, atol=1e-6)
    # a tolerance float32 resolves ends inside the float32 sweeps
    loose = dopt.solve(problem, "completion.fast", max_sweeps=400, tol=1e-3)
    assert loose.status == "converged" and loose.extras["single_sweeps"] == loose.iterations


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_answer_and_callback_stop(method):
    problem, _, _ = low_rank(60, 40, 2, 0.3, noise=0.1, seed=6, lam=0.1)
    a, b = dopt.solve(problem, method, seed=3), dopt.solve(problem, method, seed=3)
    np.testing.assert_array_equal(a.x["U"], b.x["U"])
    stopped = dopt.solve(problem, method, callback=lambda progress: progress.iteration >= 2)
    assert stopped.status == "interrupted" and stopped.iterations == 2
    np.testing.assert_allclose(
        predict(stopped, problem.rows, problem.cols), problem.values - problem.residuals(stopped.x)
    )


def test_bad_options_are_refused():
    problem, _, _ = low_rank(30, 20, 2, 0.5, seed=0)
    with pytest.raises(dopt.MethodError, match="cg_steps"):
        dopt.solve(problem, "completion.fast", cg_steps=0)
    with pytest.raises(dopt.MethodError, match="unknown option"):
        dopt.solve(problem, "completion.als", cg_steps=3)


def test_bundled_file_is_reproducible_and_solves_from_the_cli(tmp_path):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from completion_ratings import ratings_small
    finally:
        sys.path.pop(0)
    bundled = dopt.load(ROOT / "problems/completion/ratings-small.toml")
    fresh = ratings_small()
    for field in ("rows", "cols", "values", "val_rows", "val_cols", "val_values"):
        np.testing.assert_array_equal(getattr(bundled, field), getattr(fresh, field), err_msg=field)
    out = tmp_path / "r.json"
    path = str(ROOT / "problems/completion/ratings-small.toml")
    assert cli.main(["solve", path, "--out", str(out), "--option", "max_sweeps=5", "--quiet"]) == 0
    res = dopt.Result.load(out)
    assert res.method == "completion.als" and res.iterations == 5
    assert res.extras["val_rmse"] < 1.0


@pytest.mark.parametrize("method", METHODS)
def test_time_limit_before_the_first_sweep_returns_the_start(method):
    problem, _, _ = low_rank(40, 30, 2, 0.4, noise=0.1, seed=7, lam=0.2, validation=0.2)
    res = dopt.solve(problem, method, time_limit=1e-9)
    assert res.status == "time_limit" and res.iterations == 0 and res.history == []
    assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-12)
    assert res.extras["val_rmse"] == pytest.approx(problem.rmse(res.x, validation=True), rel=1e-12)
