"""The solve context a method runs in: clock, stop requests, progress, history.

Methods poll :meth:`SolveContext.stop_reason` between rounds and call
:meth:`SolveContext.report` when they have a new objective value; the context
turns those into the time limit, Ctrl-C handling, the progress bar, the
user's callback and the Result's history.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Progress:
    """What a callback receives: the state of the solve at one report."""

    iteration: int
    objective: float
    elapsed: float
    x: Any = None
    bound: float | None = None


class SolveContext:
    """Clock, random generator and stop flags of one solve."""

    def __init__(
        self,
        *,
        device: str = "cpu",
        seed: int = 0,
        time_limit: float | None = None,
        progress: bool = False,
        callback: Callable[[Progress], Any] | None = None,
        label: str = "",
    ) -> None:
        self.device = device
        self.seed = seed
        self.time_limit = time_limit
        self.rng = np.random.default_rng(seed)
        self.callback = callback
        self.history: list[tuple[float, float]] = []
        self.start = time.perf_counter()
        self.deadline = None if time_limit is None else self.start + time_limit
        self.interrupted = False
        self._bar = _make_bar(label, time_limit) if progress else None

    def elapsed(self) -> float:
        """Seconds since the solve started."""
        return time.perf_counter() - self.start

    def time_left(self) -> float | None:
        """Seconds until the time limit, or None without a limit."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.perf_counter())

    def stop_reason(self) -> str | None:
        """``interrupted`` or ``time_limit`` when the method must stop now, else None."""
        if self.interrupted:
            return "interrupted"
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return "time_limit"
        return None

    def report(self, iteration: int, objective: float, x: Any = None, bound: float | None = None) -> None:
        """Record a progress point; the user's callback may ask to stop by returning True."""
        now = self.elapsed()
        if not self.history or self.history[-1][1] != objective:
            self.history.append((now, float(objective)))
        if self._bar is not None:
            self._bar.set_postfix_str(f"obj={objective:.6g}", refresh=False)
            if self.time_limit is not None:
                self._bar.n = round(min(now, self.time_limit), 2)
                self._bar.refresh()
            else:
                self._bar.update(1)
        if self.callback is not None:
            if self.callback(Progress(iteration, float(objective), now, x, bound)):
                self.interrupted = True

    def close(self) -> None:
        """Finish the progress bar."""
        if self._bar is not None:
            self._bar.close()

    @contextmanager
    def catching_interrupts(self) -> Iterator[None]:
        """Turn the first Ctrl-C into a stop request; a second one aborts as usual."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def _make_bar(label: str, time_limit: float | None) -> Any:
    from tqdm import tqdm

    if time_limit is not None:
        return tqdm(
            total=time_limit,
            desc=label,
            unit="s",
            file=sys.stderr,
            leave=False,
            bar_format="{desc} {bar} {n:.1f}/{total:.0f}s {postfix}",
        )
    return tqdm(desc=label, unit="round", file=sys.stderr, leave=False)
