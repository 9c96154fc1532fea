"""Problem files: save/load round trips, every array format, [solve] defaults, and fuzzed manifests."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dopt
from dopt.core import device
from dopt.core.errors import FormatError
from dopt.core.io import read_array
from dopt.dmmv import DMMVProblem

A = np.array([[1.0, -2.5, 0.0, 3.0], [0.0, 1.0, 1.0, 0.0], [2.0, 0.0, -1.0, 0.5]])
B = np.array([1.0, 2.0, -0.5])
DOMAIN = np.array([-1.0, 0.0, 0.5, 2.0])
PER_VARIABLE = np.array([[0.0, 1.0, np.nan], [-1.0, 0.0, 1.0], [3.0, np.nan, np.nan], [0.25, 0.5, 0.75]])


def dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def assert_same_problem(got: DMMVProblem, want: DMMVProblem) -> None:
    """Same data, storage, metadata and defaults (NaN padding and infinities compare equal)."""
    assert isinstance(got, DMMVProblem)
    assert got.is_sparse == want.is_sparse
    np.testing.assert_array_equal(dense(got.A), dense(want.A))
    for field in ("values", "lower", "upper", "weights"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    assert (got.name, got.description, got.defaults) == (want.name, want.description, want.defaults)


ROUND_TRIP_CASES = {
    "dense": DMMVProblem(A, DOMAIN, b=B, name="dense"),
    "sparse A": DMMVProblem(sp.csr_array(A), DOMAIN, b=B, name="sparse", description="CSR input"),
    "per-variable domains": DMMVProblem(A, PER_VARIABLE, b=B, name="padded"),
    "ranges with infinities": DMMVProblem(
        A, DOMAIN, lower=[-np.inf, 0.0, -1.0], upper=[1.0, np.inf, 2.0], name="ranges", description="two-sided"
    ),
    "weights and defaults": DMMVProblem(
        A,
        PER_VARIABLE,
        lower=B - 1,
        upper=B + 1,
        weights=[1.0, 2.0, 0.5],
        name="weighted",
        defaults={"method": "dmmv.round", "time_limit": 5.0, "seed": 3, "options": {"x": 1}},
    ),
}


@pytest.mark.parametrize("problem", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_save_then_load_is_identical(problem, tmp_path):
    path = dopt.save(problem, tmp_path / "p.toml")
    assert_same_problem(dopt.load(path), problem)
    assert all(entry.suffix in {".npy", ".npz", ".toml"} for entry in tmp_path.iterdir())


def test_save_refuses_other_suffixes(tmp_path):
    with pytest.raises(dopt.FormatError, match=r"\.toml"):
        dopt.save(ROUND_TRIP_CASES["dense"], tmp_path / "p.json")


def write_A(folder: Path, fmt: str) -> str:
    """Write matrix A in format ``fmt`` into ``folder`` and return its file name."""
    writers: dict[str, tuple[str, Callable[[Path], object]]] = {
        "npy": ("A.npy", lambda p: np.save(p, A)),
        "npz named": ("A.npz", lambda p: np.savez(p, other=np.eye(2), A=A)),
        "npz arr_0": ("A.npz", lambda p: np.savez(p, A)),
        "npz single": ("A.npz", lambda p: np.savez_compressed(p, matrix=A)),
        "npz scipy.sparse": ("A.npz", lambda p: sp.save_npz(p, sp.csr_matrix(A))),
        "mtx dense": ("A.mtx", lambda p: scipy.io.mmwrite(p, A)),
        "mtx sparse": ("A.mtx", lambda p: scipy.io.mmwrite(p, sp.coo_matrix(A))),
        "csv": ("A.csv", lambda p: np.savetxt(p, A, delimiter=",", header="the matrix")),
    }
    name, write = writers[fmt]
    write(folder / name)
    return name


@pytest.mark.parametrize(
    "fmt", ["npy", "npz named", "npz arr_0", "npz single", "npz scipy.sparse", "mtx dense", "mtx sparse", "csv"]
)
def test_every_array_format_reads_the_same_matrix(fmt, tmp_path):
    name = write_A(tmp_path, fmt)
    np.savetxt(tmp_path / "b.csv", B, delimiter=",")
    np.save(tmp_path / "values.npy", PER_VARIABLE)
    manifest = tmp_path / "p.toml"
    manifest.write_text(f'kind = "dmmv"\nname = "p"\n[data]\nA = "{name}"\nb = "b.csv"\nvalues = "values.npy"\n')
    want = sp.csr_array(A) if fmt in {"npz scipy.sparse", "mtx sparse"} else A
    assert_same_problem(dopt.load(manifest), DMMVProblem(want, PER_VARIABLE, b=B, name="p"))


def test_csv_per_variable_domains_with_nan_padding(tmp_path):
    np.savetxt(tmp_path / "values.csv", PER_VARIABLE, delimiter=",")
    np.save(tmp_path / "A.npy", A)
    (tmp_path / "p.toml").write_text('kind = "dmmv"\n[data]\nA = "A.npy"\nvalues = "values.csv"\nb = [1, 2, -0.5]\n')
    assert_same_problem(dopt.load(tmp_path / "p.toml"), DMMVProblem(A, PER_VARIABLE, b=B, name="p"))


def test_inline_toml_lists(tmp_path):
    (tmp_path / "inline.toml").write_text(
        'kind = "dmmv"\ndescription = "all inline"\n[data]\n'
        "A = [[1.0, -2.5, 0, 3], [0, 1, 1, 0], [2, 0, -1, 0.5]]\n"
        "values = [[0, 1, nan], [-1, 0, 1], [3, nan, nan], [0.25, 0.5, 0.75]]\n"
        "lower = [-inf, 0, -1]\nupper = [1, inf, 2]\nweights = 2\n"
    )
    want = DMMVProblem(
        A,
        PER_VARIABLE,
        lower=[-np.inf, 0, -1],
        upper=[1, np.inf, 2],
        weights=[2.0] * 3,
        name="inline",
        description="all inline",
    )
    assert_same_problem(dopt.load(tmp_path / "inline.toml"), want)


def test_self_contained_npz_dense_and_sparse(tmp_path):
    np.savez(tmp_path / "dense.npz", kind="dmmv", A=A, values=PER_VARIABLE, b=B)
    assert_same_problem(dopt.load(tmp_path / "dense.npz"), DMMVProblem(A, PER_VARIABLE, b=B, name="dense"))
    csr = sp.csr_array(A)
    entries = {"A.data": csr.data, "A.indices": csr.indices, "A.indptr": csr.indptr, "A.shape": np.array(A.shape)}
    np.savez(tmp_path / "sparse.npz", kind="dmmv", name="named", values=DOMAIN, b=B, **entries)
    got = dopt.load(tmp_path / "sparse.npz")
    assert_same_problem(got, DMMVProblem(csr, DOMAIN, b=B, name="named"))


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ({"A": A, "values": DOMAIN, "b": B}, "needs a 'kind' string entry"),
        ({"kind": np.array(["dmmv", "x"]), "A": A, "values": DOMAIN, "b": B}, "needs a 'kind' string entry"),
        ({"kind": "knapsack", "A": A}, "unknown kind 'knapsack'"),
        ({"kind": "dmmv", "A.data": np.ones(2), "A.indptr": np.array([0, 2])}, "sparse entry 'A'"),
        ({"kind": "dmmv", "A": np.array([[1.0, None]], dtype=object)}, "pickled"),
    ],
    ids=["no kind", "kind not a scalar", "unknown kind", "incomplete sparse", "pickled"],
)
def test_broken_self_contained_npz(entries, words, tmp_path):
    np.savez(tmp_path / "p.npz", **entries)
    with pytest.raises(dopt.FormatError, match=words):
        dopt.load(tmp_path / "p.npz")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("A.npz", b"PK\x03\x04 truncated zip", "cannot read"),
        ("A.npy", b"\x93NUMPY\x01\x00", "cannot read"),
        ("A.mtx", b"not matrix market\n", "cannot read"),
        ("A.csv", b"1,a\n2,3\n", "cannot read"),
    ],
)
def test_corrupt_array_files_are_format_errors(name, content, words, tmp_path):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "p.toml").write_text(f'kind = "dmmv"\n[data]\nA = "{name}"\nvalues = [0, 1]\nb = [1]\n')
    with pytest.raises(dopt.FormatError, match=words):
        dopt.load(tmp_path / "p.toml")


@pytest.mark.parametrize(
    ("relative", "words"),
    [
        ("", "empty path"),
        (".", "not found"),
        ("sub", "not found"),
        ("../outside.npy", "leaves the manifest's folder"),
        ("sub/../../outside.npy", "leaves the manifest's folder"),
        ("@ABS@", "absolute path"),
        ("A.npy\\u0000", "unusable path"),
        ("x" * 300 + ".npy", "unusable path"),
        ("x/" * 3000 + "A.npy", "unusable path"),
    ],
    ids=["empty", "dot", "folder", "parent", "parent via sub", "absolute", "NUL byte", "long name", "long path"],
)
def test_unusable_paths_are_format_errors(relative, words, tmp_path):
    folder = tmp_path / "problem"
    (folder / "sub").mkdir(parents=True)
    np.save(tmp_path / "outside.npy", A)
    np.save(folder / "A.npy", A)
    relative = relative.replace("@ABS@", str(folder / "A.npy"))
    (folder / "p.toml").write_text(f'kind = "dmmv"\n[data]\nA = "{relative}"\nvalues = [0, 1]\nb = [1, 2, 3]\n')
    with pytest.raises(dopt.FormatError, match=words):
        dopt.load(folder / "p.toml")


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "inside"
    folder.mkdir()
    np.save(tmp_path / "secret.npy", A)
    (folder / "A.npy").symlink_to(tmp_path / "secret.npy")
    (folder / "p.toml").write_text('kind = "dmmv"\n[data]\nA = "A.npy"\nvalues = [0, 1]\nb = [1, 2, 3]\n')
    with pytest.raises(dopt.FormatError, match="leaves the manifest's folder"):
        dopt.load(folder / "p.toml")


def test_pickled_npz_array_is_refused(tmp_path):
    np.savez(tmp_path / "A.npz", A=np.array([[1.0, None]], dtype=object))
    (tmp_path / "p.toml").write_text('kind = "dmmv"\n[data]\nA = "A.npz"\nvalues = [0, 1]\nb = [1]\n')
    with pytest.raises(dopt.FormatError, match="pickled"):
        dopt.load(tmp_path / "p.toml")


# --- [solve] defaults ---------------------------------------------------------------------------

SOLVE_TABLE = "[solve]\nmethod = 'tests.fake'\nseed = 7\ntime_limit = 30\noptions = {rounds = 2, pick = 'last'}\n"


@pytest.fixture
def file_with_defaults(fake_methods, tmp_path) -> Path:
    np.save(tmp_path / "A.npy", A)
    path = tmp_path / "p.toml"
    path.write_text(f'kind = "dmmv"\n[data]\nA = "A.npy"\nvalues = [-1, 0, 0.5, 2]\nb = [1, 2, -0.5]\n{SOLVE_TABLE}')
    return path


def test_solve_table_is_loaded_as_defaults(file_with_defaults):
    defaults = dopt.load(file_with_defaults).defaults
    assert defaults == {"method": "tests.fake", "seed": 7, "time_limit": 30, "options": {"rounds": 2, "pick": "last"}}


def test_solve_applies_the_file_defaults(file_with_defaults):
    result = dopt.solve(file_with_defaults)
    assert result.method == "tests.fake"
    assert result.extras["seed"] == 7
    assert result.extras["time_limit"] == 30.0
    assert result.extras["options"]["rounds"] == 2
    assert result.extras["options"]["pick"] == "last"
    assert result.iterations == 2


def test_arguments_override_the_file_defaults_one_by_one(file_with_defaults):
    result = dopt.solve(file_with_defaults, seed=1, time_limit=5, rounds=4)
    assert result.extras["seed"] == 1
    assert result.extras["time_limit"] == 5.0
    assert result.extras["options"]["rounds"] == 4
    assert result.extras["options"]["pick"] == "last"  # still from the file


def test_file_options_do_not_leak_into_another_method(file_with_defaults):
    result = dopt.solve(file_with_defaults, method="tests.gpu", device="cpu")
    assert result.method == "tests.gpu"
    assert result.extras["options"]["rounds"] == 3
    assert result.extras["seed"] == 7  # seed and time limit are not method options: they still apply


def test_file_device_is_honoured(fake_methods, tmp_path, monkeypatch):
    monkeypatch.setattr(device, "gpu_usable", lambda: False)
    path = tmp_path / "p.toml"
    path.write_text(
        'kind = "dmmv"\n[data]\nA = [[1, 2]]\nvalues = [0, 1]\nb = [1]\n'
        "[solve]\nmethod = 'tests.gpu'\ndevice = 'gpu'\n"
    )
    with pytest.raises(dopt.MethodError, match="no CUDA device"):
        dopt.solve(path)
    assert dopt.solve(path, device="cpu").device == "cpu"


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ("time_limit = -1", dopt.MethodError),
        ("seed = -2", dopt.MethodError),
        ("seed = 1.5", dopt.FormatError),
        ("options = 3", dopt.FormatError),
        ("method = ['a']", dopt.FormatError),
        ("colour = 'red'", dopt.FormatError),
    ],
)
def test_bad_solve_tables_are_reported(table, error, fake_methods, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(f'kind = "dmmv"\n[data]\nA = [[1, 2]]\nvalues = [0, 1]\nb = [1]\n[solve]\n{table}\n')
    with pytest.raises(error):
        dopt.solve(path, method="tests.fake")


def test_huge_integer_time_limit_means_no_limit(fake_methods, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(f'kind = "dmmv"\n[data]\nA = [[1, 2]]\nvalues = [0, 1]\nb = [1]\n[solve]\ntime_limit = {10**400}\n')
    assert dopt.solve(path, method="tests.fake").extras["time_limit"] is None


# --- fuzzing: whatever the manifest, load returns a valid problem or raises FormatError/ProblemError -------

SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 10**400])
NUMBERS = st.one_of(st.floats(-1e3, 1e3), st.integers(-5, 5), SPECIAL)
MOSTLY_FINITE = st.integers(0, 9).flatmap(lambda i: SPECIAL if i == 0 else st.floats(-5, 5))
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
SCALARS = st.one_of(NUMBERS, st.booleans(), TEXT)
VECTORS = st.lists(NUMBERS, max_size=5)
MATRICES = st.integers(0, 4).flatmap(lambda n: st.lists(st.lists(NUMBERS, min_size=n, max_size=n), max_size=4))
RAGGED = st.lists(VECTORS, max_size=4)
CUBES = st.lists(MATRICES, max_size=2)
TRICKY_PATHS = [
    "A.npy",
    "b.npy",
    "values.csv",
    "A.mtx",
    "sparse.npz",
    "pickled.npy",
    "garbage.npz",
    "empty.csv",
    "notes.txt",
    "../outside.npy",
    "sub/../A.npy",
    "/etc/hostname",
    "",
    ".",
    "missing.npy",
    "A.npy\x00",
    "x" * 300 + ".npy",
    "x/" * 3000 + "A.npy",
]
PATHS = st.integers(0, 2).flatmap(lambda i: TEXT if i == 0 else st.sampled_from(TRICKY_PATHS))
OTHER_ENTRIES = st.one_of(NUMBERS, VECTORS, MATRICES, RAGGED, CUBES, st.lists(SCALARS, max_size=3), st.booleans())
ENTRIES = st.booleans().flatmap(lambda path: PATHS if path else OTHER_ENTRIES)
JUNK = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(TEXT, SCALARS, max_size=2))
DATA_KEYS = st.sampled_from(["A", "values", "b", "lower", "upper", "weights", "c", ""])
SOLVE = st.dictionaries(st.sampled_from(["method", "time_limit", "seed", "device", "options", "x"]), JUNK, max_size=3)


@st.composite
def random_manifests(draw) -> dict:
    """Any mix of top-level keys with random values: mostly wrong."""
    presence = draw(st.integers(0, 7))  # 0: no kind, 1: a wrong kind, else dmmv
    manifest = {"kind": "dmmv" if presence > 1 else draw(JUNK)} if presence else {}
    optional = ["name", "description", "solve"] * 3 + ["params", "extra"]
    for key in draw(st.lists(st.sampled_from(optional), max_size=3)):
        manifest[key] = draw(SOLVE if key == "solve" else JUNK)
    manifest["data"] = draw(st.dictionaries(DATA_KEYS, ENTRIES, max_size=6) if draw(st.integers(0, 5)) else JUNK)
    return manifest


@st.composite
def near_valid_manifests(draw) -> dict:
    """Consistent shapes most of the time, with NaN/inf, empty sizes, off-by-one lengths and swapped entries."""
    sizes = st.sampled_from([1, 2, 3] * 5 + [0])
    m, n, k = draw(sizes), draw(sizes), draw(sizes)
    values = st.integers(0, 9).flatmap(lambda i: st.sampled_from([math.nan, math.inf]) if i < 2 else st.floats(-5, 5))
    length = st.sampled_from([m] * 6 + [m + 1, max(m - 1, 0)])
    data = {"A": draw(st.lists(st.lists(st.floats(-5, 5), min_size=n, max_size=n), min_size=m, max_size=m))}
    if draw(st.booleans()):
        data["values"] = draw(st.lists(values, min_size=k, max_size=k))
    else:
        data["values"] = draw(st.lists(st.lists(values, min_size=k, max_size=k), min_size=n, max_size=n))
    bounds = st.sampled_from([["b"]] * 3 + [["lower"], ["upper"], ["lower", "upper"]] * 2 + [["b", "upper"]])
    for key in draw(bounds) + draw(st.sampled_from([[], [], ["weights"]])):
        data[key] = draw(length.flatmap(lambda size: st.lists(MOSTLY_FINITE, min_size=size, max_size=size)))
    if draw(st.integers(0, 7)) == 0:
        data[draw(DATA_KEYS)] = draw(ENTRIES)
    manifest = {"kind": "dmmv", "data": data}
    if draw(st.integers(0, 3)) == 0:
        manifest["solve"] = draw(SOLVE)
    return manifest


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory) -> Path:
    """A folder holding one array file of every kind, good and bad, with a file just outside it."""
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "problem"
    (folder / "sub").mkdir(parents=True)
    np.save(root / "outside.npy", np.eye(2))
    np.save(folder / "A.npy", np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.save(folder / "b.npy", np.array([1.0, 2.0]))
    np.savetxt(folder / "values.csv", np.array([0.0, 1.0]), delimiter=",")
    scipy.io.mmwrite(folder / "A.mtx", sp.coo_matrix(np.eye(2)))
    sp.save_npz(folder / "sparse.npz", sp.csr_matrix(np.eye(2)))
    np.save(folder / "pickled.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    (folder / "garbage.npz").write_bytes(b"PK\x03\x04 not really")
    (folder / "empty.csv").write_text("")
    (folder / "notes.txt").write_text("1,2\n")
    return folder


def assert_valid_problem(problem: DMMVProblem) -> None:
    """The invariants a loaded DMMV problem promises to every method."""
    m, n = problem.shape
    assert m > 0 and n > 0
    assert np.isfinite(dense(problem.A)).all()
    for vector in (problem.lower, problem.upper, problem.weights):
        assert vector.shape == (m,)
        assert not np.isnan(vector).any()
    assert (problem.lower <= problem.upper).all()
    assert (problem.weights > 0).all() and np.isfinite(problem.weights).all()
    assert problem.values.shape[0] == n
    for row, size in zip(problem.values, problem.sizes, strict=True):
        assert size >= 1
        assert np.isfinite(row[:size]).all() and np.isnan(row[size:]).all()
        assert (np.diff(row[:size]) > 0).all()
    assert problem.objective(problem.value_of(np.zeros(n, dtype=np.int64))) >= 0


def load_or_reject(folder: Path, text: str | bytes) -> None:
    """Write ``text`` as a manifest and load it: only a valid problem or a dopt error may come out."""
    path = folder / "manifest.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    try:
        problem = dopt.load(path)
    except (dopt.FormatError, dopt.ProblemError) as exc:
        assert str(folder) in str(exc) or str(folder.resolve()) in str(exc), exc  # every error names the file
        return
    assert_valid_problem(problem)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(manifest=random_manifests())
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fuzzed_manifests_load_or_raise_dopt_errors(fuzz_folder, manifest):
    load_or_reject(fuzz_folder, tomli_w.dumps(manifest))


@FUZZ
@given(manifest=near_valid_manifests())
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fuzzed_near_valid_manifests_load_or_raise_dopt_errors(fuzz_folder, manifest):
    load_or_reject(fuzz_folder, tomli_w.dumps(manifest))


@settings(max_examples=60, deadline=None)
@given(raw=st.one_of(st.binary(max_size=80), TEXT.map(lambda s: f"kind = 'dmmv'\n{s}")))
def test_fuzzed_raw_bytes_load_or_raise_dopt_errors(fuzz_folder, raw):
    load_or_reject(fuzz_folder, raw)


def test_csv_with_a_header_line_of_names(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n1,2,4.5\n3,1,2.0\n")
    np.testing.assert_array_equal(read_array(path), [[1, 2, 4.5], [3, 1, 2.0]])


def test_matrix_market_repeated_entry_is_an_error(tmp_path):
    path = tmp_path / "m.mtx"
    path.write_text("%%MatrixMarket matrix coordinate real general\n2 2 3\n1 1 2.0\n2 2 1.0\n1 1 3.0\n")
    with pytest.raises(FormatError, match=r"entry \(1, 1\) appears more than once"):
        read_array(path)


def test_libsvm_file_gives_features_and_labels_by_key(tmp_path):
    path = tmp_path / "d.svm"
    path.write_text("1 1:0.5 3:2\n-1 2:1.5\n")
    X = read_array(path, "A")
    np.testing.assert_array_equal(X.toarray(), [[0.5, 0.0, 2.0], [0.0, 1.5, 0.0]])
    np.testing.assert_array_equal(read_array(path, "b"), [1.0, -1.0])
    np.testing.assert_array_equal(read_array(path, name="y"), [1.0, -1.0])
    with pytest.raises(FormatError, match="holds 'X' and 'y'"):
        read_array(path, "weights")


def test_manifest_reads_a_problem_from_a_libsvm_file():
    """problems/bcd/small-logistic.svm read through the {file, key} table equals the bundled .mtx data."""
    bundled = dopt.load(Path(__file__).parents[1] / "problems/bcd/small-logistic.toml")
    X = read_array(Path(__file__).parents[1] / "problems/bcd/small-logistic.svm", name="X")
    np.testing.assert_allclose(X.toarray(), sp.csr_array(bundled.A).toarray())


def test_bundled_problems_found_from_an_installed_copy_run_in_a_clone(tmp_path, monkeypatch):
    """An installed (non-editable) dopt finds the clone's problems/ from the current directory, else says why."""
    from dopt.core import io

    monkeypatch.setattr(io, "__file__", str(tmp_path / "site-packages" / "dopt" / "core" / "io.py"))
    clone = tmp_path / "clone"
    (clone / "problems" / "bcd").mkdir(parents=True)
    monkeypatch.chdir(clone)
    assert io.bundled_problems("bcd") == clone / "problems" / "bcd"
    with pytest.raises(FormatError, match=r"problems/quant.*root of a dopt clone"):
        io.bundled_problems("quant")
