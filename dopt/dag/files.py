"""Write a DAG problem as a TOML manifest with CSV data (the format of problems/dag/), readable by ``dopt.load``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dopt.dag.problem import DAGProblem


def save_csv(problem: DAGProblem, path: str | Path, columns: Sequence[str] | None = None, digits: int = 10) -> Path:
    """Write ``<stem>.toml`` with ``<stem>.X.csv`` (a ``#`` header of column names) and ``<stem>.graph.csv``."""
    import tomli_w

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns) if columns is not None else [f"x{j}" for j in range(problem.d)]
    fmt = f"%.{digits}g"
    data_file = path.with_name(f"{path.stem}.X.csv")
    np.savetxt(data_file, problem.X, delimiter=",", fmt=fmt, header=",".join(names))
    params, _ = problem.to_data()
    manifest: dict = {"kind": problem.kind, "name": problem.name}
    if problem.description:
        manifest["description"] = problem.description
    manifest["params"] = params
    manifest["data"] = {"X": data_file.name}
    if problem.true_graph is not None:
        graph_file = path.with_name(f"{path.stem}.graph.csv")
        np.savetxt(graph_file, problem.true_graph, delimiter=",", fmt=fmt, header=",".join(names))
        manifest["data"]["true_graph"] = graph_file.name
    if problem.defaults:
        manifest["solve"] = problem.defaults
    path.write_text(tomli_w.dumps(manifest))
    return path
