"""Design a lowpass FIR filter with fixed-point coefficients as a DMMV problem.

Writes the problem file, prints the ripple of the rounded Remez design (the
usual baseline) and, with --solve, the ripple dopt reaches:

    python examples/fir_lowpass.py --taps 35 --bits 8 -o problems/dmmv/fir-lowpass.toml --solve
    python examples/fir_lowpass.py --paper -o problems/dmmv/fir-paper.toml
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import dopt
from dopt.dmmv.fir import FIRSpec, continuous_design, describe, fir_problem, paper_spec, rounded_design

DEFAULTS = {"method": "dmmv.local", "time_limit": 5.0}
PAPER_NOTE = (
    "The FIR instance of the DMMV paper's public code (order 12, 4 bits, passband [0, 0.4pi], "
    "stopband [4pi/7, pi], 192 grid points, unweighted). "
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults build the bundled problems/dmmv/fir-lowpass.toml."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taps", type=int, default=35, help="filter length, odd (default 35)")
    parser.add_argument("--bits", type=int, default=8, help="bits per coefficient (default 8)")
    parser.add_argument("--pass-edge", type=float, default=0.2, help="passband edge, cycles/sample (default 0.2)")
    parser.add_argument("--stop-edge", type=float, default=0.3, help="stopband edge, cycles/sample (default 0.3)")
    parser.add_argument("--stop-weight", type=float, default=1.0, help="stopband weight (default 1)")
    parser.add_argument("--grid", type=int, default=16, help="grid points per unit of order (default 16)")
    parser.add_argument("--paper", action="store_true", help="use the DMMV paper's instance, ignoring the above")
    parser.add_argument("-o", "--output", default="problems/dmmv/fir-lowpass.toml", help="problem file to write")
    parser.add_argument("--solve", action="store_true", help="also solve with dopt and print its ripple")
    return parser.parse_args(argv)


def spec_of(args: argparse.Namespace) -> FIRSpec:
    """The filter spec the options describe."""
    if args.paper:
        return paper_spec()
    bands = ((0.0, args.pass_edge, 1.0, 1.0), (args.stop_edge, 0.5, 0.0, args.stop_weight))
    return FIRSpec(taps=args.taps, bits=args.bits, bands=bands, grid_density=args.grid)


def build(args: argparse.Namespace) -> dopt.Problem:
    """The DMMV problem of the options, with the [solve] defaults of the bundled files."""
    spec = spec_of(args)
    if args.paper:
        return fir_problem(spec, name="fir-paper", description=PAPER_NOTE + describe(spec), defaults=dict(DEFAULTS))
    return fir_problem(spec, name=f"fir-lowpass-{spec.taps}", defaults=dict(DEFAULTS))


def main(argv: Sequence[str] | None = None) -> None:
    """Write the problem file and report the ripples."""
    args = parse_args(argv)
    spec = spec_of(args)
    problem = build(args)
    print(f"wrote {dopt.save(problem, args.output)}: {problem.summary()['constraints']} grid frequencies")
    _, continuous = continuous_design(spec)
    print(f"Remez, unquantized:   ripple {problem.objective(continuous):.6f}")
    print(f"Remez, rounded:       ripple {problem.objective(rounded_design(spec)):.6f}")
    if args.solve:
        result = dopt.solve(problem)
        print(f"dopt ({result.method}): ripple {result.objective:.6f}  [{result.status}, {result.wall_time:.2f} s]")


if __name__ == "__main__":
    main()
