"""Problem files: TOML manifests with array files beside them, or one ``.npz``.

Loading never unpickles or executes anything, refuses absolute paths and
paths that leave the manifest's folder, and reports every problem as a
FormatError (the file is unreadable) or ProblemError (the data is invalid)
that names the file and the field.
"""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import scipy.sparse as sp

from dopt.core.errors import DoptError, FormatError, MethodError
from dopt.core.libsvm import LIBSVM_SUFFIXES, read_libsvm
from dopt.core.problem import Problem
from dopt.core.registry import kinds, problem_class

ARRAY_SUFFIXES = (".npy", ".npz", ".mtx", ".csv", ".safetensors", *LIBSVM_SUFFIXES)
MANIFEST_KEYS = {"kind", "name", "description", "params", "data", "solve"}
SOLVE_TYPES = {"method": str, "time_limit": (int, float), "seed": int, "device": str, "options": dict}


def bundled_problems(family: str) -> Path:
    """The folder of a family's bundled problem files: the source checkout's, else ``./problems`` (a clone's root).

    The files sit in the repository, not in the installed package, so an installed dopt finds them when run from
    the clone it was installed from.
    """
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        folder = root / "problems" / family
        if folder.is_dir():
            return folder
    raise FormatError(f"problems/{family}: bundled problem files not found; run from the root of a dopt clone")


def load(path: str | Path, kind: str | None = None, **params: Any) -> Problem:
    """Read a problem file (``.toml`` manifest or self-contained ``.npz``).

    With ``kind``, read instead one data file in that family's own format (LIBSVM for ``bcd``), with ``params``
    playing the part of a manifest's ``[params]`` table.
    """
    path = Path(path)
    try:
        exists = path.is_file()
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot open ({exc})") from None
    if not exists:
        raise FormatError(f"{path}: no such file")
    if kind is not None:
        return _load_data_file(path, kind, params)
    if params:
        raise FormatError(f"{path}: params {sorted(params)} are only read with a kind (a data file, not a manifest)")
    if path.suffix == ".npz":
        return _load_npz_problem(path)
    if path.suffix != ".toml":
        raise FormatError(f"{path}: unknown problem file type {path.suffix!r}; use a .toml manifest or .npz")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read ({exc})") from None
    try:
        manifest = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"{path}: invalid TOML ({exc})") from None
    return _from_manifest(manifest, path)


def _load_data_file(path: Path, kind: str, params: dict[str, Any]) -> Problem:
    """A problem of ``kind`` from one data file, through the family's ``from_file``."""
    if path.suffix == ".toml":
        raise FormatError(f"{path}: a manifest names its own kind and params; load it without a kind")
    if not isinstance(kind, str) or not _is_kind(kind):
        raise FormatError(f"unknown kind {kind!r}; known kinds: {', '.join(sorted(kinds()))}")
    return problem_class(kind).from_file(path, **params)


def _is_kind(kind: str) -> bool:
    """True when ``kind`` names a registered problem kind (importing only its own family)."""
    try:
        problem_class(kind)
    except MethodError:
        return False
    return True


def _from_manifest(manifest: dict[str, Any], path: Path) -> Problem:
    unknown = set(manifest) - MANIFEST_KEYS
    if unknown:
        raise FormatError(f"{path}: unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(MANIFEST_KEYS)}")
    kind = manifest.get("kind")
    if kind is None:
        raise FormatError(f"{path}: missing 'kind' (one of {', '.join(sorted(kinds()))})")
    if not isinstance(kind, str) or not _is_kind(kind):
        raise FormatError(f"{path}: unknown kind {kind!r}; known kinds: {', '.join(sorted(kinds()))}")
    params = _table(manifest, "params", path)
    raw_data = _table(manifest, "data", path)
    defaults = _solve_defaults(_table(manifest, "solve", path), path)
    data = {key: _read_entry(value, key, path) for key, value in raw_data.items()}
    info = {
        "name": str(manifest.get("name", path.stem)),
        "description": str(manifest.get("description", "")),
        "defaults": defaults,
    }
    return _build(problem_class(kind), params, data, info, path)


def _build(cls: type[Problem], params: dict, data: dict, info: dict, path: Path) -> Problem:
    try:
        return cls.from_data(params, data, **info)
    except DoptError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def _table(manifest: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = manifest.get(key, {})
    if not isinstance(value, dict):
        raise FormatError(f"{path}: '{key}' must be a table")
    return value


def _solve_defaults(table: dict[str, Any], path: Path) -> dict[str, Any]:
    unknown = set(table) - set(SOLVE_TYPES)
    if unknown:
        raise FormatError(f"{path}: unknown [solve] key(s) {sorted(unknown)}; allowed: {sorted(SOLVE_TYPES)}")
    for key, value in table.items():
        if not isinstance(value, SOLVE_TYPES[key]):
            raise FormatError(f"{path}: [solve] {key} has the wrong type ({type(value).__name__})")
    return dict(table)


def _read_entry(value: Any, key: str, manifest: Path) -> Any:
    """A ``[data]`` entry: a path to an array file, a ``{file, key}`` table, an inline list, or a number.

    The table form names one array of a file holding several: ``key`` is the
    array's name in an ``.npz`` or the tensor's name in a ``.safetensors``.
    """
    if isinstance(value, str):
        return read_array(_safe_path(value, key, manifest), key)
    if isinstance(value, dict):
        unknown = set(value) - {"file", "key"}
        if unknown or not isinstance(value.get("file"), str) or not isinstance(value.get("key", ""), str):
            raise FormatError(f'{manifest}: data \'{key}\' table must be {{ file = "path", key = "name" }}')
        return read_array(_safe_path(value["file"], key, manifest), key, name=value.get("key"))
    if isinstance(value, bool):
        raise FormatError(f"{manifest}: data '{key}' must be an array, a number or a file path, not a boolean")
    if isinstance(value, (int, float)):
        try:
            return np.float64(value)
        except OverflowError:
            raise FormatError(f"{manifest}: data '{key}' is out of floating-point range") from None
    if isinstance(value, list):
        try:
            return np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise FormatError(f"{manifest}: data '{key}' is not a rectangular numeric array") from None
    raise FormatError(f"{manifest}: data '{key}' must be a file path or an inline list")


def _safe_path(relative: str, key: str, manifest: Path) -> Path:
    """Resolve ``relative`` against the manifest's folder, refusing anything outside it."""
    if not relative:
        raise FormatError(f"{manifest}: data '{key}' has an empty path")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise FormatError(f"{manifest}: data '{key}' uses an absolute path {relative!r}; paths must be relative")
    folder = manifest.resolve().parent
    try:
        resolved = (folder / candidate).resolve()
        inside = resolved.is_relative_to(folder)
        exists = inside and resolved.is_file()
    except (OSError, ValueError) as exc:  # embedded NUL, name too long, ...
        raise FormatError(f"{manifest}: data '{key}' has an unusable path {relative!r} ({exc})") from None
    if not inside:
        raise FormatError(f"{manifest}: data '{key}' path {relative!r} leaves the manifest's folder")
    if not exists:
        raise FormatError(f"{manifest}: data '{key}' file {relative!r} not found")
    return resolved


def read_array(path: Path, key: str = "", name: str | None = None) -> np.ndarray | sp.sparray:
    """Read one array file (.npy, .npz, .mtx, .csv, .safetensors, LIBSVM) without unpickling anything.

    ``name`` picks one array of an ``.npz`` or one tensor of a ``.safetensors``
    file; without it the file's only array, or the one named ``key``, is read.
    """
    where = f"{path}" + (f" (data '{key}')" if key else "")
    suffix = path.suffix.lower()
    if name is not None and suffix not in (".npz", ".safetensors", *LIBSVM_SUFFIXES):
        raise FormatError(f"{where}: 'key' selects an array only in .npz, .safetensors and LIBSVM files")
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            return _read_npz_array(path, key, name)
        if suffix == ".safetensors":
            return _read_safetensors_array(path, key, name)
        if suffix == ".mtx":
            return _read_mtx(path, where)
        if suffix in LIBSVM_SUFFIXES:
            return _read_libsvm_part(path, key, name)
        if suffix == ".csv":
            skip = 1 if _has_header(path) else 0
            return np.loadtxt(path, delimiter=",", comments="#", dtype=np.float64, ndmin=1, skiprows=skip)
    except FormatError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise FormatError(f"{where}: holds pickled objects, which dopt never loads") from None
        raise FormatError(f"{where}: cannot read ({exc})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise FormatError(f"{where}: cannot read ({exc})") from None
    raise FormatError(f"{where}: unknown array file type {suffix!r}; use one of {', '.join(ARRAY_SUFFIXES)}")


def _read_libsvm_part(path: Path, key: str, name: str | None) -> np.ndarray | sp.sparray:
    """The features ``X`` (key X or A) or the labels ``y`` (key y or b) of a LIBSVM file."""
    part = name if name is not None else {"A": "X", "b": "y"}.get(key, key)
    if part not in ("X", "y"):
        raise FormatError(f"{path}: a LIBSVM file holds 'X' and 'y'; name one with {{ file, key }}, not {part!r}")
    X, y = read_libsvm(path)
    return X if part == "X" else y


def _read_mtx(path: Path, where: str) -> np.ndarray | sp.sparray:
    """A Matrix Market file; a repeated coordinate is an error (converting would silently add them up)."""
    loaded = scipy.io.mmread(path)
    if not sp.issparse(loaded):
        return np.asarray(loaded)
    coo = sp.coo_array(loaded)
    flat = coo.row.astype(np.int64) * coo.shape[1] + coo.col
    if np.unique(flat).size < flat.size:
        first = flat[np.flatnonzero(np.diff(np.sort(flat)) == 0)[0]]
        row, col = divmod(int(first), coo.shape[1])
        raise FormatError(f"{where}: entry ({row + 1}, {col + 1}) appears more than once")
    return sp.csr_array(coo)


def _has_header(path: Path) -> bool:
    """True when the first non-comment line of a CSV file is all text (column names), no number."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip() and not line.lstrip().startswith("#"):
                return not any(_is_number(field) for field in line.split(","))
    return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_npz_array(path: Path, key: str, name: str | None = None) -> np.ndarray | sp.sparray:
    with np.load(path, allow_pickle=False) as npz:
        files = set(npz.files)
        if name is not None:
            if name in files:
                return npz[name]
            raise FormatError(f"{path}: .npz has no array {name!r}; it holds {sorted(files)}")
        if {"format", "shape", "data"} <= files:
            return sp.csr_array(sp.load_npz(path))
        for candidate in (key, "arr_0"):
            if candidate in files:
                return npz[candidate]
        if len(files) == 1:
            return npz[files.pop()]
    raise FormatError(f"{path}: .npz holds {sorted(files)}; expected one array, or one named {key!r}")


def _read_safetensors_array(path: Path, key: str, name: str | None) -> np.ndarray:
    """The tensor ``name`` (or the file's only tensor, or the one named ``key``) of a safetensors file."""
    from dopt.core import safetensors

    if name is None:
        names = safetensors.tensor_names(path)
        name = names[0] if len(names) == 1 else key if key in names else None
        if name is None:
            shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
            raise FormatError(f"{path}: holds {len(names)} tensors; name one with {{ file, key }} ({shown})")
    return safetensors.read_tensor(path, name)


def _load_npz_problem(path: Path) -> Problem:
    """A self-contained ``.npz``: a ``kind`` string entry plus the data arrays."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            entries = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise FormatError(f"{path}: holds pickled objects, which dopt never loads") from None
        raise FormatError(f"{path}: cannot read ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FormatError(f"{path}: cannot read ({exc})") from None
    kind_entry = entries.pop("kind", None)
    if kind_entry is None or kind_entry.ndim != 0 or kind_entry.dtype.kind != "U":
        raise FormatError(f"{path}: a problem .npz needs a 'kind' string entry")
    kind = str(kind_entry)
    if not _is_kind(kind):
        raise FormatError(f"{path}: unknown kind {kind!r}; known kinds: {', '.join(sorted(kinds()))}")
    name = str(entries.pop("name", path.stem))
    data = _merge_sparse_entries(entries, path)
    return _build(problem_class(kind), {}, data, {"name": name, "description": "", "defaults": {}}, path)


def _merge_sparse_entries(entries: dict[str, np.ndarray], path: Path) -> dict[str, Any]:
    """Entries ``X.data``, ``X.indices``, ``X.indptr``, ``X.shape`` become one CSR array ``X``."""
    data: dict[str, Any] = {}
    sparse_names = {k.rsplit(".", 1)[0] for k in entries if k.endswith(".indptr")}
    for name in sparse_names:
        try:
            data[name] = sp.csr_array(
                (entries.pop(f"{name}.data"), entries.pop(f"{name}.indices"), entries.pop(f"{name}.indptr")),
                shape=tuple(int(v) for v in entries.pop(f"{name}.shape")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{path}: sparse entry {name!r} is incomplete or inconsistent ({exc})") from None
    data.update(entries)
    return data


def save(problem: Problem, path: str | Path) -> Path:
    """Write ``problem`` as a TOML manifest plus one array file per data entry beside it.

    Arrays go to ``<stem>.<field>.npy`` (dense) or ``<stem>.<field>.npz`` (sparse);
    :func:`load` reads the result back identically.
    """
    import tomli_w

    path = Path(path)
    if path.suffix != ".toml":
        raise FormatError(f"{path}: problem manifests end in .toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    params, data = problem.to_data()
    entries: dict[str, str] = {}
    for key, value in data.items():
        if sp.issparse(value):
            target = path.with_name(f"{path.stem}.{key}.npz")
            sp.save_npz(target, sp.csr_matrix(value), compressed=True)
        else:
            target = path.with_name(f"{path.stem}.{key}.npy")
            np.save(target, np.asarray(value), allow_pickle=False)
        entries[key] = target.name
    manifest: dict[str, Any] = {"kind": problem.kind, "name": problem.name}
    if problem.description:
        manifest["description"] = problem.description
    if params:
        manifest["params"] = params
    manifest["data"] = entries
    if problem.defaults:
        manifest["solve"] = problem.defaults
    path.write_text(tomli_w.dumps(manifest))
    return path
