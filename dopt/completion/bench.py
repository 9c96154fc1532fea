"""The completion benchmark suite: completion.als / .fast / .svd against NumPy ALS, Surprise, fancyimpute and Spark.

Every entry is scored by the validation RMSE on the same held-out entries and timed on its fit
alone (data loading, Spark's session and its first, JVM-warming fit are not counted). On the
unbiased low-rank instances completion.als starts where the NumPy reference does and runs as many
sweeps, so the two differ only in time; Surprise runs on the rating-like data it is made for,
fancyimpute's dense SoftImpute on the rating-like data up to DENSE_LIMIT entries, and Spark (slow to
start) only in the full suite.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
from typing import Any

from dopt.bench.suite import Case, Entry, Outcome
from dopt.completion.data import low_rank, rating_like
from dopt.completion.peers import DENSE_LIMIT, SparkALS, numpy_als, softimpute_fit, surprise_fit
from dopt.completion.problem import CompletionProblem

LAM = {"lam": 0.05, "weighted_lambda": True}  # ALS-WR's count-weighted ridge, as Spark's regParam
SWEEPS = 10  # sweeps of completion.als and of the NumPy reference on the low-rank instances, iterations of Spark
SVD_LAM = 10.0  # soft-impute's (unweighted) threshold on the 1..5 ratings: the middle of completion_report's grid
# suite -> low-rank instances (m = n, rank, density) and rating-like ones (users, items, ratings)
SUITES: dict[str, tuple[tuple[tuple[int, int, float], ...], tuple[tuple[int, int, int], ...]]] = {
    "smoke": (((80, 3, 0.3),), ((60, 40, 800),)),
    "quick": (((2000, 10, 0.02),), ((943, 1682, 100_000),)),
    "full": (((3000, 10, 0.05), (10_000, 10, 0.02)), ((943, 1682, 100_000), (6040, 3706, 1_000_000))),
}


def warm_up(device: str = "auto") -> None:
    """Compile (or load from Numba's cache) every timed method's kernels on tiny problems with and without biases."""
    from dopt.core.solve import solve

    for biases in (False, True):
        tiny, _, _ = low_rank(40, 30, 3, 0.5, noise=0.1, seed=9, validation=0.1, biases=biases, **LAM)
        solve(tiny, "completion.als", device=device, max_sweeps=2)
        solve(tiny, "completion.fast", device=device, max_sweeps=2)
        solve(tiny, "completion.svd", device="cpu", max_iters=2)  # the suite runs it on the CPU only


def cases(suite: str, device: str = "auto") -> list[Case]:
    """The suite's low-rank and rating-like instances; dopt's methods run on ``device``."""
    spark = suite == "full"
    shapes, ratings = SUITES[suite]
    out = []
    for n, rank, density in shapes:
        name = f"low-rank {n}x{n} k{rank} {density:.0%}"
        problem, _, _ = low_rank(n, n, rank, density, noise=0.1, seed=0, validation=0.1, **LAM, name=name)
        entries = [
            _dopt("completion.als", problem, device, max_sweeps=SWEEPS, tol=0.0, init="random", seed=0),
            _dopt("completion.fast", problem, device, max_sweeps=3 * SWEEPS, tol=1e-5),
            Entry("NumPy ALS", functools.partial(_numpy_als, problem), peer=True),
        ]
        out.append(_case(problem, entries, spark))
    for users, items, count in ratings:
        name = f"ratings {users}x{items} ({count})"
        # lam 0.2: the tuned value of completion_report.py's ratings stage on this kind of data
        problem = rating_like(users, items, ratings=count, validation=0.2, lam=0.2, weighted_lambda=True, name=name)
        svd = dataclasses.replace(problem, lam=SVD_LAM, weighted_lambda=False)
        entries = [
            _dopt("completion.als", problem, device, max_sweeps=15, tol=1e-4),
            _dopt("completion.fast", problem, device, max_sweeps=30, tol=1e-4),
            _dopt(f"completion.svd (lam {SVD_LAM:g})", svd, "cpu", method="completion.svd", max_iters=100, tol=1e-4),
            _surprise("Surprise SVD", problem, "SVD", n_factors=problem.rank, random_state=0),
            _surprise("Surprise BaselineOnly", problem, "BaselineOnly", verbose=False),
        ]
        if users * items <= DENSE_LIMIT:
            entries.append(_softimpute(f"fancyimpute SoftImpute (lam {SVD_LAM:g})", problem))
        out.append(_case(problem, entries, spark))
    return out


def _case(problem: CompletionProblem, entries: list[Entry], spark: bool) -> Case:
    if spark:
        entries.append(Entry("Spark ALS", functools.partial(_spark, problem), peer=True, requires=("pyspark",)))
    return Case("completion", problem.name, problem.nnz, "validation RMSE", tuple(entries))


def _dopt(label: str, problem: CompletionProblem, device: str, method: str | None = None, **options: Any) -> Entry:
    def run() -> Outcome:
        from dopt.core.solve import solve

        result = solve(problem, method or label, device=device, **options)
        return Outcome(result.extras["val_rmse"], result.wall_time, result.status, f"{result.iterations} sweeps")

    return Entry(label, run)


def _numpy_als(problem: CompletionProblem) -> Outcome:
    ref = numpy_als(problem, sweeps=SWEEPS, seed=0)
    seconds, rmse = ref["history"][-1]
    return Outcome(rmse, seconds, "iteration_limit", f"{SWEEPS} sweeps")


def _surprise(label: str, problem: CompletionProblem, algo: str, **params: Any) -> Entry:
    def run() -> Outcome:
        fit = surprise_fit(problem, algo, **params)
        return Outcome(fit["val_rmse"], fit["seconds"], "done")

    return Entry(label, run, peer=True, requires=("surprise", "pandas"))


def _softimpute(label: str, problem: CompletionProblem) -> Entry:
    """fancyimpute's SoftImpute with completion.svd's threshold and rank (it has no bias terms: mean-centred)."""

    def run() -> Outcome:
        fit = softimpute_fit(problem, shrinkage=SVD_LAM, max_rank=problem.rank)
        return Outcome(fit["val_rmse"], fit["seconds"], "done")

    return Entry(label, run, peer=True, requires=("fancyimpute", "sklearn"))


def _spark(problem: CompletionProblem) -> Outcome:
    """A warm fit (the first fit on the data warms the JVM up); Spark's ALS has no bias terms."""
    spark = _spark_session()
    frames = spark.frames(problem)
    spark.fit(problem, frames, max_iter=SWEEPS)
    fit = spark.fit(problem, frames, max_iter=SWEEPS)
    return Outcome(fit["val_rmse"], fit["seconds"], "iteration_limit", f"{SWEEPS} iterations, warm fit")


@functools.cache
def _spark_session() -> SparkALS:
    """One local Spark session for the whole run (its start-up takes seconds), stopped at exit."""
    spark = SparkALS(threads=os.cpu_count() or 2)
    atexit.register(spark.stop)
    return spark
