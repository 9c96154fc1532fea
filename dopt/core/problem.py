"""The base every family's problem dataclass derives from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from dopt.core.errors import FormatError, ProblemError


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A validated, immutable problem instance of one family (``kind``).

    Subclasses add their arrays as fields, validate them in ``__post_init__``
    (raising :class:`~dopt.ProblemError`) and implement the methods below.
    ``defaults`` holds the ``[solve]`` table of the file it came from.
    """

    kind: ClassVar[str] = ""
    name: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def objective(self, x: Any) -> float:
        """The objective value of candidate ``x``."""
        raise NotImplementedError

    def check(self, x: Any) -> None:
        """Raise ProblemError unless ``x`` is a feasible candidate."""
        raise NotImplementedError

    @classmethod
    def from_data(cls, params: dict[str, Any], data: dict[str, Any], **info: Any) -> Problem:
        """Build the problem from a manifest's ``[params]`` and loaded ``[data]``."""
        raise NotImplementedError

    @classmethod
    def from_file(cls, path: Path, **params: Any) -> Problem:
        """Build the problem from one data file in the family's own format and ``[params]`` values (no manifest)."""
        raise FormatError(
            f"{path}: kind {cls.kind!r} does not read data files directly; write a .toml manifest that names them"
        )

    def to_data(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``(params, data)`` pair that :meth:`from_data` reads back identically."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """A few facts about the instance (sizes, density), for ``dopt check``."""
        return {"kind": self.kind, "name": self.name}


def float_array(value: Any, field_name: str) -> np.ndarray:
    """``value`` as a float64 array; ProblemError for anything but real numbers (complex, dates, text)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ProblemError(f"{field_name}: not a numeric array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        what = "complex" if arr.dtype.kind == "c" else f"non-numeric ({arr.dtype})"
        raise ProblemError(f"{field_name}: {what} values; expected real numbers")
    return arr.astype(np.float64, copy=False)


def float_vector(value: Any, field_name: str, length: int | None = None) -> np.ndarray:
    """``value`` as a 1-D float64 array, checked for length; NaN is always refused."""
    arr = float_array(value, field_name)
    if arr.ndim == 0 and length is not None:
        arr = np.full(length, float(arr))
    if arr.ndim != 1:
        raise ProblemError(f"{field_name}: expected a 1-D array, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ProblemError(f"{field_name}: expected length {length}, got {arr.shape[0]}")
    if np.isnan(arr).any():
        raise ProblemError(f"{field_name}: contains NaN at index {int(np.flatnonzero(np.isnan(arr))[0])}")
    return arr


def require_finite(array: Any, field: str, *, allow_inf: bool = False) -> None:
    """ProblemError if ``array`` holds NaN (or infinities unless ``allow_inf``)."""
    values = array.data if sp.issparse(array) else np.asarray(array)
    bad = np.isnan(values) if allow_inf else ~np.isfinite(values)
    if bad.any():
        what = "NaN" if allow_inf else "NaN or infinite values"
        raise ProblemError(f"{field}: contains {what}")


def check_keys(table: str, given: Any, allowed: Any, kind: str) -> None:
    """FormatError naming the entries of a manifest table (``params`` or ``data``) that ``kind`` does not read."""
    unknown = set(given) - set(allowed)
    if unknown:
        raise FormatError(f"{table}: unknown entries {sorted(unknown)}; {kind} reads {sorted(allowed)}")
