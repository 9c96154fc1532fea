"""``dopt generate``: each generator writes a file that loads to the library's problem and solves from the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dopt
from dopt import cli
from dopt.dmmv import fir, maxquant, tomography


def generate(tmp_path: Path, *argv: str) -> tuple[int, Path]:
    """Run ``dopt generate ARGV -o tmp/out.toml``; return the exit code and the file."""
    out = tmp_path / "out.toml"
    return cli.main(["generate", *argv, "-o", str(out)]), out


def test_fir_from_bands_equals_the_library_problem(tmp_path: Path) -> None:
    code, out = generate(tmp_path, "fir", "--taps", "35", "--bits", "8", "--band", "0,0.2", "--stop", "0.3,0.5")
    assert code == 0
    loaded = dopt.load(out)
    expected = fir.fir_problem(fir.filter_spec(35, 8, [(0.0, 0.2)], [(0.3, 0.5)]))
    np.testing.assert_allclose(loaded.A, expected.A, atol=1e-14)
    np.testing.assert_array_equal(loaded.values, expected.values)
    np.testing.assert_array_equal(loaded.lower, expected.lower)
    assert loaded.name == "fir-35-taps-8-bit" and loaded.defaults["method"] == "dmmv.local"


def test_fir_bandpass_and_preset(tmp_path: Path) -> None:
    code, out = generate(tmp_path, "fir", "--taps", "21", "--bits", "6", "--band", "0.2,0.3", "--stop", "0,0.15")
    assert code == 0
    assert dopt.load(out).shape == (16 * 20, 11)
    code, out = generate(tmp_path, "fir", "--preset", "paper")
    assert code == 0
    np.testing.assert_allclose(dopt.load(out).A, fir.fir_problem(fir.paper_spec()).A, atol=1e-14)


def test_tomography_file_holds_the_sparse_ray_matrix_and_sinogram(tmp_path: Path) -> None:
    args = ("--size", "12", "--angles", "5", "--levels", "3", "--phantom", "blobs", "--noise", "20", "--seed", "4")
    code, out = generate(tmp_path, "tomography", *args)
    assert code == 0
    spec = tomography.TomographySpec(size=12, angles=5, levels=3, phantom="blobs", noise=20.0, seed=4)
    inst = tomography.make_instance(spec)
    loaded = dopt.load(out)
    assert loaded.is_sparse
    np.testing.assert_allclose(loaded.A.toarray(), inst.A.toarray(), atol=1e-15)
    np.testing.assert_allclose(loaded.lower, inst.sinogram, atol=1e-9)
    np.testing.assert_array_equal(loaded.values[0], [0, 127.5, 255])
    assert loaded.objective(inst.truth.ravel()) <= 20.0


def test_tomography_tolerance_writes_bounds(tmp_path: Path) -> None:
    code, out = generate(tmp_path, "tomography", "--size", "8", "--angles", "3", "--noise", "5", "--tolerance", "5")
    assert code == 0
    loaded = dopt.load(out)
    np.testing.assert_allclose(loaded.upper - loaded.lower, 10.0)


def test_maxquant_synthetic_and_from_files(tmp_path: Path) -> None:
    code, out = generate(tmp_path, "maxquant", "--dim", "10", "--samples", "30", "--bits", "3", "--row", "2")
    assert code == 0
    W, X = maxquant.synthetic_layer(8, 10, 30, seed=0)
    loaded = dopt.load(out)
    np.testing.assert_allclose(loaded.lower, X @ W[2], atol=1e-12)
    np.testing.assert_allclose(loaded.values[0], maxquant.row_grid(W[2], 3), atol=1e-15)
    np.save(tmp_path / "W.npy", W)
    np.save(tmp_path / "X.npy", X)
    code, out2 = generate(
        tmp_path, "maxquant", "--weights", str(tmp_path / "W.npy"), "--inputs", str(tmp_path / "X.npy")
    )
    assert code == 0
    np.testing.assert_allclose(dopt.load(out2).lower, X @ W[0], atol=1e-12)


def test_generated_file_solves_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = generate(tmp_path, "tomography", "--size", "6", "--angles", "4", "--noise", "0")
    assert code == 0
    assert cli.main(["solve", str(out), "--time-limit", "60", "--quiet"]) == 0  # stops at the proven optimum
    assert "objective  0" in capsys.readouterr().out  # the noiseless image is recovered exactly


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "bogus", "-o", "x.toml"],
        ["generate", "fir", "--taps", "35"],  # no -o
        ["generate", "fir", "-o", "x.toml"],  # no bands
        ["generate", "fir", "--taps", "34", "--band", "0,0.2", "--stop", "0.3,0.5", "-o", "x.toml"],
        ["generate", "fir", "--band", "0,zero", "--stop", "0.3,0.5", "-o", "x.toml"],
        ["generate", "tomography", "--levels", "9", "-o", "x.toml"],
        ["generate", "maxquant", "--weights", "W.npy", "-o", "x.toml"],
        ["generate", "maxquant", "--rows", "4", "--row", "5", "--dim", "4", "-o", "x.toml"],
        ["generate", "fir", "--preset", "paper", "-o", "x.json"],
    ],
)
def test_bad_generate_arguments_exit_2(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    assert not (tmp_path / "x.toml").exists()


def test_generate_help_exits_0() -> None:
    assert cli.main(["generate", "fir", "--help"]) == 0
    assert cli.main(["generate", "--help"]) == 0


ROOT = Path(__file__).resolve().parents[1]
# Each bundled application file and the command that generated it (recorded in docs/dmmv-applications.md).
BUNDLED = {
    "fir-lowpass-55-10.toml": ["fir", "--preset", "lowpass-55-10"],
    "fir-bandpass-75-12.toml": ["fir", "--preset", "bandpass-75-12"],
    "tomo-blobs-32-4lv-8ang.toml": "tomography --size 32 --angles 8 --levels 4 --phantom blobs --noise 60".split(),
    "tomo-shepp-logan-32-2lv-16ang.toml": "tomography --size 32 --angles 16 --levels 2 --noise 125".split(),
    "maxquant-64x256-3bit.toml": ["maxquant", "--dim", "64", "--samples", "256", "--bits", "3"],
}


@pytest.mark.parametrize("file", sorted(BUNDLED))
def test_bundled_application_files_equal_a_fresh_generation(file: str, tmp_path: Path) -> None:
    code, out = generate(tmp_path, *BUNDLED[file])
    assert code == 0
    bundled, fresh = dopt.load(ROOT / "problems" / "dmmv" / file), dopt.load(out)
    assert (bundled.name, bundled.description, bundled.defaults) == (fresh.name, fresh.description, fresh.defaults)
    for field in ("values", "lower", "upper", "weights"):
        np.testing.assert_allclose(getattr(bundled, field), getattr(fresh, field), rtol=0, atol=1e-9)
    dense = (lambda A: A.toarray()) if bundled.is_sparse else np.asarray
    np.testing.assert_allclose(dense(bundled.A), dense(fresh.A), rtol=0, atol=1e-13)


def test_bundled_tomography_file_solves_below_its_noise_level(capsys: pytest.CaptureFixture[str]) -> None:
    file = ROOT / "problems" / "dmmv" / "tomo-shepp-logan-32-2lv-16ang.toml"
    argv = ["solve", str(file), "--time-limit", "60", "--option", "init=lsq", "--option", "max_rounds=40", "--quiet"]
    assert cli.main(argv) == 0
    objective = float(capsys.readouterr().out.split("objective")[1].split()[0])
    assert objective <= 125.0  # the true image's residual is the noise, at most 125


def test_generate_dag_writes_a_problem_with_its_true_graph(tmp_path, capsys):
    """``dopt generate dag ... -o DIR`` writes a simulated SEM that solves back to its own graph."""
    argv = ["generate", "dag", "--graph", "ER", "--degree", "2", "--d", "8", "--n", "500", "--seed", "1"]
    assert cli.main([*argv, "-o", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*.toml")
    assert "wrote" in capsys.readouterr().out
    problem = dopt.load(path)
    assert problem.d == 8 and problem.true_graph is not None
    result = dopt.solve(problem)
    assert result.method == "dag.topo" and result.extras["shd"] <= 2


def test_generate_dag_bad_values_exit_2(tmp_path, capsys):
    assert cli.main(["generate", "dag", "--graph", "XX", "-o", str(tmp_path)]) == 2
    assert cli.main(["generate", "dag", "--d", "-3", "-o", str(tmp_path)]) == 2
    assert "dopt: error: dag:" in capsys.readouterr().err


def test_generate_ratings_then_solve(tmp_path, capsys):
    """``dopt generate ratings`` writes a completion problem that ``dopt solve`` fits below the rating spread."""
    out = tmp_path / "r.toml"
    argv = ["generate", "ratings", "--m", "60", "--n", "40", "--ratings", "900", "--rank", "3", "--seed", "2"]
    assert cli.main([*argv, "--validation", "0.1", "-o", str(out)]) == 0
    problem = dopt.load(out)
    assert problem.kind == "completion"
    result = dopt.solve(problem, time_limit=20)
    assert result.method == "completion.als" and np.isfinite(result.objective)
