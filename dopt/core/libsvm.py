"""LIBSVM / svmlight files: scikit-learn's C reader when installed, else a NumPy parser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from dopt.core.errors import FormatError

LIBSVM_SUFFIXES = (".svm", ".svmlight", ".libsvm")


def read_libsvm(path: str | Path, n_features: int | None = None) -> tuple[sp.csr_array, np.ndarray]:
    """(X, y) from a LIBSVM file: ``label index:value ...`` per line, 1-based indices, ``#`` comments."""
    path = Path(path)
    try:
        from sklearn.datasets import load_svmlight_file
    except ImportError:
        return parse_libsvm(path, n_features)
    try:
        X, y = load_svmlight_file(str(path), n_features=n_features, dtype=np.float64)
    except (ValueError, OSError) as exc:
        raise FormatError(f"{path}: not a LIBSVM file ({exc})") from None
    return sp.csr_array(X), np.asarray(y, dtype=np.float64)


def parse_libsvm(path: Path, n_features: int | None = None) -> tuple[sp.csr_array, np.ndarray]:
    """The pure-NumPy reader (no scikit-learn): same result as sklearn's for 1-based files."""
    labels: list[float] = []
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        try:
            labels.append(float(fields[0]))
            pairs = [f.split(":", 1) for f in fields[1:] if not f.startswith("qid:")]
            idx = np.array([int(i) for i, _ in pairs], dtype=np.int64) - 1
            val = np.array([float(v) for _, v in pairs], dtype=np.float64)
        except ValueError as exc:
            raise FormatError(f"{path}:{number}: not a LIBSVM line ({exc})") from None
        if (idx < 0).any() or (np.diff(idx) <= 0).any():
            raise FormatError(f"{path}:{number}: feature indices must be >= 1 and increasing")
        rows.append(np.full(idx.size, len(labels) - 1))
        cols.append(idx)
        vals.append(val)
    if not labels:
        raise FormatError(f"{path}: no samples")
    col = np.concatenate(cols)
    p = int(col.max(initial=-1)) + 1
    if n_features is not None:
        if p > n_features:
            raise FormatError(f"{path}: feature index {p} exceeds n_features={n_features}")
        p = n_features
    X = sp.csr_array((np.concatenate(vals), (np.concatenate(rows), col)), shape=(len(labels), p))
    X.sum_duplicates()
    return X, np.asarray(labels)
