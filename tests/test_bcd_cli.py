"""``dopt solve FILE.svm --kind bcd --loss ... --l1 ...``: LIBSVM files straight from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import dopt
from dopt import cli
from dopt.bcd import load_libsvm

PROBLEMS = Path(__file__).resolve().parent.parent / "problems" / "bcd"
SVM = PROBLEMS / "small-logistic.svm"


def test_solve_a_libsvm_file_matches_its_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = dopt.load(PROBLEMS / "small-logistic.toml")
    out = tmp_path / "result.json"
    argv = ["solve", str(SVM), "--kind", "bcd", "--loss", "logistic", "--l1", str(manifest.l1)]
    code = cli.main([*argv, "--option", "tol=1e-10", "--out", str(out)])
    assert code == 0
    assert "bcd.lasso" in capsys.readouterr().out  # an L1 problem from a data file defaults to the L1 solver
    saved = json.loads(out.read_text())
    reference = dopt.solve(manifest, "bcd.lasso", tol=1e-10)
    assert saved["objective"] == pytest.approx(reference.objective, rel=1e-8)
    x = dopt.Result.load(out).x
    assert manifest.objective(x) == pytest.approx(reference.objective, rel=1e-8)


def test_check_reads_params_in_both_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(SVM), "--kind", "bcd", "--loss=least_squares", "--l1", "2", "--l2=0.5"]) == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert lines["loss"] == "least_squares"
    assert float(lines["l1"]) == 2.0 and float(lines["l2"]) == 0.5
    assert lines["rows"] == "200" and lines["storage"] == "sparse"


def test_load_with_a_kind_is_the_family_loader() -> None:
    problem = dopt.load(SVM, "bcd", l1=0.5)
    same = load_libsvm(SVM, loss="logistic", l1=0.5)
    assert problem.loss == "logistic" and problem.name == "small-logistic"
    assert abs(problem.A - same.A).max() == 0 and np.array_equal(problem.b, same.b)
    assert problem.defaults == {"method": "bcd.lasso"}
    assert dopt.load(SVM, "bcd").defaults == {}  # no L1 weight: the family default (bcd.greedy) applies


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--kind", "bcd", "--lamda", "1"], "unknown entries ['lamda']"),
        (["--kind", "bcd", "--l1"], "--l1 needs a value"),
        (["--kind", "bcd", "--l1", "--l2", "1"], "--l1 needs a value"),
        (["--kind", "bcd", "--l1", "much"], "l1: expected a number"),
        (["--kind", "bcd", "--l1", "-1"], "l1: must be finite and >= 0"),
        (["--kind", "bcd", "--loss", "label_propagation"], "cannot be read from a LIBSVM file"),
        (["--kind", "bcd", "stray"], "expected --PARAM VALUE"),
        (["--kind", "sudoku"], "unknown kind 'sudoku'"),
        (["--kind", "dmmv"], "does not read data files directly"),
        (["--loss", "logistic"], "unrecognized arguments: --loss logistic"),
    ],
)
def test_bad_data_file_arguments_exit_2_with_one_line(
    extra: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["solve", str(SVM), *extra]) == 2
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err


def test_kind_is_refused_for_manifests_and_batches(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["solve", str(PROBLEMS / "small-logistic.toml"), "--kind", "bcd"]) == 2
    assert "load it without a kind" in capsys.readouterr().err
    assert cli.main(["solve", str(SVM), str(SVM), "--kind", "bcd"]) == 2
    assert "--kind reads one data file" in capsys.readouterr().err
