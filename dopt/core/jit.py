"""Numba kernels compiled twice: serially for small inputs, with threads (``prange``) for large ones."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from numba import njit

_TWINS: list[SerialOrParallel] = []  # every pair made, so a warm-up can compile what small inputs never reach


class SerialOrParallel:
    """A kernel as two compiled variants, chosen per call by the work it is given.

    Below ``threshold`` the serial variant runs: waking the thread pool would cost more than the work
    (and stalls on a busy machine). The parallel variant compiles a renamed copy of the function, since
    Numba's on-disk cache is keyed by the function's name and signature, not by its flags: two variants
    of one function would share a cache entry, and a later process would load one's code for the other.
    """

    def __init__(self, func: Callable[..., Any], threshold: float, **flags: Any) -> None:
        twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_parallel", func.__defaults__)
        twin.__qualname__ = func.__qualname__ + "_parallel"
        self.serial = njit(cache=True, **flags)(func)
        self.parallel = njit(cache=True, parallel=True, **flags)(twin)
        self.threshold = threshold
        _TWINS.append(self)

    def __call__(self, work: float, *args: Any) -> Any:
        """Run on ``args``: with threads when ``work`` reaches the threshold, serially below it."""
        return (self.parallel if work >= self.threshold else self.serial)(*args)


def compile_parallel_twins() -> None:
    """Compile (or load from the disk cache) each parallel variant for every signature its serial one has run.

    A warm-up on tiny inputs runs only serial variants; without this, a timed run on large inputs would
    compile the parallel ones inside its timing.
    """
    for pair in _TWINS:
        for signature in pair.serial.signatures:
            pair.parallel.compile(signature)
