"""``dopt generate fir|tomography|maxquant ... -o FILE``: write an application's DMMV problem file.

Each generator turns a specification into a problem with ``fir.fir_problem``,
``tomography.make_instance`` or ``maxquant.row_problem`` and writes it with
``dopt.save`` (a TOML manifest plus arrays beside it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np

import dopt
from dopt.core.errors import ProblemError
from dopt.dmmv import fir, maxquant, tomography
from dopt.dmmv.problem import DMMVProblem

DEFAULTS = {"method": "dmmv.local", "time_limit": 10.0}


def band(text: str) -> tuple[float, float]:
    """``"0,0.2"`` as the band (0.0, 0.2), in cycles/sample."""
    try:
        start, stop = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START,STOP in cycles/sample, got {text!r}") from None
    return start, stop


def build_fir(args: argparse.Namespace) -> DMMVProblem:
    """The FIR problem of a preset, or of --taps/--bits/--band/--stop."""
    if args.preset is not None:
        spec = fir.PRESETS[args.preset]
        name = f"fir-{args.preset}"
    else:
        if not args.band or not args.stop:
            raise ProblemError("fir: give --preset, or at least one --band and one --stop")
        spec = fir.filter_spec(args.taps, args.bits, args.band, args.stop, args.stop_weight, args.grid)
        name = f"fir-{args.taps}-taps-{args.bits}-bit"
    return fir.fir_problem(spec, name=args.name or name, defaults=dict(DEFAULTS))


def build_tomography(args: argparse.Namespace) -> DMMVProblem:
    """The tomography problem of a phantom, geometry, grey levels and noise."""
    spec = tomography.TomographySpec(
        size=args.size,
        angles=args.angles,
        levels=args.levels,
        phantom=args.phantom,
        noise=args.noise,
        detectors=args.detectors,
        tolerance=args.tolerance,
        seed=args.seed,
    )
    instance = tomography.make_instance(spec)
    return instance.problem(name=args.name or spec.name, defaults=dict(DEFAULTS))


def build_maxquant(args: argparse.Namespace) -> DMMVProblem:
    """One row of a synthetic transformer-like layer, or of --weights/--inputs .npy files."""
    if (args.weights is None) != (args.inputs is None):
        raise ProblemError("maxquant: give both --weights and --inputs, or neither")
    if args.weights is not None:
        W = np.atleast_2d(np.load(args.weights, allow_pickle=False))
        X = np.load(args.inputs, allow_pickle=False)
        source = f"{args.weights}, {args.inputs}"
    else:
        W, X = maxquant.synthetic_layer(args.rows, args.dim, args.samples, seed=args.seed)
        source = f"synthetic layer seed {args.seed}"
    if not 0 <= args.row < W.shape[0]:
        raise ProblemError(f"maxquant: --row {args.row} is outside the {W.shape[0]} rows")
    name = args.name or f"maxquant-{X.shape[1]}x{X.shape[0]}-{args.bits}bit-row{args.row}"
    description = f"{maxquant.describe(X.shape, args.bits)} Row {args.row} of {source}."
    return maxquant.row_problem(W[args.row], X, args.bits, name=name, description=description, defaults=dict(DEFAULTS))


BUILDERS: dict[str, Callable[[argparse.Namespace], DMMVProblem]] = {
    "fir": build_fir,
    "tomography": build_tomography,
    "maxquant": build_maxquant,
}


def parser() -> argparse.ArgumentParser:
    """The ``dopt generate`` argument parser with one subcommand per application."""
    top = argparse.ArgumentParser(prog="dopt generate", description="Write an application's DMMV problem file.")
    sub = top.add_subparsers(dest="generator", metavar="GENERATOR", required=True)

    f = sub.add_parser("fir", help="linear-phase FIR filter with fixed-point coefficients")
    f.add_argument("--preset", choices=sorted(fir.PRESETS), help="a named spec (ignores the options below)")
    f.add_argument("--taps", type=int, default=35, help="filter length, odd (default 35)")
    f.add_argument("--bits", type=int, default=8, help="bits per coefficient (default 8)")
    f.add_argument("--band", type=band, action="append", default=[], metavar="A,B", help="pass band (repeatable)")
    f.add_argument("--stop", type=band, action="append", default=[], metavar="A,B", help="stop band (repeatable)")
    f.add_argument("--stop-weight", type=float, default=1.0, help="weight of the stop bands (default 1)")
    f.add_argument("--grid", type=int, default=16, help="grid points per unit of order (default 16)")

    t = sub.add_parser("tomography", help="discrete tomography from noisy parallel-beam ray sums")
    t.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    t.add_argument("--angles", type=int, default=64, help="projection angles over [0, pi) (default 64)")
    t.add_argument("--detectors", type=int, help="detectors per angle (default: the image size)")
    t.add_argument("--levels", type=int, default=2, help="grey levels, 0..255 evenly (default 2)")
    t.add_argument("--phantom", choices=("shepp-logan", "blobs"), default="shepp-logan")
    t.add_argument("--noise", type=float, default=1000.0, help="uniform sinogram noise half-width (default 1000)")
    t.add_argument("--tolerance", type=float, default=0.0, help="ε in |a_i.x - p_i| <= ε (default 0)")
    t.add_argument("--seed", type=int, default=0, help="noise and blob seed (default 0)")

    q = sub.add_parser("maxquant", help="max-error quantization of one weight row")
    q.add_argument("--bits", type=int, default=3, help="bits per weight (default 3)")
    q.add_argument("--row", type=int, default=0, help="which row of the layer (default 0)")
    q.add_argument("--rows", type=int, default=8, help="synthetic layer: output rows (default 8)")
    q.add_argument("--dim", type=int, default=64, help="synthetic layer: inputs per row (default 64)")
    q.add_argument("--samples", type=int, default=256, help="synthetic layer: calibration samples (default 256)")
    q.add_argument("--seed", type=int, default=0, help="synthetic layer seed (default 0)")
    q.add_argument("--weights", help="rows x d weight matrix (.npy) instead of the synthetic layer")
    q.add_argument("--inputs", help="samples x d calibration inputs (.npy) instead of the synthetic layer")

    for p in (f, t, q):
        p.add_argument("-o", "--output", required=True, metavar="FILE.toml", help="problem file to write")
        p.add_argument("--name", help="problem name (default: from the spec)")
    return top


def main(argv: Sequence[str]) -> int:
    """Parse ``argv``, build the problem, write it, print one line; returns 0 (argparse exits on bad usage)."""
    args = parser().parse_args(argv)
    try:
        problem = BUILDERS[args.generator](args)
    except ProblemError:
        raise
    except (ValueError, OSError) as exc:
        raise ProblemError(f"{args.generator}: {exc}") from None
    path = dopt.save(problem, args.output)
    facts = problem.summary()
    print(f"wrote {path}: {facts['variables']} variables, {facts['constraints']} constraints, {facts['nonzeros']} nnz")
    return 0
