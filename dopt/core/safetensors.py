"""Reading and writing ``.safetensors`` files with NumPy alone (no torch, no code execution).

The format is an 8-byte little-endian header length, a JSON header mapping
tensor names to ``{"dtype", "shape", "data_offsets"}`` (and an optional
``__metadata__`` table of strings), then the raw little-endian tensor bytes.
bfloat16 tensors are widened to float32 on reading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dopt.core.errors import FormatError

DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}
NAMES = {np.dtype(v).str: k for k, v in DTYPES.items()} | {np.dtype("?").str: "BOOL"}
MAX_HEADER = 100 * 2**20  # the format's own limit on the JSON header


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The JSON header (tensor entries and ``__metadata__``) and the offset where the data starts."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise FormatError(f"{path}: not a safetensors file (shorter than 8 bytes)")
            size = int.from_bytes(head, "little")
            if size > MAX_HEADER:
                raise FormatError(f"{path}: not a safetensors file (header of {size} bytes)")
            raw = f.read(size)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc})") from None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: not a safetensors file (bad header: {exc})") from None
    if len(raw) < size or not isinstance(header, dict):
        raise FormatError(f"{path}: not a safetensors file (truncated or malformed header)")
    return header, 8 + size


def tensor_names(path: str | Path) -> list[str]:
    """Names of the tensors stored in a safetensors file."""
    header, _ = read_header(Path(path))
    return [name for name in header if name != "__metadata__"]


def read_tensor(path: str | Path, name: str | None = None) -> np.ndarray:
    """One tensor of a safetensors file (the only one when ``name`` is None), as a NumPy array."""
    path = Path(path)
    header, start = read_header(path)
    names = [n for n in header if n != "__metadata__"]
    if name is None:
        if len(names) != 1:
            raise FormatError(f"{path}: holds {len(names)} tensors; name one of them ({', '.join(names[:8])} ...)")
        name = names[0]
    if name not in names:
        shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
        raise FormatError(f"{path}: no tensor named {name!r}; tensors: {shown}")
    entry = header[name]
    try:
        kind, shape, (begin, end) = entry["dtype"], [int(d) for d in entry["shape"]], entry["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"{path}: tensor {name!r} has a malformed header entry") from None
    if kind == "BF16":
        itemsize, dtype = 2, np.dtype("<u2")
    elif kind in DTYPES:
        dtype = np.dtype(DTYPES[kind])
        itemsize = dtype.itemsize
    else:
        raise FormatError(f"{path}: tensor {name!r} has unsupported dtype {kind!r}")
    count = int(np.prod(shape, dtype=np.int64))
    if begin < 0 or end < begin or end - begin != count * itemsize or any(d < 0 for d in shape):
        raise FormatError(f"{path}: tensor {name!r} has inconsistent offsets for shape {shape}")
    try:
        with open(path, "rb") as f:
            f.seek(start + begin)
            raw = f.read(end - begin)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc})") from None
    if len(raw) != end - begin:
        raise FormatError(f"{path}: truncated data for tensor {name!r}")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    if kind == "BF16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(array.dtype.newbyteorder("="), copy=True)


def read_all(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file by name."""
    return {name: read_tensor(path, name) for name in tensor_names(path)}


def write(path: str | Path, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (C-ordered little-endian copies) as a safetensors file."""
    path = Path(path)
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, value in tensors.items():
        array = np.ascontiguousarray(value)
        key = array.dtype.newbyteorder("<").str if array.dtype.kind != "b" else "|b1"
        if key not in NAMES:
            raise FormatError(f"{path}: tensor {name!r} has dtype {array.dtype}, which safetensors cannot hold")
        blob = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": NAMES[key], "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    return path
