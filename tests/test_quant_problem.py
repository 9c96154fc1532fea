"""The quant problem: objective through Σ, grids, validation, check(), files (.npy, .npz, .safetensors) and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from quant_cases import objective_direct, random_problem

import dopt
from dopt.cli import main
from dopt.core import safetensors
from dopt.core.errors import FormatError, ProblemError
from dopt.quant import QuantProblem
from dopt.quant.grid import find_params, make_grid, quantize
from dopt.quant.problem import off_grid_count


def test_objective_through_sigma_equals_the_activations_norm() -> None:
    rng = np.random.default_rng(0)
    W, X = rng.normal(size=(7, 5)), rng.normal(size=(5, 40))
    problem = QuantProblem(W=W, X=X, bits=3)
    x = rng.normal(size=W.shape)
    assert problem.objective(x) == pytest.approx(objective_direct(W, X, x), rel=1e-12)
    assert problem.relative_error(x) == pytest.approx(objective_direct(W, X, x) / np.linalg.norm(W @ X) ** 2)
    same = QuantProblem(W=W, Sigma=X @ X.T, bits=3)
    assert same.objective(x) == pytest.approx(problem.objective(x), rel=1e-12)
    assert problem.row_errors(x).sum() == pytest.approx(problem.objective(x), rel=1e-12)


def test_heldout_error() -> None:
    rng = np.random.default_rng(1)
    W, X, Xh = rng.normal(size=(4, 3)), rng.normal(size=(3, 20)), rng.normal(size=(3, 9))
    problem = QuantProblem(W=W, X=X, X_heldout=Xh)
    x = np.round(W)
    expected = objective_direct(W, Xh, x) / np.linalg.norm(W @ Xh) ** 2
    assert problem.heldout_relative_error(x) == pytest.approx(expected, rel=1e-12)
    assert QuantProblem(W=W, X=X).heldout_relative_error(x) is None


def test_grid_matches_gptq_find_params() -> None:
    W = np.array([[-1.0, 0.5, 2.0], [0.2, 0.3, 0.4], [0.0, 0.0, 0.0], [-3.0, -1.0, -2.0]])
    scale, zero = find_params(W, 7)
    # asymmetric: [min(0, min w), max(0, max w)] in 7 steps, zero = round(-lo / s)
    np.testing.assert_allclose(scale, [3 / 7, 0.4 / 7, 2 / 7, 3 / 7])
    np.testing.assert_allclose(zero, [np.round(7 / 3), 0, np.round(3.5), 7])
    scale, zero = find_params(W, 7, sym=True)
    np.testing.assert_allclose(scale, [4 / 7, 0.8 / 7, 2 / 7, 6 / 7])
    np.testing.assert_array_equal(zero, [4, 4, 4, 4])
    grid = make_grid(W, 3)
    Q = grid.quantize(W)
    np.testing.assert_allclose(grid.dequantize(grid.codes(W)), Q)
    assert (grid.codes(W) >= 0).all() and (grid.codes(W) <= 7).all()
    assert Q[2].tolist() == [0, 0, 0]


def test_clip_search_never_scores_worse_than_the_full_range() -> None:
    rng = np.random.default_rng(2)
    W = rng.standard_t(2, size=(30, 50))
    s0, z0 = find_params(W, 7)
    s1, z1 = find_params(W, 7, clip=True)
    err = lambda s, z: (np.abs(quantize(W, s[:, None], z[:, None], 7) - W) ** 2.4).sum(1)  # noqa: E731
    assert (err(s1, z1) <= err(s0, z0) + 1e-12).all()
    assert (s1 <= s0 + 1e-15).all() and (s1 < s0).any()


def test_groups() -> None:
    problem = random_problem(4, 10, bits=2, group_size=4)
    grid = problem.grid
    assert grid.groups == 3
    np.testing.assert_array_equal(grid.gidx, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    for g, cols in enumerate((slice(0, 4), slice(4, 8), slice(8, 10))):
        s, z = find_params(problem.W[:, cols], 3)
        np.testing.assert_allclose(grid.scale[:, g], s)
        np.testing.assert_allclose(grid.zero[:, g], z)


def test_check_accepts_grid_points_and_counts_outliers() -> None:
    problem = random_problem(6, 9, bits=3)
    x = problem.grid.quantize(problem.W)
    problem.check(x)
    y = x.copy()
    y[2, 3] += 0.123456  # off the grid
    with pytest.raises(ProblemError, match="off every 3-bit grid"):
        problem.check(y)
    QuantProblem(W=problem.W, Sigma=problem.Sigma, bits=3, outliers=1).check(y)
    assert off_grid_count(np.array([0.0, 0.5, 1.0, -1.5, 0.3]), 7) == 1
    assert off_grid_count(np.array([0.0, 0.0]), 3) == 0
    # a scaled grid with a different zero-point is still a grid
    assert off_grid_count(0.37 * (np.array([0, 1, 2, 7, 3]) - 2.0), 7) == 0
    assert off_grid_count(0.37 * (np.array([0, 1, 2, 8, 3]) - 2.0), 7) == 1  # 9 levels do not fit 3 bits


def test_outlier_budget() -> None:
    problem = random_problem(10, 20, outliers=0.05)
    assert problem.max_outliers == 10
    assert random_problem(10, 20, outliers=7).max_outliers == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"W": np.ones((2, 3))}, "give the calibration inputs"),
        ({"W": np.ones((2, 3)), "X": np.ones((2, 5))}, "expected a 3 x N"),
        ({"W": np.ones((2, 3)), "Sigma": np.ones((3, 2))}, "expected shape"),
        ({"W": np.ones((2, 3)), "Sigma": np.diag([1.0, -1.0, 1.0])}, "negative diagonal"),
        ({"W": np.ones((2, 3)), "Sigma": np.triu(np.ones((3, 3)))}, "not symmetric"),
        ({"W": np.ones((2, 3)), "X": np.ones((3, 4)), "Sigma": np.eye(3)}, "not both"),
        ({"W": np.ones((2, 3)), "Sigma": np.eye(3), "bits": 1}, "bits"),
        ({"W": np.ones((2, 3)), "Sigma": np.eye(3), "bits": 9}, "bits"),
        ({"W": np.ones((2, 3)), "Sigma": np.eye(3), "group_size": -1}, "group_size"),
        ({"W": np.ones((2, 3)), "Sigma": np.eye(3), "outliers": 2.5}, "outliers"),
        ({"W": np.ones((2, 3)), "Sigma": np.eye(3), "damping": -0.1}, "damping"),
        ({"W": np.array([[1.0, np.nan]]), "Sigma": np.eye(2)}, "W"),
        ({"W": np.ones((2, 3)), "Sigma": np.diag([1.0, np.inf, 1.0])}, "Sigma"),
        ({"W": np.ones((2, 3)), "Sigma": np.eye(3), "sym": "yes"}, "sym"),
    ],
)
def test_invalid_problems(kwargs: dict, message: str) -> None:
    with pytest.raises(ProblemError, match=message):
        QuantProblem(**kwargs)


def test_save_and_load_round_trip(tmp_path) -> None:
    problem = random_problem(5, 6, bits=2, group_size=3, sym=True, outliers=2, damping=0.05)
    problem = QuantProblem(
        W=problem.W, Sigma=problem.Sigma, Sigma_heldout=2 * problem.Sigma, bits=2, group_size=3, sym=True, outliers=2
    )
    path = dopt.save(problem, tmp_path / "layer.toml")
    back = dopt.load(path)
    np.testing.assert_array_equal(back.W, problem.W)
    np.testing.assert_array_equal(back.Sigma, problem.Sigma)
    np.testing.assert_array_equal(back.Sigma_heldout, problem.Sigma_heldout)
    assert (back.bits, back.group_size, back.sym, back.outliers) == (2, 3, True, 2)


def test_manifest_with_npz_and_safetensors_tensors(tmp_path) -> None:
    rng = np.random.default_rng(3)
    W = rng.normal(size=(4, 6)).astype(np.float32)
    X = rng.normal(size=(6, 30)).astype(np.float32)
    safetensors.write(tmp_path / "model.safetensors", {"layer.weight": W, "layer.bias": np.zeros(4, np.float32)})
    np.savez(tmp_path / "calib.npz", X=X, other=np.ones(3))
    (tmp_path / "layer.toml").write_text(
        'kind = "quant"\n[params]\nbits = 3\n[data]\n'
        'W = { file = "model.safetensors", key = "layer.weight" }\n'
        'X = { file = "calib.npz", key = "X" }\n'
    )
    problem = dopt.load(tmp_path / "layer.toml")
    np.testing.assert_array_equal(problem.W, W.astype(np.float64))
    np.testing.assert_allclose(problem.Sigma, X.astype(np.float64) @ X.astype(np.float64).T)
    (tmp_path / "bad.toml").write_text(
        'kind = "quant"\n[data]\nW = { file = "model.safetensors", key = "nope" }\nSigma = [[1.0]]\n'
    )
    with pytest.raises(FormatError, match="no tensor named 'nope'"):
        dopt.load(tmp_path / "bad.toml")
    (tmp_path / "many.toml").write_text('kind = "quant"\n[data]\nW = "model.safetensors"\nSigma = [[1.0]]\n')
    with pytest.raises(FormatError, match="holds 2 tensors"):
        dopt.load(tmp_path / "many.toml")
    (tmp_path / "keyed.toml").write_text('kind = "quant"\n[data]\nW = { file = "calib.npz", key = 3 }\n')
    with pytest.raises(FormatError, match="table must be"):
        dopt.load(tmp_path / "keyed.toml")


def test_safetensors_round_trip_and_against_the_package(tmp_path) -> None:
    rng = np.random.default_rng(4)
    tensors = {
        "a": rng.normal(size=(3, 4)).astype(np.float32),
        "b": rng.integers(0, 255, size=(5,), dtype=np.uint8),
        "c": rng.normal(size=(2, 2, 2)),
        "d": rng.normal(size=(3,)).astype(np.float16),
    }
    path = safetensors.write(tmp_path / "t.safetensors", tensors, metadata={"format": "np"})
    back = safetensors.read_all(path)
    for name, value in tensors.items():
        np.testing.assert_array_equal(back[name], value)
        assert back[name].dtype == value.dtype
    package = pytest.importorskip("safetensors.numpy")
    theirs = package.load_file(str(path))
    for name, value in tensors.items():
        np.testing.assert_array_equal(theirs[name], value)
    package.save_file({"x": tensors["a"]}, str(tmp_path / "theirs.safetensors"))
    np.testing.assert_array_equal(safetensors.read_tensor(tmp_path / "theirs.safetensors"), tensors["a"])


def test_safetensors_bfloat16_and_malformed_files(tmp_path) -> None:
    values = np.array([1.0, -2.5, 0.15625], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype(np.uint16)
    header = b'{"x":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}'
    (tmp_path / "bf.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bf16.tobytes())
    np.testing.assert_array_equal(safetensors.read_tensor(tmp_path / "bf.safetensors", "x"), values)
    (tmp_path / "short.safetensors").write_bytes(b"\x01")
    with pytest.raises(FormatError, match="not a safetensors file"):
        safetensors.read_tensor(tmp_path / "short.safetensors")
    bad = b'{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}'
    (tmp_path / "bad.safetensors").write_bytes(len(bad).to_bytes(8, "little") + bad + bytes(8))
    with pytest.raises(FormatError, match="inconsistent offsets"):
        safetensors.read_tensor(tmp_path / "bad.safetensors")


def test_bundled_layers_load_and_solve() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "problems" / "quant"
    files = sorted(folder.glob("*.toml"))
    assert files, "problems/quant holds no layer"
    problem = dopt.load(files[0])
    assert problem.Sigma_heldout is not None
    result = dopt.solve(problem, "quant.rtn")
    assert 0 < result.extras["relative_error"] < 1
    assert result.extras["heldout_relative_error"] > 0


def test_cli_check_and_solve(tmp_path, capsys) -> None:
    problem = random_problem(6, 8, bits=3)
    path = dopt.save(problem, tmp_path / "layer.toml")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "6 x 8" in out
    assert (
        main(
            [
                "solve",
                str(path),
                "--method",
                "quant.gptq",
                "--option",
                "act_order=true",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "relative_error" in out
    result = dopt.Result.load(tmp_path / "r.json")
    assert result.method == "quant.gptq"
    np.testing.assert_array_equal(result.extras["codes"].shape, (6, 8))
