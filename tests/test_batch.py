"""``dopt.solve_many``: in-process and on a 2-worker Dask LocalCluster, with a worker killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from dmmv_cases import random_tiny_problem

import dopt
from dopt.core.batch import Failure
from dopt.dmmv import DMMVProblem

distributed = pytest.importorskip("distributed")


def _files(tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for seed in range(count):
        path = tmp_path / f"tiny-{seed}.toml"
        dopt.save(random_tiny_problem(seed), path)
        paths.append(path)
    return paths


def test_in_process_batch_keeps_order_writes_results_and_reports_bad_files(tmp_path: Path) -> None:
    paths = _files(tmp_path, 3)
    broken = tmp_path / "broken.toml"
    broken.write_text('kind = "dmmv"\n[data]\nA = [[1.0]]\n')
    out = tmp_path / "out"
    results = dopt.solve_many([paths[0], broken, *paths[1:]], "dmmv.milp", out_dir=out)
    assert [type(r) for r in results] == [dopt.Result, Failure, dopt.Result, dopt.Result]
    assert "values" in results[1].error
    for path, result in zip(paths, [results[0], *results[2:]], strict=True):
        problem = dopt.load(path)
        assert result.objective == pytest.approx(problem.objective(result.x))
        saved = dopt.Result.load(out / f"{path.stem}.json")
        np.testing.assert_array_equal(saved.x, result.x)
    rows = json.loads((out / "summary.json").read_text())
    assert [row["status"] for row in rows] == ["optimal", "error", "optimal", "optimal"]
    assert "| broken | error:" in (out / "summary.md").read_text()


def test_repeated_names_do_not_overwrite_each_other(tmp_path: Path) -> None:
    problems = [random_tiny_problem(s) for s in range(2)]
    problems = [DMMVProblem(p.A, p.values, lower=p.lower, upper=p.upper, name="same") for p in problems]
    dopt.solve_many(problems, "dmmv.round", out_dir=tmp_path)
    assert {p.name for p in tmp_path.glob("same*.json")} == {"same.json", "same-1.json"}


def test_workers_must_be_positive() -> None:
    with pytest.raises(dopt.MethodError, match="workers"):
        dopt.solve_many([random_tiny_problem(0)], workers=0)


def _slow_problems(count: int) -> list[DMMVProblem]:
    """Off-grid instances the local search works on until its time limit."""
    problems = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        A = rng.normal(size=(90, 30))
        problems.append(DMMVProblem(A, np.linspace(-1, 1, 8), b=A @ rng.uniform(-1, 1, size=30), name=f"slow-{seed}"))
    return problems


def test_dask_cluster_matches_in_process_and_survives_a_killed_worker(tmp_path: Path) -> None:
    """Two worker processes; one is killed while solving: its task is rerun and no result is lost."""
    exact = [random_tiny_problem(s) for s in range(4)]
    here = dopt.solve_many(exact, "dmmv.milp")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        there = dopt.solve_many(exact, "dmmv.milp", scheduler=client)
        assert [r.objective for r in there] == [r.objective for r in here]

        slow = _slow_problems(4)
        box: dict[str, list] = {}
        runner = threading.Thread(
            target=lambda: box.update(
                results=dopt.solve_many(slow, "dmmv.local", scheduler=client, time_limit=3.0, out_dir=tmp_path)
            )
        )
        runner.start()
        deadline = time.monotonic() + 60
        while not any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        busy = next(addr for addr, keys in client.processing().items() if keys)
        os.kill(client.run(os.getpid)[busy], signal.SIGKILL)
        runner.join(timeout=240)
        assert not runner.is_alive()
    finally:
        client.close()
        cluster.close()
    results = box["results"]
    assert all(isinstance(r, dopt.Result) for r in results), results
    for problem, result in zip(slow, results, strict=True):
        assert result.objective == pytest.approx(problem.objective(result.x))
        assert (tmp_path / f"{problem.name}.json").exists()
