"""The completion benchmarks' peers: a plain vectorised NumPy ALS, Spark MLlib ALS (local mode), Surprise, fancyimpute.

Every peer takes a :class:`~dopt.completion.CompletionProblem` (training and
held-out entries) and returns its validation RMSE and timings, so dopt and the
peers are scored on the same entries. Spark, Surprise and fancyimpute are
imported only when called; :func:`available` says which are installed.
"""

from __future__ import annotations

import importlib.util
import inspect
import time
from typing import Any

import numpy as np

from dopt.completion.altmin import initial_model
from dopt.completion.problem import CompletionProblem

CHUNK = 200_000  # entries per block of the NumPy reference (bounds its |block| x k x k temporary)
DENSE_LIMIT = 25_000_000  # entries of the dense m x n matrix fancyimpute works on: larger problems are refused


def available() -> dict[str, bool]:
    """Which optional peers are importable here."""
    peers = {"spark": "pyspark", "surprise": "surprise", "fancyimpute": "fancyimpute"}
    return {name: importlib.util.find_spec(module) is not None for name, module in peers.items()}


def val_rmse(problem: CompletionProblem, predictions: np.ndarray) -> float:
    """Root mean squared error of ``predictions`` on the problem's held-out entries."""
    err = problem.val_values - predictions
    return float(np.sqrt(np.mean(err * err)))


# ------------------------------------------------------------------ NumPy ALS
def _numpy_half_step(ptr: np.ndarray, idx: np.ndarray, y: np.ndarray, W: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """All rows' ridge solutions: outer products summed per row with np.add.reduceat, then a batched solve."""
    nrows, k = ptr.size - 1, W.shape[1]
    X = np.zeros((nrows, k))
    start_row = 0
    while start_row < nrows:  # blocks of whole rows with about CHUNK entries
        stop_row = int(np.searchsorted(ptr, ptr[start_row] + CHUNK, side="right")) - 1
        stop_row = min(max(stop_row, start_row + 1), nrows)
        lo, hi = ptr[start_row], ptr[stop_row]
        counts = np.diff(ptr[start_row : stop_row + 1])
        rows = np.flatnonzero(counts) + start_row
        if rows.size:
            Wg = W[idx[lo:hi]]
            starts = ptr[rows] - lo
            G = np.add.reduceat(Wg[:, :, None] * Wg[:, None, :], starts, axis=0)
            b = np.add.reduceat(Wg * y[lo:hi, None], starts, axis=0)
            G += lam[rows, None, None] * np.eye(k)
            X[rows] = np.linalg.solve(G, b[:, :, None])[:, :, 0]
        start_row = stop_row
    return X


def numpy_als(problem: CompletionProblem, sweeps: int, seed: int = 0) -> dict[str, Any]:
    """Plain vectorised NumPy ALS (no biases) on the problem's lam convention; per-sweep time and validation RMSE.

    It starts from the factors completion.als draws with ``init="random"`` and the same seed, so both
    run the same iterates and differ only in how fast a sweep is.
    """
    start = time.perf_counter()
    V = initial_model(problem, np.random.default_rng(seed), "random", 0.0).V
    wr, wc = problem.penalty_weights()
    ptr_c, order = problem.col_order
    rows_c, vals_c = problem.rows[order], problem.values[order]
    history = []
    for _ in range(sweeps):
        U = _numpy_half_step(problem.row_ptr, problem.cols, problem.values, V, problem.lam * wr)
        V = _numpy_half_step(ptr_c, rows_c, vals_c, U, problem.lam * wc)
        pred = np.einsum("tk,tk->t", U[problem.val_rows], V[problem.val_cols])
        history.append((time.perf_counter() - start, val_rmse(problem, pred)))
    return {"U": U, "V": V, "history": history}


# ---------------------------------------------------------------------- Spark
class SparkALS:
    """Spark MLlib ALS in local mode; the session starts once and data are loaded before timing."""

    def __init__(self, threads: int = 2) -> None:
        from pyspark.sql import SparkSession

        self.spark = (
            SparkSession.builder.master(f"local[{threads}]")
            .appName("dopt-completion-bench")
            .config("spark.driver.memory", "6g")
            .config("spark.sql.shuffle.partitions", str(2 * threads))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")  # its stage bars would break dopt bench's
            .config("spark.sql.execution.arrow.pyspark.enabled", "false")  # pyarrow is optional
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")

    def frames(self, problem: CompletionProblem) -> tuple[Any, Any]:
        import pandas as pd

        train = pd.DataFrame({"user": problem.rows.astype(np.int32), "item": problem.cols.astype(np.int32)})
        train["rating"] = problem.values.astype(np.float32)
        val = pd.DataFrame({"user": problem.val_rows.astype(np.int32), "item": problem.val_cols.astype(np.int32)})
        val["rating"] = problem.val_values
        train_df = self.spark.createDataFrame(train).cache()
        val_df = self.spark.createDataFrame(val).cache()
        train_df.count(), val_df.count()
        return train_df, val_df

    def fit(self, problem: CompletionProblem, frames: tuple[Any, Any], max_iter: int, seed: int = 0) -> dict[str, Any]:
        """One fit (ALS-WR: regParam weighted by counts, as dopt's weighted_lambda); fit seconds and val RMSE."""
        from pyspark.ml.recommendation import ALS

        train_df, val_df = frames
        als = ALS(
            rank=problem.rank,
            maxIter=max_iter,
            regParam=problem.lam,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
            coldStartStrategy="nan",
            seed=seed,
            numUserBlocks=4,
            numItemBlocks=4,
        )
        start = time.perf_counter()
        model = als.fit(train_df)
        model.userFactors.count()  # force the lazy factors
        seconds = time.perf_counter() - start
        pred = model.transform(val_df).select("user", "item", "prediction").toPandas()
        lookup = dict(zip(zip(pred["user"], pred["item"], strict=True), pred["prediction"], strict=True))
        preds = np.array([lookup[(u, i)] for u, i in zip(problem.val_rows, problem.val_cols, strict=True)])
        preds = np.nan_to_num(preds, nan=0.0)  # cold-start entries predict 0, as dopt's empty rows do
        return {"seconds": seconds, "val_rmse": val_rmse(problem, preds)}

    def stop(self) -> None:
        self.spark.stop()


# ------------------------------------------------------------------- Surprise
def surprise_fit(problem: CompletionProblem, algo: str, **params: Any) -> dict[str, Any]:
    """Surprise's ``SVD`` or ``BaselineOnly`` given the training ratings as a DataFrame; fit seconds and val RMSE."""
    import pandas as pd
    from surprise import SVD, BaselineOnly, Dataset, Reader

    frame = pd.DataFrame({"user": problem.rows, "item": problem.cols, "rating": problem.values})
    low, high = float(min(problem.values.min(), problem.val_values.min())), float(problem.values.max())
    data = Dataset.load_from_df(frame, Reader(rating_scale=(low, high)))
    trainset = data.build_full_trainset()
    model = SVD(**params) if algo == "SVD" else BaselineOnly(**params)
    start = time.perf_counter()
    model.fit(trainset)
    seconds = time.perf_counter() - start
    preds = np.array([model.predict(u, i).est for u, i in zip(problem.val_rows, problem.val_cols, strict=True)])
    return {"seconds": seconds, "val_rmse": val_rmse(problem, preds)}


# ---------------------------------------------------------------- fancyimpute
def softimpute_fit(
    problem: CompletionProblem, shrinkage: float | None = None, max_rank: int | None = None, max_iters: int = 100
) -> dict[str, Any]:
    """fancyimpute's ``SoftImpute`` on the dense matrix (NaN where unobserved), centred on the training mean.

    ``shrinkage`` is its threshold on the singular values (None: its default, the largest one / 50)
    and ``max_rank`` truncates its SVDs; fit seconds and validation RMSE. Dense, so only for m x n up
    to DENSE_LIMIT.
    """
    m, n = problem.shape
    if m * n > DENSE_LIMIT:
        raise ValueError(f"fancyimpute works on the dense {m} x {n} matrix; over the {DENSE_LIMIT} entries allowed")
    from fancyimpute import SoftImpute

    _fancyimpute_on_new_scikit_learn()
    mean = float(problem.values.mean())
    X = np.full((m, n), np.nan)
    X[problem.rows, problem.cols] = problem.values - mean
    model = SoftImpute(shrinkage_value=shrinkage, max_rank=max_rank, max_iters=max_iters, verbose=False)
    start = time.perf_counter()
    filled = model.fit_transform(X)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "val_rmse": val_rmse(problem, filled[problem.val_rows, problem.val_cols] + mean)}


def _fancyimpute_on_new_scikit_learn() -> None:
    """fancyimpute 0.7 passes ``force_all_finite`` to scikit-learn's check_array, renamed ``ensure_all_finite``."""
    import fancyimpute.soft_impute
    import fancyimpute.solver
    from sklearn.utils import check_array

    if "force_all_finite" in inspect.signature(check_array).parameters:
        return

    def renamed(X: Any, force_all_finite: bool | str = True, **options: Any) -> Any:
        return check_array(X, ensure_all_finite=force_all_finite, **options)

    fancyimpute.solver.check_array = fancyimpute.soft_impute.check_array = renamed
