"""``dopt.solve``: the one door to every method."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dopt.core.context import Progress, SolveContext
from dopt.core.device import resolve_device
from dopt.core.errors import MethodError, ProblemError
from dopt.core.io import load
from dopt.core.problem import Problem
from dopt.core.registry import MethodSpec, build_options, get_method, methods
from dopt.core.result import Result

log = logging.getLogger("dopt")


def solve(
    problem: Problem | str | Path,
    method: str | None = None,
    *,
    device: str | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    progress: bool = False,
    callback: Callable[[Progress], Any] | None = None,
    **options: Any,
) -> Result:
    """Solve ``problem`` (an instance or a problem file) and return a :class:`Result`.

    ``method`` defaults to the family's default (or the file's ``[solve]``
    method); ``device`` is ``auto``, ``cpu`` or ``gpu`` (default: the file's
    ``[solve]`` device, else ``auto``); ``time_limit`` is in seconds and
    returns the best solution found with status ``time_limit``; ``seed``
    (default 0) fixes every random choice; ``callback(progress)`` is called
    at each report and may return True to stop early. Remaining keyword
    arguments are the method's options (see ``dopt methods``).
    """
    if isinstance(problem, (str, Path)):
        problem = load(problem)
    if not isinstance(problem, Problem):
        raise ProblemError(f"expected a dopt problem or a problem file path, got {type(problem).__name__}")
    defaults = problem.defaults
    if method is None or method == defaults.get("method"):
        options = {**defaults.get("options", {}), **options}
    method = method or defaults.get("method")
    time_limit = _check_time_limit(time_limit if time_limit is not None else defaults.get("time_limit"))
    seed = _check_seed(seed if seed is not None else defaults.get("seed", 0))
    device = device if device is not None else defaults.get("device", "auto")

    spec = get_method(method, problem.kind)
    opts = build_options(spec, options)
    chosen = resolve_device(device, spec.devices, spec.name)
    log.info("dopt: solving %s with %s on %s", problem.name or problem.kind, spec.name, chosen)

    ctx = SolveContext(
        device=chosen, seed=seed, time_limit=time_limit, progress=progress, callback=callback, label=spec.name
    )
    with ctx.catching_interrupts():
        try:
            result = spec.run(problem, opts, ctx)
        finally:
            ctx.close()
    result.method = spec.name
    result.device = chosen
    result.kind = problem.kind
    result.wall_time = ctx.elapsed()
    if not result.history:
        result.history = ctx.history
    return result


def list_methods(kind: str | None = None) -> list[MethodSpec]:
    """Every registered method (optionally of one kind), with devices and options."""
    return methods(kind)


def _check_time_limit(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:  # also refuses NaN
        raise MethodError(f"time_limit must be a positive number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond float range: no practical limit
        return None
    return None if math.isinf(seconds) else seconds


def _check_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MethodError(f"seed must be a non-negative integer, got {value!r}")
    return value
