"""``dopt bench``: a tiny suite end to end (results, report, plots, README tables) and its errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from dopt.bench import Case, Entry, Outcome, report
from dopt.bench.runner import family_cases, measure
from dopt.cli import main


def test_smoke_suite_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{report.README_START}\nold table\n{report.README_END}\ntail\n")
    out = tmp_path / "bench"
    argv = ["bench", "--suite", "smoke", "--family", "dmmv", "--out", str(out)]
    assert main([*argv, "--readme", str(readme), "--quiet"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    labels = [row["label"] for row in results["rows"]]
    assert labels == ["dmmv.local", "dmmv.round", "HiGHS", "CP-SAT", "Gurobi"]
    local = results["rows"][0]
    assert local["quality"] > 0 and local["seconds"] > 0 and local["status"] == "time_limit"
    for row in results["rows"]:
        installed = importlib.util.find_spec(
            {"HiGHS": "highspy", "CP-SAT": "ortools", "Gurobi": "gurobipy"}.get(row["label"], "dopt")
        )
        assert row["status"] != "not installed" if installed else row["status"] == "not installed"
    text = (out / "report.md").read_text()
    assert (
        "| instance | dmmv.local | dmmv.round | HiGHS (peer) | CP-SAT (peer) | Gurobi (peer) | dopt / best peer |"
        in text
    )
    assert "| off-grid-n12-s1 |" in text
    assert text == printed
    assert "Suite `smoke`" in text and results["machine"]["cores"]
    results["no_suite"] = ["quant"]
    assert report.markdown(results).endswith("No benchmark suite yet: quant.\n")
    new_readme = readme.read_text()
    assert "old table" not in new_readme and "| off-grid-n12-s1 |" in new_readme and new_readme.endswith("tail\n")
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "dmmv.png").stat().st_size > 1000


def test_a_run_that_dies_before_its_report_keeps_every_measurement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each measurement is logged to rows.jsonl as it is taken; the log goes once results.json is written."""
    out = tmp_path / "bench"
    argv = ["bench", "--suite", "smoke", "--family", "dmmv", "--out", str(out), "--quiet"]

    def crash(results: dict, out: Path) -> list[Path]:
        raise MemoryError("killed while plotting")

    with monkeypatch.context() as patch:
        patch.setattr(report, "write", crash)
        assert main(argv) == 1  # the CLI reports an internal error
    logged = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert [row["label"] for row in logged] == ["dmmv.local", "dmmv.round", "HiGHS", "CP-SAT", "Gurobi"]
    assert all(row["instance"] == "off-grid-n12-s1" for row in logged) and logged[0]["quality"] > 0
    assert main(argv) == 0
    assert not (out / "rows.jsonl").exists()
    assert [row["label"] for row in json.loads((out / "results.json").read_text())["rows"]] == [
        row["label"] for row in logged
    ]


def test_gurobi_runs_only_where_the_pip_licence_accepts_the_model() -> None:
    """The 3000 x 1000 off-grid case has 6000 epigraph rows, over the 2000 of pip's licence: no Gurobi entry."""
    from dopt.dmmv.bench import cases

    labels = {case.instance: [entry.label for entry in case.entries] for case in cases("full")}
    assert "Gurobi" not in labels["off-grid-n1000-s1"]
    assert all("Gurobi" in found for name, found in labels.items() if name != "off-grid-n1000-s1")


def test_ratio_and_bold_mark_where_dopt_wins() -> None:
    def fixed(quality: float | None) -> Entry:
        return Entry(str(quality), lambda: Outcome(quality, 1.0, "done"))

    ours, peer, lost = fixed(1.0), fixed(2.0), fixed(None)
    case = Case("fam", "inst", 10, "error", (ours, Entry("peer", peer.run, peer=True), Entry("gone", lost.run, True)))
    rows = [measure(case, entry) for entry in case.entries]
    table = "\n".join(report.family_table("fam", rows))
    assert "| inst | **1 (1.00)** | 2 (1.00) | none found (1.00) | 0.500 |" in table


def test_cases_compared_by_seconds_rank_by_time_among_those_that_met_the_accuracy() -> None:
    def fixed(label: str, quality: float | None, seconds: float, peer: bool = False) -> Entry:
        return Entry(label, lambda: Outcome(quality, seconds, "done"), peer=peer)

    entries = (fixed("ours", 5.0, 2.0), fixed("slow", 5.0, 4.0, True), fixed("missed", None, 0.004, True))
    case = Case("fam", "inst", 10, "objective", entries, compare="seconds")
    rows = [measure(case, entry) for entry in case.entries]
    table = "\n".join(report.family_table("fam", rows))
    assert "seconds to the same accuracy" in table and "dopt / fastest peer (time)" in table
    assert "| inst | **5 (2.00)** | 5 (4.00) | none found (0.004) | 0.500 |" in table
    faster = measure(case, fixed("quick", 5.0, 1.0, True))
    table = "\n".join(report.family_table("fam", [*rows, faster]))
    assert "| inst | 5 (2.00) | 5 (4.00) | none found (0.004) | 5 (1.00) | 2.000 |" in table


def test_failures_and_missing_packages_are_rows_not_crashes() -> None:
    def broken() -> Outcome:
        raise RuntimeError("boom")

    case = Case("fam", "inst", 1, "error", ())
    failed = measure(case, Entry("broken", broken))
    assert failed["status"] == "error" and "boom" in failed["notes"]
    missing = measure(case, Entry("peer", broken, peer=True, requires=("no_such_module_xyz",)))
    assert missing["status"] == "not installed" and missing["notes"] == "no_such_module_xyz"


@pytest.mark.parametrize(("argv", "words"), [(["--family", "nope"], "unknown family"), (["--suite", "x"], "invalid")])
def test_bad_arguments_exit_2(argv: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", *argv, "--out", str(tmp_path), "--quiet"]) == 2
    assert words in capsys.readouterr().err


def test_readme_without_markers_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    argv = ["bench", "--suite", "smoke", "--family", "dmmv", "--out", str(tmp_path / "o"), "--readme", str(readme)]
    assert main([*argv, "--quiet"]) == 2
    assert "markers" in capsys.readouterr().err


def test_quality_ratios_plot_on_a_log_scale_once_one_is_ten_times_the_best() -> None:
    assert report.ratio_scale([1.0, 1.2, 3.0]) == "linear"
    assert report.ratio_scale([1.0, 1.0, 53.0]) == "log"  # HiGHS's first point at n = 1000: 142.5 vs 2.689
    assert report.ratio_scale([]) == "linear"


def test_each_family_warms_up_once_before_its_first_timed_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A family's JIT kernels are compiled by its bench module's ``warm_up`` before any of its runs, not inside one."""
    import dopt.dmmv.bench as dmmv_bench
    from dopt.bench import runner

    events: list[tuple[str, str]] = []

    def entry(label: str) -> Entry:
        return Entry(label, lambda: events.append(("run", label)) or Outcome(1.0, 0.1))

    cases = [Case("dmmv", f"case{k}", 1, "q", (entry(f"a{k}"), entry(f"b{k}"))) for k in range(2)]
    monkeypatch.setattr(dmmv_bench, "warm_up", lambda device: events.append(("warm", device)))
    monkeypatch.setattr(runner, "compile_parallel_twins", lambda: events.append(("twins", "")))
    monkeypatch.setattr(runner, "family_cases", lambda family, suite, device: cases if family == "dmmv" else None)
    result = runner.run_suite("smoke", ["dmmv", "dag"], device="cpu")
    runs = [("run", "a0"), ("run", "b0"), ("run", "a1"), ("run", "b1")]
    assert events == [("warm", "cpu"), ("twins", ""), *runs]  # then the parallel twins of what the warm-up ran
    assert [row["quality"] for row in result["rows"]] == [1.0] * 4 and result["no_suite"] == ["dag"]

    def failing(device: str) -> None:
        raise RuntimeError("no CUDA device")

    events.clear()
    monkeypatch.setattr(dmmv_bench, "warm_up", failing)
    result = runner.run_suite("smoke", ["dmmv"], device="gpu")  # a failed warm-up does not stop the runs
    assert events == runs and len(result["rows"]) == 4


@pytest.mark.parametrize(
    ("family", "methods"),
    [
        ("dmmv", {"dmmv.local"}),
        ("dag", {"dag.topo"}),
        ("quant", {"quant.quantease", "quant.quantease_outlier"}),
        ("completion", {"completion.als", "completion.fast", "completion.svd"}),
    ],
)
def test_family_warm_up_solves_its_jit_methods_on_the_chosen_device(
    family: str, methods: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each warm-up runs every Numba-compiled method its suite times, on the device the suite runs on."""
    import dopt.core.solve as solve_module

    calls: list[tuple[str, str]] = []
    real_solve = solve_module.solve

    def spy(problem: object, method: str, **options: object) -> object:
        calls.append((method, options.get("device")))
        result = real_solve(problem, method, **options)
        assert np.isfinite(result.objective)
        return result

    monkeypatch.setattr(solve_module, "solve", spy)
    importlib.import_module(f"dopt.{family}.bench").warm_up("cpu")
    assert {method for method, _ in calls} == methods and {device for _, device in calls} == {"cpu"}


@pytest.mark.parametrize("family", ["dmmv", "dag", "bcd", "completion"])
def test_each_family_smoke_suite_measures_dopt(family: str) -> None:
    """Every family suite has smoke cases whose dopt entries reach a finite quality."""
    cases = family_cases(family, "smoke")
    assert cases and all(case.family == family for case in cases)
    for case in cases:
        assert any(entry.peer for entry in case.entries), "a suite without a peer compares nothing"
        for entry in case.entries:
            if not entry.peer:
                row = measure(case, entry)
                assert row["quality"] is not None and row["quality"] >= 0, row


def test_bcd_smoke_cases_hold_dopt_and_peers_to_the_same_gap() -> None:
    """bcd.lasso and scikit-learn reach the same objective (within the target gap) on the bundled Lasso file."""
    from dopt.bcd.bench import TARGET

    case = family_cases("bcd", "smoke")[0]
    assert case.instance == "small-lasso" and case.compare == "seconds"
    assert [e.label for e in case.entries] == ["bcd.lasso", "scikit-learn", "skglm", "celer"]
    rows = {e.label: measure(case, e) for e in case.entries if e.label in ("bcd.lasso", "scikit-learn")}
    ours = rows["bcd.lasso"]
    assert ours["status"] == "converged" and float(ours["notes"].split()[2].rstrip(",")) <= TARGET
    if importlib.util.find_spec("sklearn") is None:
        assert rows["scikit-learn"]["status"] == "not installed"
        return
    theirs = rows["scikit-learn"]
    assert theirs["status"] == "converged" and "tol" in theirs["notes"]
    assert theirs["quality"] == pytest.approx(ours["quality"], rel=1e-5)


def test_completion_smoke_als_runs_the_numpy_reference_iterates_and_spark_waits_for_full() -> None:
    """Same start, same sweeps: completion.als and the NumPy ALS reach the same validation RMSE."""
    cases = family_cases("completion", "smoke")
    low_rank = next(c for c in cases if c.instance.startswith("low-rank"))
    rows = {e.label: measure(low_rank, e) for e in low_rank.entries}
    assert rows["NumPy ALS"]["peer"] and not rows["completion.als"]["peer"]
    assert rows["completion.als"]["quality"] == pytest.approx(rows["NumPy ALS"]["quality"], rel=1e-8)
    labels = {e.label for case in cases for e in case.entries}
    assert {"Surprise SVD", "Surprise BaselineOnly", "completion.svd (lam 10)"} <= labels
    assert "Spark ALS" not in labels  # its start-up stays out of smoke and quick
