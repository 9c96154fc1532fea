"""Batch solving: 20 problem files one after another in this process vs on a 2-worker Dask LocalCluster.

Run:  python benchmarks/batch_report.py [--files 20] [--workers 2] [--n 80]
Each file is an off-grid DMMV instance solved by dmmv.local with a fixed work budget
(max_rounds), so both runs do the same work; the cluster's start-up and shut-down are
counted, and shown on their own (a batch of no files) since they decide how much work
per file a cluster needs to pay off.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dopt
from dopt.dmmv.bench import off_grid_instance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for seed in range(args.files):
            path = Path(folder) / f"off-grid-{seed}.toml"
            dopt.save(off_grid_instance(args.n, seed=seed), path)
            paths.append(path)
        options = {"max_rounds": args.rounds, "init": "random"}
        dopt.solve(paths[0], "dmmv.local", max_rounds=2)  # compile the kernels once, outside both timings
        start = time.perf_counter()
        here = dopt.solve_many(paths, "dmmv.local", **options)
        sequential = time.perf_counter() - start
        start = time.perf_counter()
        there = dopt.solve_many(paths, "dmmv.local", workers=args.workers, **options)
        parallel = time.perf_counter() - start
        start = time.perf_counter()
        dopt.solve_many([], "dmmv.local", workers=args.workers)
        overhead = time.perf_counter() - start
    same = all(a.objective == b.objective for a, b in zip(here, there, strict=True))
    print("| files | n | workers | one by one (s) | Dask LocalCluster (s) | start/stop (s) | speed-up | same |")
    print("|---|---|---|---|---|---|---|---|")
    speedup = sequential / parallel
    print(
        f"| {args.files} | {args.n} | {args.workers} | {sequential:.1f} | {parallel:.1f} | {overhead:.1f} "
        f"| {speedup:.2f} | {same} |"
    )


if __name__ == "__main__":
    main()
