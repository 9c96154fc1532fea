"""The ``dopt`` command line: exit codes, one-line errors, summaries, result files, method listing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import dopt
from dopt import cli
from dopt.core import device

REAL_METHODS = {spec.name for spec in dopt.list_methods("dmmv")}
needs_round = pytest.mark.skipif("dmmv.round" not in REAL_METHODS, reason="dmmv.round is not registered")
needs_local = pytest.mark.skipif("dmmv.local" not in REAL_METHODS, reason="dmmv.local is not registered")

VALID = """\
kind = "dmmv"
name = "tiny"
[data]
A = [[1.0, 2.0], [0.0, 1.0]]
values = [0.0, 1.0]
b = [1.0, 1.0]
"""

# (case id, manifest text, arrays written beside it as .npy, expected words of the error message)
BROKEN_FILES = [
    ("missing kind", VALID.replace('kind = "dmmv"\n', ""), {}, "missing 'kind'"),
    ("unknown kind", VALID.replace('"dmmv"', '"sudoku"'), {}, "unknown kind 'sudoku'"),
    ("missing array file", VALID.replace("A = [[1.0, 2.0], [0.0, 1.0]]", 'A = "nowhere.npy"'), {}, "not found"),
    ("absolute path", VALID.replace("A = [[1.0, 2.0], [0.0, 1.0]]", 'A = "@ABS@"'), {"A": np.eye(2)}, "absolute"),
    ("escaping path", VALID.replace("A = [[1.0, 2.0], [0.0, 1.0]]", 'A = "../outside.npy"'), {}, "leaves"),
    (
        "pickled array",
        VALID.replace("A = [[1.0, 2.0], [0.0, 1.0]]", 'A = "A.npy"'),
        {"A": np.array([[1.0, None]], dtype=object)},
        "pickled",
    ),
    ("shape mismatch", VALID.replace("b = [1.0, 1.0]", "b = [1.0, 1.0, 1.0]"), {}, "expected length 2"),
    ("NaN in A", VALID.replace("[[1.0, 2.0]", "[[nan, 2.0]"), {}, "NaN"),
    ("empty domain", VALID.replace("values = [0.0, 1.0]", "values = [[0.0, 1.0], [nan, nan]]"), {}, "empty"),
    (
        "lower above upper",
        VALID.replace("b = [1.0, 1.0]", "lower = [2.0, 0.0]\nupper = [1.0, 1.0]"),
        {},
        "lower > upper",
    ),
    ("invalid TOML", "kind = \n[data\n", {}, "invalid TOML"),
    ("unknown top-level key", 'colour = "red"\n' + VALID, {}, "unknown top-level key"),
    ("unknown data entry", VALID + "c = [1.0]\n", {}, "unknown entries ['c']"),
    ("unknown array file type", VALID.replace("A = [[1.0, 2.0], [0.0, 1.0]]", 'A = "A.txt"'), {}, ".txt"),
    ("bad [solve] type", VALID + "[solve]\nseed = 'three'\n", {}, "[solve] seed"),
    ("bad [solve] option", VALID + "[solve]\nmethod = 'tests.fake'\noptions = {colour = 1}\n", {}, "colour"),
]

# (case id, extra arguments to ``dopt solve`` on a valid file, expected words of the error message)
BAD_ARGUMENTS = [
    ("negative time limit", ["--time-limit", "-1"], "time_limit must be a positive"),
    ("zero time limit", ["--time-limit", "0"], "time_limit must be a positive"),
    ("NaN time limit", ["--time-limit", "nan"], "time_limit must be a positive"),
    ("negative seed", ["--seed", "-3"], "seed must be a non-negative"),
    ("unknown method", ["--method", "dmmv.nope"], "unknown method 'dmmv.nope'"),
    ("method of another kind", ["--method", "tests.other"], "solves 'other' problems"),
    ("method missing a package", ["--method", "tests.needs"], "dopt_no_such_module"),
    ("unknown option", ["--option", "colour=red"], "valid options: rounds, pick, pause, signal_after, fail"),
    ("bad option value", ["--option", "rounds=many"], "expected int, got 'many'"),
    ("bad literal option", ["--option", "pick=middle"], "'middle' is not one of 'first', 'last'"),
    ("option refused by validate", ["--option", "rounds=-1"], "rounds must be >= 0"),
    ("option without =", ["--option", "rounds"], "key=value"),
    ("option with empty key", ["--option", "=3"], "key=value"),
    ("solve argument as option", ["--option", "seed=3"], "argument of the solve"),
    ("no GPU path", ["--device", "gpu"], "has no GPU path"),
    ("GPU-only method without a GPU", ["--method", "tests.gpu_only", "--device", "cpu"], "no CPU path"),
    ("out folder missing", ["--out", "@TMP@/no/such/folder/result.json"], "does not exist"),
]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``dopt argv`` in-process and return (exit code, stdout, stderr)."""
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, words: str) -> None:
    """Exit 2 with exactly one ``dopt: error:`` line on stderr that contains ``words``."""
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("dopt: error: "), err
    assert words in lines[0], err
    assert "Traceback" not in err


def write_broken(write_manifest: Callable[..., Path], text: str, arrays: dict[str, np.ndarray]) -> Path:
    """Write one broken manifest (placeholders: @ABS@ an absolute path to A.npy; ../outside.npy exists)."""
    path = write_manifest(text, **arrays)
    np.save(path.parent.parent / "outside.npy", np.eye(2))
    path.write_text(text.replace("@ABS@", str(path.parent / "A.npy")))
    return path


@pytest.mark.usefixtures("fake_methods")
@pytest.mark.parametrize("command", ["solve", "check"])
@pytest.mark.parametrize(
    ("text", "arrays", "words"), [case[1:] for case in BROKEN_FILES], ids=[c[0] for c in BROKEN_FILES]
)
def test_broken_file_exits_2_with_one_line(command, text, arrays, words, write_manifest, capsys):
    path = write_broken(write_manifest, text, arrays)
    extra = ["--method", "tests.fake"] if command == "solve" else []
    code, out, err = run([command, path, *extra], capsys)
    assert_one_line_error(code, err, words)
    assert out == ""


@pytest.mark.usefixtures("fake_methods")
@pytest.mark.parametrize("command", ["solve", "check"])
@pytest.mark.parametrize("name", ["absent.toml", "."], ids=["absent", "a folder"])
def test_missing_or_unreadable_file_exits_2(command, name, tmp_path, capsys):
    code, _, err = run([command, tmp_path / name], capsys)
    folder_of_problems = command == "solve" and name == "."  # solve takes folders of problem files
    assert_one_line_error(code, err, "no problem files" if folder_of_problems else "no such file")


@pytest.mark.usefixtures("fake_methods")
@pytest.mark.parametrize(("extra", "words"), [case[1:] for case in BAD_ARGUMENTS], ids=[c[0] for c in BAD_ARGUMENTS])
def test_bad_arguments_exit_2_with_one_line(extra, words, problem_file, tmp_path, capsys):
    extra = [arg.replace("@TMP@", str(tmp_path)) for arg in extra]
    argv = (
        ["solve", problem_file, *extra] if "--method" in extra else ["solve", problem_file, "-m", "tests.fake", *extra]
    )
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, words)
    assert out == ""


@pytest.mark.usefixtures("fake_methods")
def test_gpu_request_without_gpu_names_the_fix(problem_file, monkeypatch, capsys):
    monkeypatch.setattr(device, "gpu_usable", lambda: False)
    code, _, err = run(["solve", problem_file, "--method", "tests.gpu", "--device", "gpu"], capsys)
    assert_one_line_error(code, err, "no CUDA device")
    assert "--device cpu" in err


@pytest.mark.parametrize(
    "argv",
    [[], ["solve"], ["frobnicate"], ["solve", "x.toml", "--seed", "two"], ["solve", "x.toml", "--device", "tpu"]],
    ids=["no command", "no file", "unknown command", "non-integer seed", "unknown device"],
)
def test_usage_errors_exit_2(argv, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert "usage: dopt" in err
    assert "Traceback" not in err


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"dopt {dopt.__version__}"


@pytest.mark.usefixtures("fake_methods")
def test_solve_prints_summary_and_logs_device(problem_file, capsys):
    code, out, err = run(["solve", problem_file, "--method", "tests.fake"], capsys)
    assert code == 0, err
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert set(fields) >= {"objective", "status", "method", "device", "time", "bound"}
    assert fields["method"] == "tests.fake"
    assert fields["device"] == "cpu"
    assert fields["status"] == "iteration_limit"
    assert float(fields["bound"]) == 0.0
    assert err.splitlines() == ["dopt: solving small with tests.fake on cpu"]


@pytest.mark.usefixtures("fake_methods")
def test_quiet_keeps_stderr_empty(problem_file, capsys):
    code, out, err = run(["solve", problem_file, "--method", "tests.fake", "--quiet"], capsys)
    assert code == 0
    assert "objective" in out
    assert err == ""


@pytest.mark.usefixtures("fake_methods")
def test_out_writes_a_result_file_that_loads_back(problem_file, small_problem, tmp_path, capsys):
    target = tmp_path / "result.json"
    code, _, err = run(["solve", problem_file, "-m", "tests.fake", "--option", "pick=last", "--out", target], capsys)
    assert code == 0, err
    payload = json.loads(target.read_text())
    assert set(payload) >= {"kind", "method", "device", "status", "objective", "wall_time", "iterations", "x"}
    assert payload["kind"] == "dmmv"
    assert payload["method"] == "tests.fake"
    result = dopt.Result.load(target)
    small_problem.check(result.x)
    np.testing.assert_array_equal(result.x, small_problem.values[:, -1])
    assert result.objective == small_problem.objective(result.x)
    assert result.iterations == 3
    assert f"wrote {target}" in err


@pytest.mark.usefixtures("fake_methods")
def test_options_seed_and_time_limit_reach_the_method(problem_file, tmp_path, capsys):
    target = tmp_path / "result.json"
    argv = ["solve", problem_file, "-m", "tests.fake", "--seed", "7", "--time-limit", "30", "-o", target]
    argv += ["--option", "rounds=9", "--option", "rounds=5", "--option", "pick=last", "--option", "pause=0"]
    argv += ["--option", "signal_after=None", "--option", "fail=off"]
    assert run(argv, capsys)[0] == 0
    extras = dopt.Result.load(target).extras
    assert extras["options"] == {"rounds": 5, "pick": "last", "pause": 0.0, "signal_after": None, "fail": False}
    assert extras["seed"] == 7
    assert extras["time_limit"] == 30.0


@pytest.mark.usefixtures("fake_methods")
def test_file_solve_table_is_used_when_flags_are_absent(write_manifest, tmp_path, capsys):
    path = write_manifest(VALID + "[solve]\nmethod = 'tests.fake'\nseed = 5\noptions = {rounds = 2}\n")
    target = tmp_path / "result.json"
    assert run(["solve", path, "--out", target, "-q"], capsys)[0] == 0
    result = dopt.Result.load(target)
    assert result.method == "tests.fake"
    assert result.extras["seed"] == 5
    assert result.iterations == 2


@pytest.mark.usefixtures("fake_methods")
@pytest.mark.parametrize(
    ("tty", "quiet", "expected"), [(True, False, True), (True, True, False), (False, False, False)]
)
def test_progress_bar_only_on_a_terminal(tty, quiet, expected, problem_file, monkeypatch, capsys):
    seen = []
    real_solve = dopt.solve

    def spy(*args, **kwargs):
        seen.append(kwargs["progress"])
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(dopt, "solve", spy)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    argv = ["solve", problem_file, "-m", "tests.fake"] + (["--quiet"] if quiet else [])
    assert run(argv, capsys)[0] == 0
    assert seen == [expected]


@pytest.mark.usefixtures("fake_methods")
def test_ctrl_c_during_solve_returns_the_incumbent(problem_file, capsys):
    argv = ["solve", problem_file, "-m", "tests.fake", "--option", "rounds=1000000", "--option", "pause=0.001"]
    code, out, err = run([*argv, "--option", "signal_after=3"], capsys)
    assert code == 0, err
    assert "status     interrupted" in out
    assert "Traceback" not in err


@pytest.mark.usefixtures("fake_methods")
def test_internal_error_exits_1_with_a_hint(problem_file, capsys):
    code, out, err = run(["solve", problem_file, "-m", "tests.fake", "--option", "fail=true"], capsys)
    assert code == 1
    assert out == ""
    assert "dopt: internal error: RuntimeError: boom" in err
    assert "--debug" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("fake_methods")
@pytest.mark.parametrize(("option", "code"), [("fail=true", 1), ("rounds=-1", 2)])
def test_debug_shows_the_traceback_and_keeps_the_exit_code(option, code, problem_file, capsys):
    got, _, err = run(["solve", problem_file, "-m", "tests.fake", "--option", option, "--debug"], capsys)
    assert got == code
    assert "Traceback (most recent call last)" in err


def test_keyboard_interrupt_outside_the_solve_exits_130(problem_file, monkeypatch, capsys):
    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(dopt, "load", interrupted)
    code, out, err = run(["check", problem_file], capsys)
    assert code == 130
    assert out == ""
    assert err.splitlines() == ["dopt: interrupted"]


def test_check_prints_the_summary(problem_file, capsys):
    code, out, err = run(["check", problem_file], capsys)
    assert code == 0, err
    facts = dict(line.split(None, 1) for line in out.splitlines())
    assert facts["kind"] == "dmmv"
    assert facts["variables"] == "4"
    assert facts["constraints"] == "3"
    assert facts["equalities"] == "3"


@pytest.mark.usefixtures("fake_methods")
def test_methods_lists_kinds_devices_defaults_and_missing_packages(monkeypatch, capsys):
    monkeypatch.setattr(cli, "real_gpu_available", lambda: False)
    monkeypatch.setattr(cli, "gpu_usable", lambda: False)
    code, out, _ = run(["methods"], capsys)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert any(line.startswith("dmmv: ") for line in out.splitlines())
    assert "cpu, gpu (none here)" in lines["tests.gpu"]
    assert "gpu (none here)" in lines["tests.gpu_only"]
    assert "[missing: dopt_no_such_module]" in lines["tests.needs"]
    assert "default" not in lines["tests.fake"]
    assert "rounds:" not in out
    defaults = [name for name, line in lines.items() if line.split()[1] == "default"]
    assert sorted(defaults) == sorted(spec.name for spec in dopt.list_methods() if spec.default)
    assert "dmmv.local" in defaults


@pytest.mark.usefixtures("fake_methods")
def test_methods_verbose_and_single_method_show_options(capsys):
    code, out, _ = run(["methods", "--kind", "dmmv", "--verbose"], capsys)
    assert code == 0
    assert "rounds: int = 3  rounds to run" in out
    assert "signal_after: int | None = None" in out
    assert "tests.other" not in out
    code, out, _ = run(["methods", "tests.fake"], capsys)
    assert code == 0
    assert "pick: 'first'|'last' = 'first'" in out
    assert sum(line.startswith("  tests.") for line in out.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "words"), [(["--kind", "sudoku"], "unknown problem kind"), (["dmmv.nope"], "unknown")]
)
def test_methods_unknown_names_exit_2(argv, words, capsys):
    code, _, err = run(["methods", *argv], capsys)
    assert_one_line_error(code, err, words)


@needs_round
def test_round_solves_a_file_end_to_end(problem_file, small_problem, tmp_path, capsys):
    target = tmp_path / "round.json"
    code, out, err = run(["solve", problem_file, "--method", "dmmv.round", "--out", target], capsys)
    assert code == 0, err
    assert "method     dmmv.round" in out
    assert "bound" in out
    result = dopt.Result.load(target)
    small_problem.check(result.x)
    assert result.objective == pytest.approx(small_problem.objective(result.x))
    assert result.extras["bound"] <= result.objective + 1e-9


@needs_round
def test_round_rejects_unknown_options(problem_file, capsys):
    code, _, err = run(["solve", problem_file, "--method", "dmmv.round", "--option", "colour=red"], capsys)
    assert_one_line_error(code, err, "unknown option 'colour'")


@needs_local
def test_default_method_runs_from_the_command_line(problem_file, small_problem, tmp_path, capsys):
    target = tmp_path / "local.json"
    code, _, err = run(["solve", problem_file, "--time-limit", "20", "--seed", "1", "-o", target, "-q"], capsys)
    assert code == 0, err
    result = dopt.Result.load(target)
    assert result.method == "dmmv.local"
    small_problem.check(result.x)
    assert result.objective == pytest.approx(small_problem.objective(result.x))


def test_installed_entry_point_reports_a_broken_file_in_one_line(write_manifest):
    script = Path(sys.executable).with_name("dopt")
    if not script.is_file():
        pytest.skip("the dopt console script is not installed next to this interpreter")
    path = write_manifest(VALID.replace("[[1.0, 2.0]", "[[nan, 2.0]"))
    proc = subprocess.run([script, "solve", path], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"dopt: error: {path}: A: contains NaN or infinite values"]


def test_closed_stdout_pipe_is_not_an_error(problem_file, monkeypatch):
    """``dopt solve FILE | head -1``: the reader leaving early ends dopt quietly with exit 0."""

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def isatty(self):
            return False

        def fileno(self):
            raise ValueError("no descriptor")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main(["solve", str(problem_file), "--quiet"]) == 0
