"""A small NumPy BERT encoder (sentence-transformers style) for calibration and evaluation.

It runs the forward pass of a BERT model from its weight dictionary (the
tensor names of Hugging Face's ``BertModel``), records the input of every
linear layer when asked (the calibration activations X of the layer-wise
problems), and turns token ids into mean-pooled, normalised sentence
embeddings. No torch needed; ``tokenize`` uses the ``tokenizers`` package.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

LINEAR_SUFFIXES = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


@dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder (Hugging Face ``config.json`` fields)."""

    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_file(cls, path: str | Path) -> BertConfig:
        raw = json.loads(Path(path).read_text())
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


def linear_names(config: BertConfig) -> list[str]:
    """The weight names (without ``.weight``) of every linear layer, in forward order."""
    return [f"encoder.layer.{i}.{s}" for i in range(config.num_hidden_layers) for s in LINEAR_SUFFIXES]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class BertEncoder:
    """Forward pass of a BERT encoder from a ``{name: array}`` weight dictionary.

    ``weights`` holds float arrays by their Hugging Face names; the computation
    runs in ``dtype`` (float32 by default, like the model). Replace linear
    weights with :meth:`with_weights` to evaluate a quantized model.
    """

    def __init__(self, weights: Mapping[str, np.ndarray], config: BertConfig, dtype: type = np.float32) -> None:
        self.config = config
        self.dtype = dtype
        self.weights = {k: np.asarray(v, dtype=dtype) for k, v in weights.items() if np.asarray(v).dtype.kind == "f"}

    def with_weights(self, replacements: Mapping[str, np.ndarray]) -> BertEncoder:
        """A copy whose named weights are replaced (e.g. by their quantized versions)."""
        merged = dict(self.weights)
        for name, value in replacements.items():
            if name not in merged:
                raise KeyError(f"no weight named {name!r}")
            merged[name] = value
        return BertEncoder(merged, self.config, self.dtype)

    def _linear(self, name: str, x: np.ndarray, record: Callable[[str, np.ndarray], None] | None) -> np.ndarray:
        if record is not None:
            record(name, x)
        flat = x.reshape(-1, x.shape[-1]) @ self.weights[f"{name}.weight"].T  # one 2-D GEMM
        return flat.reshape(*x.shape[:-1], -1) + self.weights[f"{name}.bias"]

    def embeddings(self, input_ids: np.ndarray) -> np.ndarray:
        """The embedding layer's output (batch × tokens × hidden) for padded ``input_ids``."""
        c, w = self.config, self.weights
        ids = np.asarray(input_ids)
        length = ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        return _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], c.layer_norm_eps)

    def block(
        self,
        i: int,
        x: np.ndarray,
        attention_mask: np.ndarray,
        record: Callable[[str, np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """Transformer block ``i`` applied to hidden states ``x`` (batch × tokens × hidden).

        ``record(name, x)`` receives the input of every linear layer of the
        block, as a (real tokens × features) array with the padding removed.
        """
        c, w = self.config, self.weights
        mask = np.asarray(attention_mask).astype(bool)
        batch, length, _ = x.shape
        heads = c.num_attention_heads
        dh = c.hidden_size // heads
        bias = np.where(mask, 0.0, np.finfo(self.dtype).min).astype(self.dtype)[:, None, None, :]
        rec = None if record is None else (lambda name, a: record(name, a[mask]))
        p = f"encoder.layer.{i}."

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, heads, dh).transpose(0, 2, 1, 3)

        q = split(self._linear(p + "attention.self.query", x, rec))
        k = split(self._linear(p + "attention.self.key", x, None))
        v = split(self._linear(p + "attention.self.value", x, None))
        if rec is not None:  # query, key and value share their input
            rec(p + "attention.self.key", x)
            rec(p + "attention.self.value", x)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, c.hidden_size)
        attn = self._linear(p + "attention.output.dense", ctx, rec)
        x = _layer_norm(
            attn + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            c.layer_norm_eps,
        )
        h = _gelu(self._linear(p + "intermediate.dense", x, rec))
        out = self._linear(p + "output.dense", h, rec)
        return _layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], c.layer_norm_eps)

    def hidden_states(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        record: Callable[[str, np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """Last hidden states (batch × tokens × hidden) of padded ``input_ids``; ``record`` as in :meth:`block`."""
        x = self.embeddings(input_ids)
        for i in range(self.config.num_hidden_layers):
            x = self.block(i, x, attention_mask, record)
        return x

    def pool(self, hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Mean over the real tokens, L2-normalised (the sentence-transformers head)."""
        m = np.asarray(attention_mask, dtype=self.dtype)[..., None]
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence embeddings of ``(input_ids, attention_mask)`` batches."""
        out = [self.pool(self.hidden_states(ids, mask), mask) for ids, mask in batches]
        return np.concatenate(out) if out else np.zeros((0, self.config.hidden_size), dtype=self.dtype)

    def linear_inputs(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        """Every linear layer's input over all real tokens: ``{name: features × tokens}`` (float32)."""
        chunks: dict[str, list[np.ndarray]] = {}
        for ids, mask in batches:
            self.hidden_states(ids, mask, record=lambda name, a: chunks.setdefault(name, []).append(a))
        return {name: np.ascontiguousarray(np.concatenate(parts).T) for name, parts in chunks.items()}


def load_tokenizer(path: str | Path, max_length: int = 128):
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json``, truncating at ``max_length``, no padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_length)
    return tok


def batches(tokenizer, sentences: Sequence[str], batch_size: int = 32):
    """``(input_ids, attention_mask)`` arrays of ``sentences``, padded per batch."""
    for start in range(0, len(sentences), batch_size):
        encoded = tokenizer.encode_batch(list(sentences[start : start + batch_size]))
        length = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(encoded), length), dtype=np.int64)
        mask = np.zeros((len(encoded), length), dtype=np.int64)
        for r, e in enumerate(encoded):
            ids[r, : len(e.ids)] = e.ids
            mask[r, : len(e.ids)] = 1
        yield ids, mask
