"""What a benchmark suite is made of: cases (one instance each) and the entries (dopt or a peer) run on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from dopt.core.problem import Problem


@dataclass(frozen=True)
class Outcome:
    """One measurement: the quality reached (lower is better; None when nothing was found) and the seconds taken."""

    quality: float | None
    seconds: float
    status: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Entry:
    """A solver on a case: dopt's own method or a peer, with the packages it needs."""

    label: str
    run: Callable[[], Outcome]
    peer: bool = False
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """One instance of a family and every entry to run on it; ``size`` places it on the time-vs-size plot.

    ``compare`` says what decides the winner: the quality reached (``"quality"``), or, where every
    entry is held to the same accuracy and the quality only shows it was met, the seconds taken
    (``"seconds"``; an entry that did not meet it reports quality None).
    """

    family: str
    instance: str
    size: int
    quality_name: str
    entries: tuple[Entry, ...]
    compare: Literal["quality", "seconds"] = "quality"


def solve_entry(
    label: str, problem: Problem, method: str, *, peer: bool = False, requires: tuple[str, ...] = (), **kwargs: Any
) -> Entry:
    """An entry that runs ``dopt.solve(problem, method, **kwargs)``; a peer's fallback point counts as nothing found."""

    def run() -> Outcome:
        from dopt.core.solve import solve

        result = solve(problem, method, **kwargs)
        fallback = result.extras.get("fallback")
        quality = None if fallback else result.objective
        notes = f"no solution of its own ({fallback})" if fallback else ""
        return Outcome(quality, result.wall_time, result.status, notes)

    return Entry(label, run, peer=peer, requires=requires)
