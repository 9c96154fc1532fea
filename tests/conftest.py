"""Shared fixtures: fake solver methods, small problem files, and skipping of GPU-only tests."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

import dopt
from dopt.core import registry
from dopt.core.context import SolveContext
from dopt.core.device import real_gpu_available
from dopt.core.registry import option
from dopt.dmmv import DMMVProblem

FAKE_METHODS = ("tests.fake", "tests.gpu", "tests.gpu_only", "tests.needs", "tests.other")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` unless a physical CUDA device is visible."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gpu_items and not real_gpu_available():
        skip = pytest.mark.skip(reason="needs a real CUDA device")
        for item in gpu_items:
            item.add_marker(skip)


@dataclass(frozen=True)
class FakeOptions:
    """Options of the fake methods: one of each type the registry parses."""

    rounds: int = option(3, "rounds to run; each reports the objective once")
    pick: Literal["first", "last"] = option("first", "every variable takes the first or the last value of its domain")
    pause: float = option(0.0, "seconds to sleep after each round")
    signal_after: int | None = option(None, "send SIGINT to this process after this many rounds")
    fail: bool = option(False, "raise RuntimeError instead of solving")

    def validate(self) -> None:
        """Refuse a negative round count, as real methods refuse bad values."""
        if self.rounds < 0:
            raise ValueError(f"rounds must be >= 0, got {self.rounds}")


def run_fake(problem: DMMVProblem, opts: FakeOptions, ctx: SolveContext) -> dopt.Result:
    """A trivial method that honours stop requests and records what it was given in ``extras``."""
    if opts.fail:
        raise RuntimeError("boom")
    levels = np.zeros(problem.shape[1], dtype=np.int64) if opts.pick == "first" else problem.sizes - 1
    x = problem.value_of(levels)
    objective = problem.objective(x)
    status, done = "iteration_limit", 0
    while done < opts.rounds:
        reason = ctx.stop_reason()
        if reason is not None:
            status = reason
            break
        done += 1
        ctx.report(done, objective, x, bound=0.0)
        if opts.signal_after == done:
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(opts.pause)
    extras = {
        "bound": 0.0,
        "seed": ctx.seed,
        "time_limit": ctx.time_limit,
        "draw": float(ctx.rng.random()),
        "options": dataclasses.asdict(opts),
    }
    return dopt.Result(x, objective, status, "", ctx.device, iterations=done, extras=extras)


@pytest.fixture
def fake_methods(monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """Register the fake methods for one test; the registry is restored afterwards."""
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))
    summary = "fake method of the test suite"
    registry.register_method("tests.fake", kind="dmmv", options=FakeOptions, summary=summary)(run_fake)
    registry.register_method("tests.gpu", kind="dmmv", options=FakeOptions, summary=summary, devices=("cpu", "gpu"))(
        run_fake
    )
    registry.register_method("tests.gpu_only", kind="dmmv", options=FakeOptions, summary=summary, devices=("gpu",))(
        run_fake
    )
    registry.register_method(
        "tests.needs", kind="dmmv", options=FakeOptions, summary=summary, requires=("dopt_no_such_module",)
    )(run_fake)
    registry.register_method("tests.other", kind="other", options=FakeOptions, summary=summary)(run_fake)
    return FAKE_METHODS


@pytest.fixture
def small_problem() -> DMMVProblem:
    """A 3 x 4 dense instance whose optimum is 0 (x = [1, 0, -1, 2] meets every equality)."""
    A = np.array([[1.0, 2.0, 0.0, -1.0], [0.0, 1.0, 1.0, 1.0], [2.0, 0.0, -1.0, 0.5]])
    x = np.array([1.0, 0.0, -1.0, 2.0])
    return DMMVProblem(A, np.array([-1.0, 0.0, 1.0, 2.0]), b=A @ x, name="small")


@pytest.fixture
def problem_file(tmp_path: Path, small_problem: DMMVProblem) -> Path:
    """``small_problem`` saved as a manifest with .npy arrays beside it."""
    return dopt.save(small_problem, tmp_path / "small.toml")


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    """A writer of ``<tmp>/problem/<name>`` with the given TOML text and .npy arrays beside it."""
    folder = tmp_path / "problem"
    folder.mkdir()

    def write(text: str, name: str = "problem.toml", **arrays: np.ndarray) -> Path:
        for key, array in arrays.items():
            np.save(folder / f"{key}.npy", array, allow_pickle=array.dtype == object)
        path = folder / name
        path.write_text(text)
        return path

    return write
