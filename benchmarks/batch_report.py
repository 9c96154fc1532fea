"""Batch solving: 20 problem files one after another in this process vs on a 2-worker Dask LocalCluster.

Run:  python benchmarks/batch_report.py [--workload dmmv bcd] [--files 20] [--workers 2] [--repeats 3]

Two workloads of generated problem files, each solved with a fixed amount of work so both runs
do the same work (the cluster's start-up and shut-down are counted, and shown on their own, a
batch of no files, since they decide how much work per file a cluster needs to pay off):

- ``dmmv``: off-grid DMMV instances (n = 80) by dmmv.local with max_rounds; its Numba kernels
  already run in parallel, so one by one uses every core too and the cluster gains little.
- ``bcd``: sparse correlated Lasso problems (4000 x 20000) by bcd.lasso to a duality gap of
  1e-8; its kernels are serial, as most solvers' are, and the cluster runs two at once.

Each time is the best of ``--repeats`` runs, one by one and cluster alternating (the machine
may be shared: a busy core slows either run by chance).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dopt
from dopt.bcd.bench import correlated_sparse, synthetic_problem
from dopt.core.problem import Problem
from dopt.dmmv.bench import off_grid_instance


def dmmv_file(seed: int) -> Problem:
    """An off-grid DMMV instance with n = 80."""
    return off_grid_instance(80, seed=seed)


def bcd_file(seed: int) -> Problem:
    """A sparse Lasso problem at lambda_max / 300 (about a second or two a solve)."""
    return synthetic_problem(correlated_sparse(4000, 20_000, 0.002, seed=seed), "least_squares", 1 / 300)


# workload -> (problem of a seed, method, options of every solve)
WORKLOADS: dict[str, tuple[Callable[[int], Problem], str, dict[str, Any]]] = {
    "dmmv": (dmmv_file, "dmmv.local", {"max_rounds": 400, "init": "random"}),
    "bcd": (bcd_file, "bcd.lasso", {"tol": 1e-8}),
}


def measure(workload: str, files: int, workers: int, repeats: int) -> str:
    """The markdown row of one workload: seconds one by one, on the cluster, and the cluster's start/stop."""
    make, method, options = WORKLOADS[workload]
    sequential = parallel = overhead = float("inf")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for seed in range(files):
            path = Path(folder) / f"{workload}-{seed}.toml"
            dopt.save(make(seed), path)
            paths.append(path)
        dopt.solve(paths[0], method, **options)  # compile the kernels once, outside both timings
        for _ in range(repeats):
            start = time.perf_counter()
            here = dopt.solve_many(paths, method, **options)
            sequential = min(sequential, time.perf_counter() - start)
            start = time.perf_counter()
            there = dopt.solve_many(paths, method, workers=workers, **options)
            parallel = min(parallel, time.perf_counter() - start)
            start = time.perf_counter()
            dopt.solve_many([], method, workers=workers)
            overhead = min(overhead, time.perf_counter() - start)
    same = all(abs(a.objective - b.objective) <= 1e-9 * abs(a.objective) for a, b in zip(here, there, strict=True))
    speedup = sequential / parallel
    return (
        f"| {workload} ({method}) | {files} | {workers} | {sequential:.1f} | {parallel:.1f} | {overhead:.1f} "
        f"| {speedup:.2f} | {same} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", nargs="+", choices=sorted(WORKLOADS), default=["dmmv", "bcd"])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs of each")
    args = parser.parse_args()
    print("| workload | files | workers | one by one (s) | Dask LocalCluster (s) | start/stop (s) | speed-up | same |")
    print("|---|---|---|---|---|---|---|---|")
    for workload in args.workload:
        print(measure(workload, args.files, args.workers, args.repeats), flush=True)


if __name__ == "__main__":
    main()
