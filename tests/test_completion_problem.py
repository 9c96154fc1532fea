"""The completion problem: validation errors, empty rows, file formats (CSV, Matrix Market, .npz) and readers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import dopt
from dopt.completion import CompletionProblem, generate, load_movielens, low_rank, predict, rating_like, read_ratings

ROWS = np.array([0, 0, 1, 2, 2, 3])
COLS = np.array([0, 2, 1, 0, 3, 2])
VALUES = np.array([5.0, 3.0, 4.0, 1.0, 2.0, 4.5])


def problem(**kwargs) -> CompletionProblem:
    args = {"rows": ROWS, "cols": COLS, "values": VALUES, "shape": (4, 4), "rank": 2}
    args.update(kwargs)
    return CompletionProblem(**args)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rows": np.array([0, 0, 1, 2, 2, 0]), "cols": np.array([0, 2, 1, 0, 3, 2])}, r"entry \(0, 2\) is given more"),
        ({"rows": np.array([0, 0, 1, 2, 2, 4])}, r"rows: index 4 at position 5 is out of range \[0, 4\)"),
        ({"cols": np.array([0, 2, 1, 0, 3, -1])}, r"cols: index -1 .* out of range"),
        ({"values": np.array([5.0, 3.0, np.nan, 1.0, 2.0, 4.5])}, r"values: entry \(1, 1\) is nan"),
        ({"values": np.array([5.0, 3.0, np.inf, 1.0, 2.0, 4.5])}, r"values: entry \(1, 1\) is inf"),
        ({"rank": 4}, r"rank: 4 must be smaller than min\(m, n\) = 4"),
        ({"rank": 0}, r"rank: expected a positive integer"),
        ({"rank": 2.5}, r"rank: expected a positive integer"),
        ({"lam": -1.0}, r"lam: must be finite and >= 0"),
        ({"lam": np.nan}, r"lam: must be finite and >= 0"),
        ({"rows": np.array([0, 0.5, 1, 2, 2, 3])}, r"rows: index 0.5 at position 1 is not an integer"),
        ({"values": VALUES[:5]}, r"lengths differ"),
        ({"values": np.array(["a"] * 6)}, r"values: non-numeric"),
        ({"values": np.array([], dtype=float), "rows": [], "cols": []}, r"no observed entries"),
        ({"shape": (4, 0)}, r"shape: expected positive integers"),
        ({"val_rows": [1], "val_cols": [1], "val_values": [3.0]}, r"entry \(1, 1\) is both observed and held out"),
        ({"val_rows": [1], "val_cols": [3]}, r"give all three or none"),
        (
            {"val_rows": [1, 1], "val_cols": [3, 3], "val_values": [1.0, 2.0]},
            r"val_rows/val_cols: entry \(1, 3\) is given more",
        ),
        ({"biases": "yes"}, r"biases: expected true or false"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(change, message):
    with pytest.raises(dopt.ProblemError, match=message):
        problem(**change)


def test_entries_are_stored_row_major_with_csr_and_csc_views():
    p = problem(rows=ROWS[::-1], cols=COLS[::-1], values=VALUES[::-1])
    np.testing.assert_array_equal(p.rows, ROWS)
    np.testing.assert_array_equal(p.values, VALUES)
    csc = sp.csc_array(p.matrix())
    ptr, order = p.col_order
    np.testing.assert_array_equal(ptr, csc.indptr)
    np.testing.assert_array_equal(p.rows[order], csc.indices)
    np.testing.assert_array_equal(p.values[order], csc.data)
    np.testing.assert_array_equal(p.row_counts, [2, 1, 2, 1])
    np.testing.assert_array_equal(p.col_counts, [2, 1, 2, 1])


def test_csc_view_of_a_larger_random_pattern_matches_scipy():
    rng = np.random.default_rng(3)
    flat = rng.choice(300 * 200, size=5000, replace=False)
    rows, cols = np.divmod(flat, 200)
    cols[cols == 7] = 8  # one empty column (duplicates dropped below)
    flat = np.unique(rows * 200 + cols)
    p = CompletionProblem(flat // 200, flat % 200, rng.normal(size=flat.size), shape=(300, 200), rank=2)
    csc = sp.csc_array(p.matrix())
    csc.has_sorted_indices = False
    csc.sort_indices()
    ptr, order = p.col_order
    np.testing.assert_array_equal(ptr, csc.indptr)
    np.testing.assert_array_equal(p.rows[order], csc.indices)
    np.testing.assert_array_equal(p.values[order], csc.data)
    assert ptr[8] == ptr[7]


def test_shape_defaults_to_largest_index_and_summary_counts_empty_rows():
    p = CompletionProblem(ROWS, COLS, VALUES, rank=1, val_rows=[5], val_cols=[4], val_values=[3.0])
    assert p.shape == (6, 5)
    summary = p.summary()
    assert summary["empty rows/cols"] == "2/1" and summary["held out"] == 1 and summary["observed"] == 6


@pytest.mark.parametrize("method", ["completion.als", "completion.fast", "completion.svd"])
def test_empty_rows_get_zero_factors_and_bias_fallback(method):
    """Row 4 and column 4 have no entries: zero factors and biases, predictions mu + the other side's bias."""
    p = problem(shape=(5, 5), biases=True, lam=0.5, val_rows=[4, 1], val_cols=[1, 4], val_values=[3.0, 3.0])
    res = dopt.solve(p, method, seed=1)
    x = res.x
    assert np.all(x["U"][4] == 0) and x["row_bias"][4] == 0
    assert np.all(x["V"][4] == 0) and x["col_bias"][4] == 0
    assert x["mu"] == pytest.approx(VALUES.mean())
    np.testing.assert_allclose(predict(res, [4, 1], [1, 4]), [x["mu"] + x["col_bias"][1], x["mu"] + x["row_bias"][1]])
    assert res.extras["empty_rows"] == 1 and res.extras["empty_cols"] == 1
    assert np.isfinite(res.extras["val_rmse"])


def test_objective_and_rmse_match_a_direct_computation():
    rng = np.random.default_rng(0)
    p = problem(biases=True, lam=0.3, weighted_lambda=True)
    x = {"U": rng.normal(size=(4, 2)), "V": rng.normal(size=(4, 2)), "mu": 3.0}
    x["row_bias"], x["col_bias"] = rng.normal(size=4), rng.normal(size=4)
    pred = x["mu"] + x["row_bias"][:, None] + x["col_bias"][None, :] + x["U"] @ x["V"].T
    err = VALUES - pred[ROWS, COLS]
    counts = np.array([2, 1, 2, 1])
    penalty = counts @ ((x["U"] ** 2).sum(1) + x["row_bias"] ** 2) + counts @ (
        (x["V"] ** 2).sum(1) + x["col_bias"] ** 2
    )
    assert p.objective(x) == pytest.approx(err @ err + 0.3 * penalty, rel=1e-12)
    assert p.rmse(x) == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-12)
    np.testing.assert_allclose(predict(x, ROWS, COLS), pred[ROWS, COLS], rtol=1e-12)
    with pytest.raises(dopt.ProblemError, match="x: expected U"):
        p.check({"U": x["U"][:3], "V": x["V"]})
    with pytest.raises(dopt.ProblemError, match="out of range"):
        predict(x, [4], [0])


# ---------------------------------------------------------------- files
def write(folder, text: str) -> str:
    path = folder / "p.toml"
    path.write_text(text)
    return path


def test_csv_manifest_with_one_based_ids_and_validation_split(tmp_path):
    (tmp_path / "r.csv").write_text(
        "# user,item,rating\n" + "\n".join(f"{r + 1},{c + 1},{v}" for r, c, v in zip(ROWS, COLS, VALUES, strict=True))
    )
    path = write(
        tmp_path,
        'kind = "completion"\n[params]\nrank = 2\nlam = 0.1\nbiases = true\nindex_base = 1\n'
        'validation_fraction = 0.4\nsplit_seed = 3\n[data]\nratings = "r.csv"\n',
    )
    p = dopt.load(path)
    held = np.random.default_rng(3).random(6) < 0.4
    assert 0 < held.sum() < 6
    np.testing.assert_array_equal(np.sort(p.rows * 4 + p.cols), np.sort((ROWS * 4 + COLS)[~held]))
    np.testing.assert_array_equal(np.sort(p.val_values), np.sort(VALUES[held]))
    assert p.biases and p.lam == 0.1 and p.rank == 2


def test_matrix_market_manifest_keeps_explicit_zero_ratings(tmp_path):
    values = VALUES.copy()
    values[1] = 0.0
    scipy.io.mmwrite(tmp_path / "m.mtx", sp.coo_array((values, (ROWS, COLS)), shape=(4, 5)))
    val = np.array([[1, 0, 2.5], [3, 3, 1.0]])
    np.save(tmp_path / "val.npy", val)
    p = dopt.load(
        write(tmp_path, 'kind = "completion"\n[params]\nrank = 2\n[data]\nM = "m.mtx"\nvalidation = "val.npy"\n')
    )
    assert p.shape == (4, 5) and p.nnz == 6
    np.testing.assert_array_equal(p.values, values)
    np.testing.assert_array_equal(p.val_rows, [1, 3])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[data]\nratings = "r.npy"\nM = "r.npy"', "give exactly one of"),
        ('[params]\nsurprise = 1\n[data]\nratings = "r.npy"', r"unknown \['surprise'\]"),
        ('[params]\nm = 4\n[data]\nratings = "r.npy"', "give both m and n"),
        ('[params]\nindex_base = 2\n[data]\nratings = "r.npy"', "index_base must be 0 or 1"),
        ('[params]\nvalidation_fraction = 1.5\n[data]\nratings = "r.npy"', "validation_fraction must be in"),
        ('[data]\nratings = "bad.npy"', r"expected N rows of \(row, column, value\)"),
        ('[data]\nrows = "r.npy"', r"missing \['cols', 'values'\]"),
    ],
)
def test_bad_manifests_name_the_fault(tmp_path, text, message):
    np.save(tmp_path / "r.npy", np.column_stack([ROWS, COLS, VALUES]))
    np.save(tmp_path / "bad.npy", np.ones(3))
    with pytest.raises(dopt.DoptError, match=message):
        dopt.load(write(tmp_path, 'kind = "completion"\n' + text + "\n"))


def test_manifest_errors_for_duplicates_name_the_file(tmp_path):
    np.save(tmp_path / "r.npy", np.array([[0, 1, 3.0], [0, 1, 4.0], [1, 0, 2.0]]))
    with pytest.raises(dopt.ProblemError, match=r"p.toml: rows/cols: entry \(0, 1\) is given more than once"):
        dopt.load(write(tmp_path, 'kind = "completion"\n[params]\nrank = 1\n[data]\nratings = "r.npy"\n'))


def test_save_load_round_trip_and_npz_problem(tmp_path):
    p = problem(lam=0.2, biases=True, weighted_lambda=True, val_rows=[1, 3], val_cols=[3, 0], val_values=[2.0, 1.0])
    back = dopt.load(dopt.save(p, tmp_path / "q.toml"))
    for field in ("rows", "cols", "values", "val_rows", "val_cols", "val_values"):
        np.testing.assert_array_equal(getattr(back, field), getattr(p, field))
    assert (back.shape, back.rank, back.lam, back.biases, back.weighted_lambda) == (p.shape, 2, 0.2, True, True)
    np.savez(tmp_path / "s.npz", kind="completion", rows=ROWS, cols=COLS, values=VALUES, rank=2, biases=True)
    q = dopt.load(tmp_path / "s.npz")
    assert q.shape == (4, 4) and q.nnz == 6 and q.rank == 2 and q.biases


def test_result_with_factors_saves_and_loads(tmp_path):
    p = problem(biases=True, lam=0.1)
    res = dopt.solve(p, "completion.als")
    back = dopt.Result.load(res.save(tmp_path / "r.json"))
    np.testing.assert_array_equal(back.x["U"], res.x["U"])
    np.testing.assert_array_equal(predict(back, ROWS, COLS), predict(res, ROWS, COLS))
    assert len(back.history[0]) == 4  # (seconds, objective, train RMSE, validation RMSE)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n"),
        ("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"),
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n7,31,4.0,1\n"),
    ],
)
def test_movielens_formats_are_read_and_ids_remapped(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    users, items, ratings = read_ratings(path)
    assert ratings.size == 3 and users.size == 3
    p, user_ids, item_ids = load_movielens(path, rank=1, validation=0.0)
    np.testing.assert_array_equal(user_ids[p.rows] * 10**6 + item_ids[p.cols], np.sort(users * 10**6 + items))
    assert p.biases and p.weighted_lambda and p.shape == (np.unique(users).size, np.unique(items).size)


def test_unreadable_ratings_file_is_a_format_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("user,item,rating\n1,2,three\n")
    with pytest.raises(dopt.FormatError, match="expected user, item, rating"):
        read_ratings(path)


def test_generators_give_what_they_promise():
    problem, U, V = low_rank(300, 200, 4, 0.1, noise=0.0, seed=3, validation=0.2, lam=0.1)
    total = round(0.1 * 300 * 200)
    assert problem.nnz + problem.val_values.size == total and problem.val_values.size == round(0.2 * total)
    np.testing.assert_allclose(problem.values, np.einsum("tk,tk->t", U[problem.rows], V[problem.cols]), rtol=1e-12)
    assert problem.lam == 0.1 and problem.rank == 4
    ratings = rating_like(500, 400, ratings=20_000, seed=1)
    values = np.concatenate([ratings.values, ratings.val_values])
    assert set(np.unique(values)) <= {1.0, 2.0, 3.0, 4.0, 5.0} and ratings.biases
    counts = np.sort(ratings.row_counts)
    assert counts[-1] > 5 * np.median(counts)  # power-law activity: heavy users rate far more than the median
    assert 0.07 < ratings.val_values.size / values.size < 0.13


def test_generate_writes_the_generators_problem(tmp_path, capsys):
    out = tmp_path / "g.toml"
    argv = ["completion", "--m", "50", "--n", "40", "--rank", "3", "--density", "0.2", "--seed", "4", "--noise", "0.1"]
    assert generate.main([*argv, "--validation", "0.1", "-o", str(out)]) == 0
    loaded = dopt.load(out)
    want, _, _ = low_rank(50, 40, 3, 0.2, noise=0.1, seed=4, validation=0.1)
    for field in ("rows", "cols", "values", "val_rows", "val_cols", "val_values"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(want, field))
    assert loaded.defaults["method"] == "completion.als" and "wrote" in capsys.readouterr().out
    assert generate.main(["ratings", "--m", "60", "--n", "50", "--ratings", "900", "-o", str(out)]) == 0
    ratings = dopt.load(out)
    assert ratings.biases and ratings.weighted_lambda and ratings.val_values.size > 0


def test_docs_example_runs(tmp_path, monkeypatch):
    text = (Path(__file__).resolve().parents[1] / "docs" / "completion.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "docs/completion.md", "exec"), namespace)
    result, problem = namespace["result"], namespace["problem"]
    assert result.extras["val_rmse"] < 0.2 and namespace["scores"].shape == (3,)
    assert result.objective == problem.objective(result.x)
    assert dopt.load(tmp_path / "demo" / "ratings.toml").nnz == 4
