"""pytest-benchmark suite of the completion family: run with ``pytest benchmarks/test_bench_completion.py``.

Times one half-sweep of the exact and the CG row updates at growing rank (the
exact cost grows like k^2, the CG one like k), completion.als against the
plain NumPy ALS reference, and biased ALS against Surprise and Spark on the
same rating-like data, recording validation RMSEs in extra_info. Peers that
are not installed are reported as skips with the reason, never dropped.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from completion_peers import SparkALS, available, numpy_als, surprise_fit

import dopt
from dopt.completion import kernels, low_rank, rating_like


@pytest.fixture(scope="module")
def rating_data():
    # lam = 0.2: the tuned value of completion_report.py's ratings stage on this data
    return rating_like(943, 1682, ratings=100_000, rank=10, lam=0.2, weighted_lambda=True, seed=0, validation=0.2)


@pytest.mark.parametrize("solver", ["exact", "cg"])
@pytest.mark.parametrize("k", [8, 16, 32, 64])
def test_half_sweep_time(benchmark, solver, k):
    problem, _, _ = low_rank(3000, 3000, k, 0.02, noise=0.1, seed=0, lam=0.05, weighted_lambda=True)
    rng = np.random.default_rng(1)
    W = rng.normal(size=(3000, k)) / np.sqrt(k)
    lam = 0.05 * problem.row_counts.astype(float)
    X = np.zeros((3000, k))
    if solver == "exact":
        benchmark(kernels.exact_rows, problem.row_ptr, problem.cols, problem.values, W, lam, X)
    else:
        benchmark(kernels.cg_rows, problem.row_ptr, problem.cols, problem.values, W, lam, X, 3, True)
    benchmark.extra_info.update(nnz=problem.nnz, k=k)
    assert np.isfinite(X).all() and np.abs(X).sum() > 0


def test_als_vs_numpy_reference(benchmark):
    problem, _, _ = low_rank(4000, 4000, 10, 0.02, noise=0.1, seed=0, validation=0.1, lam=0.05, weighted_lambda=True)

    def both():
        return dopt.solve(problem, "completion.als", max_sweeps=5, tol=0, seed=0), numpy_als(problem, sweeps=5, seed=0)

    als, ref = benchmark.pedantic(both, rounds=1, iterations=1)
    per_sweep = [np.min(np.diff([0.0] + [h[0] for h in hist])[1:]) for hist in (als.history, ref["history"])]
    benchmark.extra_info.update(
        als_sweep=per_sweep[0], numpy_sweep=per_sweep[1], speedup=per_sweep[1] / per_sweep[0],
        als_rmse=als.extras["val_rmse"], numpy_rmse=ref["history"][-1][1],
    )  # fmt: skip
    assert per_sweep[0] < per_sweep[1]
    # same start, same algorithm: the same validation RMSE after every sweep
    np.testing.assert_allclose([h[3] for h in als.history], [h[1] for h in ref["history"]], rtol=1e-8)


@pytest.mark.skipif(not available()["surprise"], reason="Surprise not installed (pip install scikit-surprise)")
def test_biased_als_vs_surprise(benchmark, rating_data):
    def run():
        als = dopt.solve(rating_data, "completion.als", max_sweeps=15, tol=1e-4)
        svd = surprise_fit(rating_data, "SVD", n_factors=10, random_state=0)
        base = surprise_fit(rating_data, "BaselineOnly", verbose=False)
        return als, svd, base

    als, svd, base = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(
        als_rmse=als.extras["val_rmse"], als_seconds=als.wall_time, surprise_svd_rmse=svd["val_rmse"],
        surprise_svd_seconds=svd["seconds"], baseline_rmse=base["val_rmse"],
    )  # fmt: skip
    assert als.extras["val_rmse"] <= svd["val_rmse"] + 1e-3
    assert als.extras["val_rmse"] < base["val_rmse"]


@pytest.mark.skipif(not available()["spark"], reason="pyspark not installed (pip install pyspark; needs Java 17)")
def test_als_vs_spark(benchmark, rating_data):
    problem = dataclasses.replace(rating_data, biases=False)  # Spark's ALS has no bias terms
    spark = SparkALS()
    try:
        frames = spark.frames(problem)
        spark.fit(problem, frames, max_iter=10)  # JVM warm-up
        result = benchmark.pedantic(lambda: spark.fit(problem, frames, max_iter=10), rounds=1, iterations=1)
    finally:
        spark.stop()
    als = dopt.solve(problem, "completion.als", max_sweeps=10, tol=0)
    benchmark.extra_info.update(
        spark_rmse=result["val_rmse"], spark_seconds=result["seconds"], als_rmse=als.extras["val_rmse"],
        als_seconds=als.wall_time, speedup=result["seconds"] / als.wall_time,
    )  # fmt: skip
    assert als.extras["val_rmse"] <= result["val_rmse"] * 1.01
    assert als.wall_time < result["seconds"]
