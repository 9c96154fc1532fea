"""``dopt solve`` on many files: folders, globs, a Dask cluster, and broken files among good ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dmmv_cases import random_tiny_problem

import dopt
from dopt.cli import main


def _folder(tmp_path: Path, count: int = 3) -> Path:
    folder = tmp_path / "problems"
    folder.mkdir()
    for seed in range(count):
        dopt.save(random_tiny_problem(seed), folder / f"tiny-{seed}.toml")
    return folder


def test_folder_in_process_prints_summary_and_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "results"
    assert main(["solve", str(folder), "--method", "dmmv.milp", "--out", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert table.count("| optimal |") == 3
    for seed in range(3):
        saved = dopt.Result.load(out / f"tiny-{seed}.json")
        assert saved.objective == pytest.approx(dopt.load(folder / f"tiny-{seed}.toml").objective(saved.x))
    assert len(json.loads((out / "summary.json").read_text())) == 3


def test_folder_scan_takes_problem_npz_but_not_data_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _folder(tmp_path, 1)
    (folder / "tiny-0.toml").unlink()
    problem = random_tiny_problem(4)
    np.savez(folder / "packed.npz", kind=np.array("dmmv"), A=problem.A, values=problem.values, b=problem.lower)
    assert main(["solve", str(folder), "-m", "dmmv.round", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "| packed |" in table and table.count("| optimal |") + table.count("| converged |") == 1


def test_glob_and_a_broken_file_exit_2_but_keep_the_others(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _folder(tmp_path, 2)
    (folder / "tiny-broken.toml").write_text('kind = "dmmv"\n')
    out = tmp_path / "results"
    code = main(["solve", str(folder / "tiny-*.toml"), "-m", "dmmv.round", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert "1 of 3 problems could not be solved" in captured.err
    assert "| tiny-broken | error:" in captured.out
    assert sorted(p.name for p in out.glob("tiny-*.json")) == ["tiny-0.json", "tiny-1.json"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [(["--out", "r.json"], "names a folder"), (["--workers", "0"], "workers must be >= 1")],
)
def test_batch_usage_errors(extra: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _folder(tmp_path, 2)
    assert main(["solve", str(folder), *extra]) == 2
    assert words in capsys.readouterr().err


def test_empty_folder_and_unmatched_pattern_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["solve", str(tmp_path)]) == 2
    assert "no problem files" in capsys.readouterr().err
    assert main(["solve", str(tmp_path / "*.toml")]) == 2
    assert "no file matches" in capsys.readouterr().err


def test_two_workers_on_a_local_dask_cluster(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("distributed")
    folder = _folder(tmp_path, 4)
    assert main(["solve", str(folder), "-m", "dmmv.milp", "--workers", "2", "--quiet"]) == 0
    assert capsys.readouterr().out.count("| optimal |") == 4
