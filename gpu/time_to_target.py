"""Time to a target objective: ``dmmv.local`` on the CPU against the GPU (one and several populations).

Each device runs for the same time limit from the same seed; the target is the worst of their final
objectives, so every run reaches it, and each run's time to it is read off its history. Part of
gpu/check.py's report.
"""

from __future__ import annotations

from typing import Any


def race_to_target(problem: Any, seconds: float, populations: list[int], seed: int = 0) -> dict[str, Any]:
    """Solve ``problem`` on the CPU (one population) and on the GPU (each count in ``populations``) for
    ``seconds`` each; the runs, the common target and each run's time to it."""
    import dopt

    runs = [("cpu", 1)] + [("gpu", count) for count in populations]
    results = []
    for device, count in runs:
        result = dopt.solve(problem, "dmmv.local", device=device, seed=seed, time_limit=seconds, populations=count)
        results.append({"device": device, "P": count, "result": result})
        print(f"target race {problem.name} {device} P={count}: {result.objective:.6g}", flush=True)
    target = max(run["result"].objective for run in results)
    for run in results:
        run["time"] = run["result"].time_to(target)
    nnz = problem.A.nnz if problem.is_sparse else problem.A.size
    return {"name": problem.name, "n": problem.shape[1], "nnz": nnz, "target": target, "runs": results}


def target_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table: per instance and run, the final objective at equal time, the passes made, the time to
    the common target and the speedup over the CPU in reaching it."""
    lines = [
        "| instance | n | nnz | device | populations | final objective | passes (all populations) | target "
        "| time to target (s) | speedup over CPU |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cpu_time = row["runs"][0]["time"]
        for run in row["runs"]:
            reached = "not reached" if run["time"] is None else f"{run['time']:.3f}"
            speedup = f"{cpu_time / run['time']:.1f}x" if cpu_time is not None and run["time"] else ""
            lines.append(
                f"| {row['name']} | {row['n']:,} | {row['nnz']:,} | {run['device']} | {run['P']} "
                f"| {run['result'].objective:.6g} | {run['result'].iterations} | {row['target']:.6g} | {reached} "
                f"| {speedup} |"
            )
    return lines
