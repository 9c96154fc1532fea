"""``dopt.solve_many``: many problems at once, in this process or on a Dask cluster.

With ``workers`` > 1 or a ``scheduler`` the solves run as Dask tasks (a
``distributed.LocalCluster`` of single-threaded worker processes by default).
Dask reschedules the task of a worker that dies, and retries a task that
raises an unexpected error; a problem that cannot be solved (a bad file, a
bad option) becomes a :class:`Failure` entry instead of stopping the batch.
With ``out_dir`` each result is written the moment it arrives, so a crash of
the caller loses nothing already solved.

A local cluster's worker is one core, so each of its solves runs one Numba and
one BLAS thread. The Nanny's ``env`` alone cannot promise that: a spawned worker
first re-imports the parent's ``__main__`` file, and when that script imports
dopt, Numba sizes its thread pool from the core count before ``env`` is applied.
Two workers then run two OpenMP threads each on two cores, and the local search's
short parallel loops wait on descheduled threads (20 files took 10x longer than
one by one). So the limit is also set inside the task, where import order cannot
undo it (:func:`thread_limit`).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dopt.core.errors import DoptError, MethodError
from dopt.core.problem import Problem
from dopt.core.result import Result

# a worker process is one core: its Numba and BLAS threads would otherwise fight the other workers for it
# (applied when the worker starts, which is too late if the parent script imported Numba: see thread_limit)
ONE_THREAD = {name: "1" for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass(frozen=True)
class Failure:
    """A problem of the batch that could not be solved, and why."""

    name: str
    error: str

    @property
    def status(self) -> str:
        return "error"


def solve_many(
    problems: Iterable[Problem | str | Path],
    method: str | None = None,
    *,
    workers: int = 1,
    scheduler: Any = None,
    out_dir: str | Path | None = None,
    retries: int = 2,
    progress: bool = False,
    **solve_kwargs: Any,
) -> list[Result | Failure]:
    """Solve every problem (instances or problem files) and return their results in input order.

    ``workers`` > 1 starts a local Dask cluster with that many worker processes;
    ``scheduler`` (an address such as ``tcp://host:8786`` or a ``distributed.Client``)
    uses an existing cluster instead. ``solve_kwargs`` go to :func:`dopt.solve`.
    """
    items = list(problems)
    names = _unique_names(items)
    if workers < 1:
        raise MethodError(f"workers must be >= 1, got {workers}")
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if scheduler is None and workers == 1:
        results = _solve_here(items, names, method, solve_kwargs, out, progress)
    else:
        results = _solve_on_dask(items, names, method, solve_kwargs, out, progress, workers, scheduler, retries)
    if out is not None:
        write_summary(names, results, out)
    return results


def solve_task(
    item: Problem | str | Path, name: str, method: str | None, kwargs: dict[str, Any], threads: int | None = None
) -> Result | Failure:
    """One solve (on at most ``threads`` Numba/BLAS threads); a problem dopt rejects becomes a Failure."""
    from dopt.core.solve import solve

    try:
        with thread_limit(threads):
            return solve(item, method, **kwargs)
    except DoptError as exc:  # retrying it would not help
        return Failure(name, str(exc))


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Run this thread's Numba parallel loops and BLAS/OpenMP calls on at most ``threads`` threads (None: as they are).

    Numba's limit is per calling thread and works whenever Numba was imported, unlike
    ``NUMBA_NUM_THREADS``, which only counts if it is set before the import.
    """
    if threads is None:
        yield
        return
    import numba
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        numba.set_num_threads(previous)


def _solve_here(
    items: Sequence[Any], names: list[str], method: str | None, kwargs: dict, out: Path | None, progress: bool
) -> list[Result | Failure]:
    results = []
    for item, name in zip(items, names, strict=True):
        try:
            result = solve_task(item, name, method, kwargs)
        except Exception as exc:  # noqa: BLE001  (an internal error of one solve must not lose the others)
            result = Failure(name, f"{type(exc).__name__}: {exc}")
        _record(name, result, out, progress)
        results.append(result)
    return results


def _solve_on_dask(
    items: Sequence[Any],
    names: list[str],
    method: str | None,
    kwargs: dict,
    out: Path | None,
    progress: bool,
    workers: int,
    scheduler: Any,
    retries: int,
) -> list[Result | Failure]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MethodError("parallel solving needs Dask: pip install 'dopt[batch]'") from None
    cluster, threads = None, None  # a cluster we were given keeps its own thread settings
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler is not None:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, env=ONE_THREAD
        )
        client, threads = Client(cluster), 1
    try:
        futures, batch = {}, uuid.uuid4().hex[:8]
        for i, (item, name) in enumerate(zip(items, names, strict=True)):
            key = f"dopt-{batch}-{i}-{name}"
            task = client.submit(solve_task, item, name, method, kwargs, threads, key=key, retries=retries, pure=False)
            futures[task] = i
        results: list[Result | Failure | None] = [None] * len(items)
        for future in as_completed(futures):
            i = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001  (the task kept failing, or kept killing its worker)
                result = Failure(names[i], f"{type(exc).__name__}: {exc}")
            _record(names[i], result, out, progress)
            results[i] = result
        return [r for r in results if r is not None]
    finally:
        if client is not scheduler:
            client.close()
        if cluster is not None:
            cluster.close()


def _record(name: str, result: Result | Failure, out: Path | None, progress: bool) -> None:
    """Save one result as soon as it exists; say so on stderr when asked."""
    if out is not None and isinstance(result, Result):
        result.save(out / f"{name}.json")
    if progress:
        import sys

        text = f"error: {result.error}" if isinstance(result, Failure) else result.summary()
        print(f"{name}: {text}", file=sys.stderr)


def write_summary(names: list[str], results: list[Result | Failure], out: Path) -> None:
    """``summary.json`` and ``summary.md``: one row per problem."""
    rows = [summary_row(name, result) for name, result in zip(names, results, strict=True)]
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    (out / "summary.md").write_text(summary_table(rows))


def summary_row(name: str, result: Result | Failure) -> dict[str, Any]:
    if isinstance(result, Failure):
        return {"problem": name, "status": "error", "error": result.error}
    return {
        "problem": name,
        "status": result.status,
        "objective": result.objective,
        "method": result.method,
        "device": result.device,
        "wall_time": result.wall_time,
    }


def summary_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of the summary rows."""
    lines = ["| problem | status | objective | method | device | seconds |", "|---|---|---|---|---|---|"]
    for row in rows:
        if row["status"] == "error":
            lines.append(f"| {row['problem']} | error: {row['error']} | | | | |")
        else:
            lines.append(
                f"| {row['problem']} | {row['status']} | {row['objective']:.6g} | {row['method']} "
                f"| {row['device']} | {row['wall_time']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _unique_names(items: Sequence[Any]) -> list[str]:
    """File stems or problem names, numbered where they repeat, safe as file names."""
    names, seen = [], {}
    for i, item in enumerate(items):
        if isinstance(item, Problem):
            base = item.name or f"problem-{i}"
        else:
            base = Path(item).stem
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or f"problem-{i}"
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}-{count}")
    return names
