"""Core machinery: registry and options, Result files, device choice, limits, callbacks and Ctrl-C."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest

import dopt
from dopt.core import device, registry
from dopt.core.registry import option
from dopt.core.result import INLINE_LIMIT

# --- registry -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("fake_methods")
def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(dopt.MethodError, match=r"unknown method 'dmmv.nope'") as info:
        registry.get_method("dmmv.nope", "dmmv")
    assert "tests.fake" in str(info.value)
    assert "tests.other" not in str(info.value)  # only methods of the problem's kind


@pytest.mark.usefixtures("fake_methods")
def test_method_of_another_kind_is_refused():
    with pytest.raises(dopt.MethodError, match="solves 'other' problems, not 'dmmv'"):
        registry.get_method("tests.other", "dmmv")


@pytest.mark.usefixtures("fake_methods")
def test_missing_requirement_is_named():
    spec = next(s for s in registry.methods("dmmv") if s.name == "tests.needs")
    assert spec.missing_requirements() == ["dopt_no_such_module"]
    with pytest.raises(dopt.MethodError, match="needs dopt_no_such_module"):
        registry.get_method("tests.needs", "dmmv")


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(dopt.MethodError, match=r"unknown problem kind 'sudoku'; known kinds: .*dmmv"):
        registry.problem_class("sudoku")


@pytest.mark.usefixtures("fake_methods")
def test_kind_without_default_method():
    with pytest.raises(dopt.MethodError, match="no default method for kind 'other'"):
        registry.get_method(None, "other")


@pytest.mark.usefixtures("fake_methods")
def test_unknown_option_lists_the_valid_ones():
    spec = registry.get_method("tests.fake", "dmmv")
    with pytest.raises(dopt.MethodError, match=r"unknown option 'colour' .*valid options: rounds, pick, pause"):
        registry.build_options(spec, {"colour": "red"})


@pytest.mark.usefixtures("fake_methods")
def test_validate_failure_becomes_method_error():
    spec = registry.get_method("tests.fake", "dmmv")
    with pytest.raises(dopt.MethodError, match=r"tests.fake: rounds must be >= 0"):
        registry.build_options(spec, {"rounds": "-2"})


@dataclass(frozen=True)
class Coerced:
    """Options of every type the registry parses."""

    flag: bool = option(False, "a switch")
    count: int = option(1, "a count")
    scale: float = option(1.0, "a scale")
    mode: Literal["fast", "exact"] = option("fast", "a choice of words")
    bits: Literal[2, 4, 8] = option(4, "a choice of numbers")
    cap: float | None = option(None, "an optional number")
    label: str = option("x", "a string")


CODED = registry.MethodSpec("tests.coerce", "dmmv", ("cpu",), Coerced, lambda *a: None, "coercion")

GOOD_VALUES = [
    ("flag", "true", True),
    ("flag", "On", True),
    ("flag", "0", False),
    ("flag", "no", False),
    ("flag", True, True),
    ("count", "12", 12),
    ("count", 7, 7),
    ("count", 3.0, 3),
    ("count", "-4", -4),
    ("scale", "1e-3", 1e-3),
    ("scale", 2, 2.0),
    ("scale", "inf", math.inf),
    ("mode", "exact", "exact"),
    ("bits", "8", 8),
    ("bits", 2, 2),
    ("cap", "none", None),
    ("cap", "None", None),
    ("cap", None, None),
    ("cap", "2.5", 2.5),
    ("label", 5, "5"),
]

BAD_VALUES = [
    ("flag", "maybe", "expected true or false"),
    ("flag", 1, "expected true or false"),
    ("count", "12.5", "expected int"),
    ("count", 3.5, "expected an integer"),
    ("count", True, "expected int"),
    ("count", "none", "expected int"),
    ("scale", "fast", "expected float"),
    ("scale", False, "expected float"),
    ("mode", "slow", "'slow' is not one of 'fast', 'exact'"),
    ("bits", "3", "'3' is not one of 2, 4, 8"),
    ("cap", "lots", "expected float"),
]


@pytest.mark.parametrize(("key", "raw", "expected"), GOOD_VALUES)
def test_option_values_are_coerced(key, raw, expected):
    value = getattr(registry.build_options(CODED, {key: raw}), key)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("key", "raw", "words"), BAD_VALUES)
def test_bad_option_values_name_the_option(key, raw, words):
    with pytest.raises(dopt.MethodError, match=f"option '{key}' of method tests.coerce: .*{words}"):
        registry.build_options(CODED, {key: raw})


def test_option_docs_describe_types_defaults_and_docs():
    rows = {name: (type_name, default, doc) for name, type_name, default, doc in CODED.option_docs()}
    assert rows["cap"] == ("float | None", None, "an optional number")
    assert rows["mode"] == ("'fast'|'exact'", "fast", "a choice of words")
    assert rows["count"] == ("int", 1, "a count")


# --- Result files -------------------------------------------------------------------------------


def make_result(**changes) -> dopt.Result:
    fields = {
        "x": np.array([1.0, -2.0, 0.5]),
        "objective": math.inf,
        "status": "time_limit",
        "method": "tests.fake",
        "device": "cpu",
        "kind": "dmmv",
        "iterations": 12,
        "wall_time": 0.25,
        "history": [(0.0, math.inf), (0.1, 3.0), (0.2, 1.5)],
        "extras": {
            "bound": -math.inf,
            "gap": math.nan,
            "nested": {"levels": np.arange(4, dtype=np.int32), "mask": np.array([True, False]), "deep": {"k": [1, 2]}},
            "scalar": np.float32(0.5),
        },
    }
    return dopt.Result(**{**fields, **changes})


def assert_same_value(got, want) -> None:
    """Equal values of the same structure; arrays keep dtype and shape; NaN equals NaN."""
    if isinstance(want, dict):
        assert set(got) == set(want)
        for key in want:
            assert_same_value(got[key], want[key])
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    elif isinstance(want, float | np.floating) and math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == want


def test_result_round_trip_with_non_finite_floats_and_nested_extras(tmp_path):
    result = make_result()
    path = result.save(tmp_path / "r.json")
    text = path.read_text()
    json.loads(text, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))
    loaded = dopt.Result.load(path)
    assert_same_value(loaded.x, result.x)
    assert loaded.objective == math.inf
    for field in ("status", "method", "device", "kind", "iterations", "wall_time"):
        assert getattr(loaded, field) == getattr(result, field)
    assert loaded.history == result.history
    assert_same_value(loaded.extras, {**result.extras, "scalar": 0.5})
    assert not (tmp_path / "r.json.npz").exists()


def test_big_arrays_go_to_the_npz_sidecar(tmp_path):
    big = np.arange(INLINE_LIMIT + 1, dtype=np.int64)
    matrix = np.random.default_rng(0).normal(size=(INLINE_LIMIT // 100 + 1, 101))
    result = make_result(x=big.astype(np.float64), extras={"trace": {"matrix": matrix}, "small": np.ones(3)})
    path = result.save(tmp_path / "r.json")
    payload = json.loads(path.read_text())
    assert payload["arrays_file"] == "r.json.npz"
    assert payload["x"] == {"__array_ref__": "x"}
    assert payload["extras"]["trace"]["matrix"] == {"__array_ref__": "extras.trace.matrix"}
    assert "__array__" in payload["extras"]["small"]
    assert path.stat().st_size < 10_000
    loaded = dopt.Result.load(path)
    assert_same_value(loaded.x, result.x)
    assert_same_value(loaded.extras, result.extras)


def test_loading_a_broken_result_file_is_a_format_error(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(dopt.FormatError, match="cannot read result"):
        dopt.Result.load(tmp_path / "bad.json")
    (tmp_path / "partial.json").write_text('{"x": [1], "status": "optimal"}')
    with pytest.raises(dopt.FormatError, match="no field 'objective'"):
        dopt.Result.load(tmp_path / "partial.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(dopt.FormatError, match="JSON object, not list"):
        dopt.Result.load(tmp_path / "list.json")


def test_missing_result_sidecar_is_a_format_error(tmp_path):
    path = make_result(x=np.zeros(INLINE_LIMIT + 1)).save(tmp_path / "r.json")
    (tmp_path / "r.json.npz").unlink()
    with pytest.raises(dopt.FormatError, match="cannot read the result's arrays"):
        dopt.Result.load(path)


def test_summary_shows_the_bound_only_when_there_is_one():
    assert "bound      -inf" in make_result().summary()
    assert "bound" not in make_result(extras={}).summary()


# --- devices ------------------------------------------------------------------------------------


def test_gpu_without_a_device_says_how_to_fix_it(monkeypatch):
    monkeypatch.setattr(device, "gpu_usable", lambda: False)
    with pytest.raises(dopt.MethodError, match=r"no CUDA device is visible .*--device cpu"):
        device.resolve_device("gpu", ("cpu", "gpu"), "m")


@pytest.mark.parametrize(
    ("real_gpu", "supported", "expected"),
    [(False, ("cpu", "gpu"), "cpu"), (True, ("cpu", "gpu"), "gpu"), (True, ("cpu",), "cpu")],
)
def test_auto_prefers_a_real_gpu_when_the_method_has_one(real_gpu, supported, expected, monkeypatch):
    monkeypatch.setattr(device, "real_gpu_available", lambda: real_gpu)
    assert device.resolve_device("auto", supported, "m") == expected


def test_auto_is_cpu_on_this_machine_without_a_gpu():
    if device.real_gpu_available():
        pytest.skip("a CUDA device is visible")
    assert device.resolve_device("auto", ("cpu", "gpu"), "m") == "cpu"


@pytest.mark.parametrize(
    ("requested", "supported", "words"),
    [
        ("tpu", ("cpu",), "unknown device 'tpu'; use one of auto, cpu, gpu"),
        ("gpu", ("cpu",), "method m has no GPU path"),
        ("cpu", ("gpu",), "method m has no CPU path"),
        ("auto", ("gpu",), "runs only on the GPU"),
    ],
)
def test_impossible_device_requests(requested, supported, words, monkeypatch):
    monkeypatch.setattr(device, "real_gpu_available", lambda: False)
    with pytest.raises(dopt.MethodError, match=words):
        device.resolve_device(requested, supported, "m")


@pytest.mark.usefixtures("fake_methods")
def test_solve_reports_the_device_it_chose(small_problem, monkeypatch, caplog):
    monkeypatch.setattr(device, "gpu_usable", lambda: False)
    with pytest.raises(dopt.MethodError, match="no CUDA device"):
        dopt.solve(small_problem, "tests.gpu", device="gpu")
    with caplog.at_level("INFO", logger="dopt"):
        result = dopt.solve(small_problem, "tests.gpu", device="cpu")
    assert result.device == "cpu"
    assert "dopt: solving small with tests.gpu on cpu" in caplog.messages


# --- limits, seeds, callbacks, Ctrl-C -----------------------------------------------------------


@pytest.mark.usefixtures("fake_methods")
@pytest.mark.parametrize("limit", [0, -1, -0.5, math.nan, "5", True])
def test_bad_time_limits_are_refused(limit, small_problem):
    with pytest.raises(dopt.MethodError, match="time_limit must be a positive number of seconds"):
        dopt.solve(small_problem, "tests.fake", time_limit=limit)


@pytest.mark.usefixtures("fake_methods")
@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seeds_are_refused(seed, small_problem):
    with pytest.raises(dopt.MethodError, match="seed must be a non-negative integer"):
        dopt.solve(small_problem, "tests.fake", seed=seed)


@pytest.mark.usefixtures("fake_methods")
def test_infinite_time_limit_means_none(small_problem):
    assert dopt.solve(small_problem, "tests.fake", time_limit=math.inf).extras["time_limit"] is None


@pytest.mark.usefixtures("fake_methods")
def test_same_seed_same_draws(small_problem):
    draws = [dopt.solve(small_problem, "tests.fake", seed=s).extras["draw"] for s in (4, 4, 5)]
    assert draws[0] == draws[1] != draws[2]


@pytest.mark.usefixtures("fake_methods")
def test_time_limit_returns_the_incumbent(small_problem):
    result = dopt.solve(small_problem, "tests.fake", time_limit=0.2, rounds=10**7, pause=0.001)
    assert result.status == "time_limit"
    assert 0.2 <= result.wall_time < 5
    small_problem.check(result.x)
    assert result.objective == small_problem.objective(result.x)


@pytest.mark.usefixtures("fake_methods")
def test_callback_returning_true_stops_with_status_interrupted(small_problem):
    seen = []

    def callback(progress: dopt.Progress) -> bool:
        seen.append(progress)
        return progress.iteration == 4

    result = dopt.solve(small_problem, "tests.fake", rounds=100, callback=callback)
    assert result.status == "interrupted"
    assert result.iterations == 4
    assert [p.iteration for p in seen] == [1, 2, 3, 4]
    assert all(p.objective == result.objective and p.bound == 0.0 for p in seen)
    assert all(a.elapsed <= b.elapsed for a, b in itertools.pairwise(seen))
    small_problem.check(result.x)


@pytest.mark.usefixtures("fake_methods")
def test_history_records_changes_only(small_problem):
    result = dopt.solve(small_problem, "tests.fake", rounds=5)
    assert len(result.history) == 1
    assert result.history[0][1] == result.objective


def test_time_to_reads_the_first_history_point_at_or_below_the_target():
    result = dopt.Result(None, 1.5, "time_limit", "m", "cpu", history=[(0.0, math.inf), (0.1, 3.0, 9.0), (0.25, 1.5)])
    assert result.time_to(3.0) == 0.1
    assert result.time_to(2.0) == result.time_to(1.5) == 0.25
    assert result.time_to(1.0) is None


@pytest.mark.usefixtures("fake_methods")
def test_sigint_during_a_solve_returns_the_incumbent(small_problem):
    before = signal.getsignal(signal.SIGINT)
    result = dopt.solve(small_problem, "tests.fake", rounds=10**7, pause=0.001, signal_after=3)
    assert result.status == "interrupted"
    assert result.has_solution
    small_problem.check(result.x)
    assert 3 <= result.iterations < 1000
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


@pytest.mark.usefixtures("fake_methods")
def test_second_sigint_aborts(small_problem):
    def interrupt_twice(progress: dopt.Progress) -> None:
        if progress.iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the first handler runs while sleeping
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        dopt.solve(small_problem, "tests.fake", rounds=10**7, pause=0.001, callback=interrupt_twice)
    assert signal.getsignal(signal.SIGINT) is before


def test_solve_refuses_something_that_is_not_a_problem():
    with pytest.raises(dopt.ProblemError, match="expected a dopt problem or a problem file path, got dict"):
        dopt.solve({"A": [[1]]})
