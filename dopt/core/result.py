"""The uniform result every method returns, and its JSON (+ NPZ) file form."""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dopt.core.errors import FormatError

STATUSES = ("optimal", "converged", "time_limit", "iteration_limit", "interrupted")
INLINE_LIMIT = 100_000  # arrays up to this many elements are written inline in the JSON


# extras worth a line of the summary when a method reports them: bounds and gaps, quality against a known truth
SUMMARY_EXTRAS = ("bound", "gap", "duality_gap", "shd", "tpr", "fdr", "rmse", "relative_error")


@dataclass
class Result:
    """What a solve returns: the best solution found and how it was found.

    ``history`` is a list of ``(seconds, objective, ...)`` points, one per
    improvement or progress report (a family may append its own measures,
    e.g. train and validation RMSE); ``extras`` holds family-specific facts
    (a proven lower ``bound``, recovery scores, ...).
    """

    x: Any
    objective: float
    status: str
    method: str
    device: str
    kind: str = ""
    iterations: int = 0
    wall_time: float = 0.0
    history: list[tuple[float, float]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        """True when ``x`` holds a candidate (every status dopt returns has one)."""
        return self.x is not None

    def time_to(self, target: float) -> float | None:
        """Seconds into the solve at which the objective first reached ``target`` or below; None if it never did."""
        for seconds, objective, *_ in self.history:
            if objective <= target:
                return seconds
        return None

    def summary(self) -> str:
        """One short human-readable paragraph."""
        lines = [
            f"objective  {self.objective:.10g}",
            f"status     {self.status}",
            f"method     {self.method}",
            f"device     {self.device}",
            f"time       {self.wall_time:.3f} s",
            f"iterations {self.iterations}",
        ]
        for key in SUMMARY_EXTRAS:
            value = self.extras.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                lines.append(f"{key:<10} {value:.10g}")
        return "\n".join(lines)

    def to_dict(self, sidecar: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
        """A JSON-ready dict; arrays above INLINE_LIMIT go to ``sidecar`` when given."""
        fields = {
            "kind": self.kind,
            "method": self.method,
            "device": self.device,
            "status": self.status,
            "objective": self.objective,
            "wall_time": self.wall_time,
            "iterations": self.iterations,
            "x": self.x,
            "history": [list(point) for point in self.history],
            "extras": self.extras,
        }
        return {key: _encode(value, key, sidecar) for key, value in fields.items()}

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON; large arrays go to ``<path>.npz`` beside it."""
        path = Path(path)
        sidecar: dict[str, np.ndarray] = {}
        payload = self.to_dict(sidecar)
        if sidecar:
            npz = path.with_name(path.name + ".npz")
            np.savez_compressed(npz, **sidecar)
            payload["arrays_file"] = npz.name
        path.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Result:
        """Read a result written by :meth:`save`."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path}: cannot read result ({exc})") from None
        if not isinstance(payload, dict):
            raise FormatError(f"{path}: a result file holds a JSON object, not {type(payload).__name__}")
        arrays: dict[str, np.ndarray] = {}
        if "arrays_file" in payload:
            sidecar = path.with_name(str(payload["arrays_file"]))
            try:
                with np.load(sidecar, allow_pickle=False) as npz:
                    arrays = {key: npz[key] for key in npz.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise FormatError(f"{sidecar}: cannot read the result's arrays ({exc})") from None
        try:
            decoded = {key: _decode(value, arrays) for key, value in payload.items()}
            return cls(
                x=decoded["x"],
                objective=decoded["objective"],
                status=decoded["status"],
                method=decoded["method"],
                device=decoded["device"],
                kind=decoded.get("kind", ""),
                iterations=decoded.get("iterations", 0),
                wall_time=decoded.get("wall_time", 0.0),
                history=[tuple(point) for point in decoded.get("history", [])],
                extras=decoded.get("extras", {}),
            )
        except KeyError as exc:
            raise FormatError(f"{path}: result has no field {exc}") from None


def _encode(value: Any, where: str, sidecar: dict[str, np.ndarray] | None) -> Any:
    """Turn numpy values into JSON; non-finite floats become strings ("inf", "nan")."""
    if isinstance(value, dict):
        return {str(k): _encode(v, f"{where}.{k}", sidecar) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}.{i}", sidecar) for i, v in enumerate(value)]
    if hasattr(value, "toarray") and hasattr(value, "tocoo"):  # scipy.sparse
        value = value.toarray()
    if isinstance(value, np.ndarray):
        if sidecar is not None and value.size > INLINE_LIMIT:
            sidecar[where] = value
            return {"__array_ref__": where}
        flat = [_encode(v, where, None) for v in value.ravel().tolist()]
        return {"__array__": flat, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array_ref__" in value:
        return arrays[value["__array_ref__"]]
    if "__array__" in value:
        items = [_decode(v, arrays) for v in value["__array__"]]
        return np.asarray(items, dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if "__float__" in value:
        return float(value["__float__"])
    return {k: _decode(v, arrays) for k, v in value.items()}
