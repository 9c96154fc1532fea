"""``completion.als`` with its row blocks on a 2-worker Dask LocalCluster equals the single-process run."""

from __future__ import annotations

import numpy as np
import pytest

import dopt
from dopt.completion import rating_like

distributed = pytest.importorskip("distributed")


def test_blocked_als_on_two_workers_matches_one_process() -> None:
    problem = rating_like(150, 120, ratings=3000, rank=4, seed=3)
    here = dopt.solve(problem, "completion.als", max_sweeps=6, seed=1)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        there = dopt.solve(
            problem, "completion.als", max_sweeps=6, seed=1, scheduler=cluster.scheduler_address, blocks=5
        )
    finally:
        cluster.close()
    assert there.iterations == here.iterations
    assert there.x.keys() == here.x.keys()
    for key in here.x:
        np.testing.assert_allclose(there.x[key], here.x[key], rtol=1e-8, atol=1e-10, err_msg=key)
    assert there.objective == pytest.approx(here.objective, rel=1e-8)
    assert [h[1] for h in there.history] == pytest.approx([h[1] for h in here.history], rel=1e-8)


def test_gpu_device_with_dask_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Dask row blocks run on CPU workers, so a GPU solve with workers is an error, not a silent CPU run."""
    import dopt.core.solve

    monkeypatch.setattr(dopt.core.solve, "resolve_device", lambda requested, supported, method: "gpu")
    problem = rating_like(20, 15, ratings=120, rank=2, seed=0)
    with pytest.raises(dopt.MethodError, match="CPU workers"):
        dopt.solve(problem, "completion.als", device="gpu", workers=2)
