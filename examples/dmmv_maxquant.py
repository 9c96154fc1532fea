"""Quantize a weight matrix so that its worst output error on calibration inputs is smallest.

Each output row's weights go on the row's own B-bit grid; dmmv.local (from
round-to-nearest) minimises max_t |x_t.(w_hat - w)| row by row, and the script
compares the layer's errors with round-to-nearest:

    python examples/dmmv_maxquant.py --rows 16 --dim 64 --samples 256 --bits 3
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from dopt.dmmv.maxquant import layer_errors, quantize_layer, rtn, synthetic_layer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults run in about ten seconds."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=16, help="output rows (default 16)")
    parser.add_argument("--dim", type=int, default=64, help="inputs per row (default 64)")
    parser.add_argument("--samples", type=int, default=256, help="calibration samples (default 256)")
    parser.add_argument("--bits", type=int, default=3, help="bits per weight (default 3)")
    parser.add_argument("--time-per-row", type=float, default=0.5, help="seconds per row (default 0.5)")
    parser.add_argument("--weights", help="rows x d weights (.npy) instead of the synthetic layer")
    parser.add_argument("--inputs", help="samples x d calibration inputs (.npy) instead of the synthetic layer")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Quantize with RTN and with dmmv.local, print both layers' errors, return them."""
    args = parse_args(argv)
    if args.weights:
        W, X = np.load(args.weights, allow_pickle=False), np.load(args.inputs, allow_pickle=False)
    else:
        W, X = synthetic_layer(args.rows, args.dim, args.samples)
    W_hat, _ = quantize_layer(W, X, args.bits, time_per_row=args.time_per_row)
    rows = {"RTN": layer_errors(W, rtn(W, args.bits), X), "dmmv.local": layer_errors(W, W_hat, X)}
    print(f"layer {W.shape[0]} x {W.shape[1]}, {X.shape[0]} calibration samples, {args.bits} bits")
    print(f"{'method':<12} {'max error':>10} {'mean row max':>13} {'rel. Frobenius':>15}")
    for label, e in rows.items():
        print(f"{label:<12} {e['max_error']:>10.4f} {e['mean_row_max']:>13.4f} {e['relative_frobenius']:>15.4f}")
    return rows


if __name__ == "__main__":
    main()
