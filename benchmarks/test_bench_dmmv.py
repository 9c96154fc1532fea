"""pytest-benchmark suite of the DMMV family: run with ``pytest benchmarks/test_bench_dmmv.py``.

Times one full move-evaluation pass of dmmv.local at growing sizes (the cost
should grow linearly in n * m * |D|), and runs dmmv.local and HiGHS
(dmmv.milp) at the same time limit on the same off-grid instance, recording
both objectives and their ratio in the benchmark's extra_info.
"""

from __future__ import annotations

import numpy as np
import pytest

import dopt
from dopt.dmmv.bench import LEVELS, off_grid_instance
from dopt.dmmv.state import CpuState

pytest.importorskip("highspy", reason="the HiGHS peer needs highspy (pip install 'dopt[bench]')")


@pytest.mark.parametrize("n", [100, 300, 1000])
def test_full_pass_time(benchmark, n):
    problem = off_grid_instance(n)
    state = CpuState(problem)
    state.load(np.random.default_rng(0).integers(0, LEVELS, size=n))
    t_obj = state.objective()
    level, new_max, _ = benchmark(state.full_pass, t_obj, 3, 1e-9 * t_obj)
    benchmark.extra_info["n*m*|D|"] = problem.shape[0] * n * LEVELS
    assert level.shape == (n,) and np.isfinite(new_max).all()


@pytest.mark.parametrize("n", [50, 300])
def test_local_vs_highs_equal_time(benchmark, n, time_limit=10.0):
    problem = off_grid_instance(n, seed=1)

    def both():
        local = dopt.solve(problem, "dmmv.local", time_limit=time_limit, seed=1)
        highs = dopt.solve(problem, "dmmv.milp", time_limit=time_limit)
        return local, highs

    local, highs = benchmark.pedantic(both, rounds=1, iterations=1)
    found = "fallback" not in highs.extras
    benchmark.extra_info.update(
        local=local.objective,
        highs=highs.objective if found else None,
        highs_bound=highs.extras["bound"],
        ratio=local.objective / highs.objective if found else None,
    )
    # dopt must never be worse than the peer's incumbent (or the rounded LP point it falls back to)
    assert local.objective <= highs.objective + 1e-12
    assert highs.extras["bound"] <= local.objective + 1e-9
