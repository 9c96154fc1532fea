"""``dopt.solve_many``: in-process and on a 2-worker Dask LocalCluster, with a worker killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
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


PARENT_SCRIPT = r"""
import os
import sys
from pathlib import Path

import numpy as np

import dopt  # imports Numba in every spawned worker too (they re-run this file), before the Nanny's env is set
from dopt.dmmv import DMMVProblem

OUT = Path(sys.argv[1])


def record(progress):
    import numba

    with open(OUT / f"{os.getpid()}.txt", "a") as file:
        file.write(f"{numba.get_num_threads()}\n")


if __name__ == "__main__":
    problems = [DMMVProblem(np.eye(2) * (i + 1), [0.0, 1.0], b=np.ones(2), name=f"p{i}") for i in range(4)]
    results = dopt.solve_many(problems, "dmmv.round", workers=2, callback=record)
    print(sorted(type(r).__name__ for r in results))
"""


def test_cluster_solves_run_one_thread_when_the_parent_is_a_script(tmp_path: Path) -> None:
    """A script parent (Numba imported before the workers' env applies) must not give each worker all cores."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(PARENT_SCRIPT))
    out = tmp_path / "threads"
    out.mkdir()
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}  # what an unset variable means on a 2-core machine
    run = subprocess.run([sys.executable, str(script), str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "['Result', 'Result', 'Result', 'Result']" in run.stdout
    counts = [int(line) for path in out.glob("*.txt") for line in path.read_text().split()]
    assert len(counts) >= 4
    assert set(counts) == {1}, counts
