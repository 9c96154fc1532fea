"""pytest-benchmark suite of the dag family: run with ``pytest benchmarks/test_bench_dag.py``.

Times one evaluation of every pairwise swap of an order (the inner loop of dag.topo)
at growing d, and runs dag.topo and dagma's DagmaLinear on the same ER2 instance,
recording both refit l2 scores, SHDs and times in the benchmark's extra_info.
"""

from __future__ import annotations

import numpy as np
import pytest
from dag_peers import dagma_available, instance, row, run_dagma, run_dopt

from dopt.dag.kernels import cholesky_psd, swap_deltas


@pytest.mark.parametrize("d", [50, 100, 200])
def test_all_swaps_time(benchmark, d):
    problem = instance("ER", 2, d)
    factor = cholesky_psd(problem.covariance)
    a, b = np.triu_indices(d, 1)
    a, b = a.astype(np.int64), b.astype(np.int64)
    deltas = benchmark(swap_deltas, factor, a, b)
    benchmark.extra_info["pairs"] = int(a.size)
    assert deltas.shape == a.shape and np.isfinite(deltas).all()


@pytest.mark.parametrize(("graph", "degree"), [("ER", 2), ("SF", 4)])
def test_topo_vs_dagma(benchmark, graph, degree):
    if not dagma_available():
        pytest.skip("peer dagma not installed (pip install dagma)")
    problem = instance(graph, degree, 20)
    W, seconds = run_dagma(problem)
    peer = row(problem, "dagma", W, seconds)
    W, seconds, status = benchmark.pedantic(run_dopt, args=(problem, "dag.topo"), rounds=1, iterations=1)
    ours = row(problem, "dag.topo", W, seconds, status)
    benchmark.extra_info.update({"topo": ours, "dagma": peer, "time_ratio": peer["seconds"] / ours["seconds"]})
    assert ours["score"] <= peer["score"] + 1e-9
