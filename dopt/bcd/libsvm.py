"""LIBSVM / svmlight files into a BCDProblem (scikit-learn's C reader when installed, else a NumPy parser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dopt.bcd.problem import BCDProblem
from dopt.core.errors import FormatError
from dopt.core.libsvm import LIBSVM_SUFFIXES as CORE_SUFFIXES
from dopt.core.libsvm import parse_libsvm, read_libsvm

__all__ = ["LIBSVM_SUFFIXES", "load_libsvm", "parse_libsvm", "read_libsvm"]

LIBSVM_SUFFIXES = (*CORE_SUFFIXES, ".txt")


def load_libsvm(path: str | Path, loss: str = "logistic", **params: Any) -> BCDProblem:
    """A BCDProblem from a LIBSVM file; binary labels are mapped to -1/1 for logistic, classes to 0..K-1."""
    X, y = read_libsvm(path)
    if loss == "logistic":
        values = np.unique(y)
        if values.size != 2:
            raise FormatError(f"{path}: logistic needs two label values, found {values.size}")
        y = np.where(y == values[1], 1.0, -1.0)
    elif loss == "multinomial":
        y = np.unique(y, return_inverse=True)[1].astype(np.float64)
    return BCDProblem(loss=loss, A=X, b=y, name=Path(path).stem, **params)
