"""Convergence figures as in the paper: objective minus the best value, against iterations and against time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dopt.core.result import Result


def trace_of(result: Result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(iterations, seconds, objectives) from a bcd result's trace (or its history when it has none)."""
    trace = result.extras.get("trace")
    if trace:
        return np.asarray(trace["iteration"]), np.asarray(trace["time"]), np.asarray(trace["objective"])
    times = np.array([t for t, _ in result.history])
    return np.arange(len(times)), times, np.array([f for _, f in result.history])


def plot_convergence(
    results: Sequence[Result],
    labels: Sequence[str] | None = None,
    *,
    best: float | None = None,
    out: str | Path = "bcd-convergence.png",
    title: str = "",
) -> Path:
    """Draw f - f* against iterations (left) and seconds (right) for each result on one figure; returns the PNG path.

    ``best`` defaults to the lowest objective any result reached (minus a hair so the curve stays on a log scale).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(labels) if labels is not None else [f"{r.method} {r.extras.get('selection', '')}" for r in results]
    traces = [trace_of(r) for r in results]
    if best is None:
        best = min(float(f.min()) for _, _, f in traces)
    floor = 1e-16 * max(1.0, abs(best))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (its, secs, objs), label in zip(traces, labels, strict=True):
        gap = np.maximum(objs - best, floor)
        left.semilogy(its, gap, label=label)
        right.semilogy(secs, gap, label=label)
    left.set_xlabel("iterations (block updates)")
    right.set_xlabel("seconds")
    for ax in (left, right):
        ax.set_ylabel("f(x) - f*")
        ax.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_files(paths: Sequence[str | Path], out: str | Path = "bcd-convergence.png", best: float | None = None) -> Path:
    """The figure for saved result files (``Result.save``), labelled by file name."""
    results = [Result.load(p) for p in paths]
    return plot_convergence(results, [Path(p).stem for p in paths], best=best, out=out)
