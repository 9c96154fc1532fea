"""Blocked ALS on a Dask cluster: each side's rows split into blocks, one task a block, as Spark MLlib does.

The CSR view of each block is sent to the cluster once; per half-sweep only the
fixed factor (broadcast) and the block's targets travel. Every row is solved by
the same Numba kernel as in one process, so the iterates are the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from dopt.completion import kernels
from dopt.completion.altmin import MakeSolver, RowSolver
from dopt.core.batch import ONE_THREAD, thread_limit
from dopt.core.errors import MethodError


@contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A client of ``scheduler``, or of a local cluster of ``workers`` single-threaded processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MethodError("distributed ALS needs Dask: pip install 'dopt[batch]'") from None
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None, env=ONE_THREAD) as cluster,
        Client(cluster) as client,
    ):
        yield client


def blocked_exact(client: Any, blocks: int, threads: int | None = None) -> MakeSolver:
    """A MakeSolver whose row updates run as ``blocks`` Dask tasks per half-sweep, each on at most ``threads`` threads.

    dopt's own local cluster passes 1: its workers' environment comes too late when the
    parent is a script that already imported Numba (see ``dopt.core.batch.thread_limit``).
    """

    def make(ptr: np.ndarray, idx: np.ndarray) -> RowSolver:
        bounds = np.linspace(0, ptr.size - 1, min(blocks, ptr.size - 1) + 1).astype(np.int64)
        spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
        views = client.scatter([(ptr[a : b + 1] - ptr[a], idx[ptr[a] : ptr[b]]) for a, b in spans])

        def solve(y: np.ndarray, W: np.ndarray, lam: np.ndarray, X: np.ndarray) -> np.ndarray:
            fixed = client.scatter(W, broadcast=True)
            futures = [
                client.submit(_solve_block, view, y[ptr[a] : ptr[b]], fixed, lam[a:b], X[a:b], threads, pure=False)
                for (a, b), view in zip(spans, views, strict=True)
            ]
            sse = np.zeros(ptr.size - 1)
            for (a, b), future in zip(spans, futures, strict=True):
                X[a:b], sse[a:b] = future.result()
            return sse

        return solve

    return make


def _solve_block(
    view: tuple[np.ndarray, np.ndarray],
    y: np.ndarray,
    W: np.ndarray,
    lam: np.ndarray,
    X: np.ndarray,
    threads: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The exact ridge solutions of one block of rows and their squared errors (runs on a worker)."""
    ptr, idx = view
    out = np.array(X, copy=True)
    with thread_limit(threads):
        return out, kernels.exact_rows(ptr, idx, y, W, lam, out)
