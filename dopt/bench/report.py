"""The benchmark's outputs: ``results.json`` (every measurement), ``report.md`` (tables) and PNG plots."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any

README_START, README_END = "<!-- dopt bench: start -->", "<!-- dopt bench: end -->"
ROW_LOG = "rows.jsonl"  # one measurement per line while a run is in progress; removed once results.json is written
TIE = 1e-9  # relative difference below which dopt's quality matches a peer's (same iterates, other rounding)


def write(results: dict[str, Any], out: Path) -> list[Path]:
    """Write the results, the report and the plots into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "report.md"]
    written[0].write_text(json.dumps(results, indent=1, default=_json_default))
    written[1].write_text(markdown(results))
    written += plots(results, out)
    (out / ROW_LOG).unlink(missing_ok=True)
    return written


def row_logger(out: Path) -> Callable[[dict[str, Any]], None]:
    """A ``run_suite`` ``on_row`` that appends each measurement to ``out/rows.jsonl`` (started empty)."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / ROW_LOG
    log.write_text("")

    def append(row: dict[str, Any]) -> None:
        with log.open("a") as f:
            f.write(json.dumps(row, default=_json_default) + "\n")

    return append


def markdown(results: dict[str, Any]) -> str:
    """One table per family: each instance a row, each solver a column, dopt's best against the best peer."""
    m = results["machine"]
    lines = [
        f"Suite `{results['suite']}`, {m['date']}, {m['platform']} ({m['cores']} cores), Python {m['python']}"
        + (f", GPU {m['gpu']}" if "gpu" in m else "")
        + (f"; command `{m['command']}`" if m.get("command") else "")
        + ".",
        "",
    ]
    for family, rows in groupby(results["rows"], key=lambda r: r["family"]):
        lines += family_table(family, list(rows))
    if results.get("no_suite"):
        lines.append(f"No benchmark suite yet: {', '.join(results['no_suite'])}.")
    return "\n".join(lines).rstrip() + "\n"


def family_table(family: str, rows: list[dict[str, Any]]) -> list[str]:
    """The family's table; a cell is ``quality (seconds)``, bold where dopt matches or beats every peer.

    Cases compared by seconds (every entry held to the same accuracy) rank the entries that met it
    by time; the last column is then dopt's time over the fastest peer's.
    """
    labels = list(dict.fromkeys(r["label"] for r in rows))
    peer = {r["label"]: r["peer"] for r in rows}
    quality_name = rows[0]["quality_name"]
    by_time = rows[0].get("compare") == "seconds"
    key = "seconds" if by_time else "quality"
    heading = (
        f"### {family} (seconds to the same accuracy, lower is better; {quality_name} shown, seconds in parentheses)"
        if by_time
        else f"### {family} ({quality_name}, lower is better; seconds in parentheses)"
    )
    ratio = "dopt / fastest peer (time)" if by_time else "dopt / best peer"
    lines = [
        heading,
        "",
        "| instance | " + " | ".join(f"{label}{' (peer)' * peer[label]}" for label in labels) + f" | {ratio} |",
        "|---" * (len(labels) + 2) + "|",
    ]
    for instance, group in groupby(rows, key=lambda r: r["instance"]):
        cells = {r["label"]: r for r in group}
        ours = _best((r for r in cells.values() if not r["peer"]), key)
        theirs = _best((r for r in cells.values() if r["peer"]), key)
        wins = ours is not None and (theirs is None or ours <= theirs + TIE * abs(theirs))
        row = [instance]
        for label in labels:
            r = cells.get(label)
            text = "—" if r is None else _cell(r)
            if r is not None and not r["peer"] and wins and r[key] == ours:
                text = f"**{text}**"
            row.append(text)
        row.append("—" if ours is None or not theirs else f"{ours / theirs:.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    """Per family: quality (relative to the instance's best) against time, and time against size."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    for family, rows in groupby(results["rows"], key=lambda r: r["family"]):
        rows = [r for r in rows if r["quality"] is not None and _finite(r["seconds"])]
        if not rows:
            continue
        best = {}
        for r in rows:
            best[r["instance"]] = min(best.get(r["instance"], math.inf), r["quality"])
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        ratios = []
        for label in dict.fromkeys(r["label"] for r in rows):
            mine = [r for r in rows if r["label"] == label]
            marker = "s" if mine[0]["peer"] else "o"
            relative = [r["quality"] / best[r["instance"]] if best[r["instance"]] > 0 else 1.0 for r in mine]
            ratios += relative
            on_top = 2 if mine[0]["peer"] else 3  # dopt's points stay visible where a peer ties them
            left.scatter([r["seconds"] for r in mine], relative, marker=marker, label=label, zorder=on_top)
            by_size = sorted(mine, key=lambda r: r["size"])
            right.plot([r["size"] for r in by_size], [r["seconds"] for r in by_size], marker=marker, label=label)
        ylabel = f"{rows[0]['quality_name']} / best on the instance"
        left.set(xlabel="seconds", ylabel=ylabel, title=f"{family}: quality vs time", xscale="log")
        left.set_yscale(ratio_scale(ratios))
        right.set(xlabel="instance size", ylabel="seconds", title=f"{family}: time vs size", xscale="log", yscale="log")
        left.legend(fontsize="small")
        fig.tight_layout()
        path = out / f"{family}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def ratio_scale(ratios: list[float]) -> str:
    """The y scale for quality ratios (all >= 1): logarithmic once one is 10x the best, where a linear axis
    would flatten every other point onto 1."""
    return "log" if max(ratios, default=1.0) >= 10.0 else "linear"


def update_readme(readme: Path, report: str) -> None:
    """Replace the text between the README's benchmark markers with ``report``."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"{readme}: no '{README_START}' ... '{README_END}' markers to write the report between")
    readme.write_text(text[: start + len(README_START)] + "\n" + report + text[end:])


def _best(rows: Any, key: str = "quality") -> float | None:
    """The lowest ``key`` among the rows that found something (quality not None)."""
    values = [r[key] for r in rows if r["quality"] is not None and _finite(r[key])]
    return min(values) if values else None


def _cell(r: dict[str, Any]) -> str:
    if r["status"] == "not installed":
        return f"not installed ({r['notes']})"
    if r["status"] == "error":
        return "error"
    seconds = f" ({_seconds(r['seconds'])})" if _finite(r["seconds"]) else ""
    return ("none found" if r["quality"] is None else f"{r['quality']:.4g}") + seconds


def _seconds(value: float) -> str:
    """Seconds to 0.01 s, or to three significant digits below 0.1 s (Lasso solves take milliseconds)."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3g}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
