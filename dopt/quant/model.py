"""Quantizing a whole model: every linear layer, one layer-wise problem each.

:func:`quantize_layers` takes each layer's W and calibration inputs (X or Σ,
from any forward pass) and solves them one after the other with a progress
line per layer; :func:`quantize_bert` computes the inputs of a BERT encoder
itself with the NumPy forward pass of :mod:`dopt.quant.bert`, block by block
and sub-layer by sub-layer (q/k/v, attention output, FFN up, FFN down), each
from the model with the earlier layers already quantized, as GPTQ's
"true sequential" mode does. :meth:`QuantizedModel.save` writes the quantized
weights as ``.safetensors`` (dequantized weights plus codes, scales,
zero-points and outliers) and a JSON report of the per-layer errors.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dopt.core import safetensors
from dopt.core.result import Result
from dopt.core.solve import solve
from dopt.quant.bert import LINEAR_SUFFIXES, BertEncoder, batches
from dopt.quant.problem import QuantProblem

# GPTQ's "true sequential" groups of a BERT block: each group's inputs come from the model
# with the earlier groups already quantized
SEQUENTIAL_GROUPS = (
    ("attention.self.query", "attention.self.key", "attention.self.value"),
    ("attention.output.dense",),
    ("intermediate.dense",),
    ("output.dense",),
)


@dataclass
class QuantizedModel:
    """The quantized layers of a model: dequantized weights, and the Result of every layer."""

    weights: dict[str, np.ndarray] = field(default_factory=dict)  # "<layer>.weight" -> dequantized float32
    results: dict[str, Result] = field(default_factory=dict)  # "<layer>" -> its Result
    settings: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """Settings and per-layer facts (shape, errors, time) as plain JSON-ready data."""
        layers = []
        for name, result in self.results.items():
            entry = {
                "layer": name,
                "shape": list(result.x.shape),
                "method": result.method,
                "status": result.status,
                "relative_error": result.extras.get("relative_error"),
                "heldout_relative_error": result.extras.get("heldout_relative_error"),
                "objective": result.objective,
                "wall_time": result.wall_time,
            }
            if "outlier_values" in result.extras:
                entry["outliers"] = int(np.size(result.extras["outlier_values"]))
            layers.append(entry)
        return {**self.settings, "layers": layers}

    def tensors(self) -> dict[str, np.ndarray]:
        """Everything :meth:`save` writes: the weights, and per layer its codes, scales, zero-points, groups."""
        out: dict[str, np.ndarray] = {}
        for name, result in self.results.items():
            e = result.extras
            out[f"{name}.weight"] = self.weights[f"{name}.weight"]
            out[f"{name}.codes"] = np.asarray(e["codes"], dtype=np.uint8)
            out[f"{name}.scale"] = np.asarray(e["scale"], dtype=np.float32)
            out[f"{name}.zero"] = np.asarray(e["zero"], dtype=np.uint8)
            out[f"{name}.g_idx"] = np.asarray(e["gidx"], dtype=np.int32)
            if "outlier_values" in e:
                out[f"{name}.outlier_rows"] = np.asarray(e["outlier_rows"], dtype=np.int32)
                out[f"{name}.outlier_cols"] = np.asarray(e["outlier_cols"], dtype=np.int32)
                out[f"{name}.outlier_values"] = np.asarray(e["outlier_values"], dtype=np.float32)
        return out

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``path`` (.safetensors) and the report beside it (same stem, .json)."""
        path = Path(path)
        metadata = {"format": "dopt.quant", "settings": json.dumps(self.settings)}
        tensors = safetensors.write(path, self.tensors(), metadata=metadata)
        report = path.with_suffix(".json")
        report.write_text(json.dumps(self.report(), indent=1) + "\n")
        return tensors, report


def _progress_line(i: int, total: int, name: str, result: Result) -> None:
    held = result.extras.get("heldout_relative_error")
    held_text = "" if held is None else f", held-out {held:.4g}"
    q, p = result.x.shape
    print(
        f"[{i}/{total}] {name} ({q} x {p}): relative error {result.extras['relative_error']:.4g}{held_text}"
        f" in {result.wall_time:.2f} s",
        file=sys.stderr,
        flush=True,
    )


def _solve_layer(
    name: str, W: np.ndarray, inputs: Mapping[str, Any], method: str, params: Mapping[str, Any], options: Mapping
) -> Result:
    problem = QuantProblem(W=W, name=name, **inputs, **params)
    return solve(problem, method, **options)


def quantize_layers(
    layers: Iterable[tuple[str, np.ndarray, Mapping[str, Any]]],
    method: str = "quant.quantease",
    *,
    bits: int = 4,
    sym: bool = False,
    group_size: int = 0,
    clip: bool = False,
    outliers: float = 0,
    damping: float = 0.01,
    options: Mapping[str, Any] | None = None,
    progress: bool | Callable[[int, int, str, Result], None] = True,
) -> QuantizedModel:
    """Quantize every layer of ``layers``: ``(name, W, inputs)`` with inputs ``{"X": ...}`` or ``{"Sigma": ...}``.

    ``inputs`` may also hold ``X_heldout`` or ``Sigma_heldout``. The grid
    settings and ``options`` (the method's) apply to every layer. ``progress``
    prints one line per layer on stderr (or calls ``progress(i, total, name,
    result)``).
    """
    items = list(layers)
    params = {"bits": bits, "sym": sym, "group_size": group_size, "clip": clip, "outliers": outliers}
    params["damping"] = damping
    model = QuantizedModel(settings={"method": method, **params, "options": dict(options or {})})
    report = _progress_line if progress is True else (progress or None)
    for i, (name, W, inputs) in enumerate(items, 1):
        result = _solve_layer(name, W, inputs, method, params, options or {})
        model.results[name] = result
        model.weights[f"{name}.weight"] = result.x.astype(np.float32)
        if report is not None:
            report(i, len(items), name, result)
    return model


def quantize_bert(
    encoder: BertEncoder,
    tokenizer: Any,
    calibration: list[str],
    heldout: list[str] | None = None,
    method: str = "quant.quantease",
    *,
    sequential: bool = True,
    batch_size: int = 32,
    **kwargs: Any,
) -> tuple[QuantizedModel, BertEncoder]:
    """Quantize every linear layer of a BERT encoder on calibration sentences; returns the model and its encoder.

    With ``sequential`` (the default) each layer's inputs come from the model
    whose earlier layers are already quantized; otherwise all come from the
    full-precision model. ``kwargs`` are those of :func:`quantize_layers`.
    Held-out sentences give each layer's held-out error.
    """
    cal = [(encoder.embeddings(ids), mask) for ids, mask in batches(tokenizer, calibration, batch_size)]
    held = [(encoder.embeddings(ids), mask) for ids, mask in batches(tokenizer, heldout or [], batch_size)]
    work = encoder.with_weights({})
    params = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("options", "progress")}
    progress = kwargs.get("progress", True)
    total = encoder.config.num_hidden_layers * len(LINEAR_SUFFIXES)
    model = QuantizedModel()
    done = 0
    start = time.perf_counter()
    for block in range(encoder.config.num_hidden_layers):
        prefix = f"encoder.layer.{block}."
        groups = SEQUENTIAL_GROUPS if sequential else (LINEAR_SUFFIXES,)
        for group in groups:
            names = [prefix + suffix for suffix in group]
            grams = _input_grams(work, block, cal, names)
            held_grams = _input_grams(work, block, held, names) if held else {}
            layers = [
                (n, encoder.weights[f"{n}.weight"], {"Sigma": grams[n], "Sigma_heldout": held_grams.get(n)})
                for n in names
            ]

            def counted(i: int, _total: int, name: str, result: Result, base: int = done) -> None:
                if progress is True:
                    _progress_line(base + i, total, name, result)
                elif progress:
                    progress(base + i, total, name, result)

            part = quantize_layers(layers, method, options=kwargs.get("options"), progress=counted, **params)
            model.results.update(part.results)
            model.weights.update(part.weights)
            model.settings = part.settings
            done += len(names)
            if sequential:
                work = work.with_weights(part.weights)
        # the next block's inputs: from the quantized model so far, or from the full-precision one
        cal = [(work.block(block, x, mask), mask) for x, mask in cal]
        held = [(work.block(block, x, mask), mask) for x, mask in held]
    work = encoder.with_weights(model.weights)
    model.settings = {**model.settings, "sequential": sequential, "seconds": time.perf_counter() - start}
    model.settings["calibration_sentences"] = len(calibration)
    return model, work


def _input_grams(
    encoder: BertEncoder, block: int, states: list[tuple[np.ndarray, np.ndarray]], names: list[str]
) -> dict[str, np.ndarray]:
    """Σ = XXᵀ (float64) of the inputs of the named linear layers of ``block`` over all batches."""
    wanted = set(names)
    grams: dict[str, np.ndarray] = {}

    def record(name: str, a: np.ndarray) -> None:
        if name in wanted:
            a = a.astype(np.float64)
            grams[name] = grams.get(name, 0.0) + a.T @ a

    for x, mask in states:
        encoder.block(block, x, mask, record)
    return grams


def embedding_similarity(
    reference: BertEncoder, other: BertEncoder, tokenizer: Any, texts: list[str], batch_size: int = 32
) -> dict[str, float]:
    """Cosine similarity of the two models' sentence embeddings of ``texts``: mean and minimum."""
    a = reference.embed(batches(tokenizer, texts, batch_size))
    b = other.embed(batches(tokenizer, texts, batch_size))
    cos = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": float(cos.mean()), "min": float(cos.min()), "sentences": len(texts)}
