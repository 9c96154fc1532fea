"""Compare fixed-point FIR designs: rounded Remez, rounded firwin, dmmv.local and HiGHS at the same time limit.

With highspy installed it also runs dmmv.local for half the time and then the strided
large-neighbourhood polish (``dopt.dmmv.lns.polish``) for the other half.

python examples/fir_designs.py --preset lowpass-55-10 --time-limit 5
python examples/fir_designs.py --taps 41 --bits 9 --band 0.2,0.3 --stop 0,0.15 --stop 0.35,0.5
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Sequence

import dopt
from dopt.dmmv import fir
from dopt.dmmv.generate import band
from dopt.dmmv.lns import polish


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults take about ten seconds."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(fir.PRESETS), help="a named spec (default lowpass-55-10)")
    parser.add_argument("--taps", type=int, default=41, help="filter length, odd, without --preset (default 41)")
    parser.add_argument("--bits", type=int, default=9, help="bits per coefficient without --preset (default 9)")
    parser.add_argument("--band", type=band, action="append", default=[], metavar="A,B", help="pass band")
    parser.add_argument("--stop", type=band, action="append", default=[], metavar="A,B", help="stop band")
    parser.add_argument("--time-limit", type=float, default=5.0, help="seconds for each solver (default 5)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Print the grid ripple (and dense-grid ripple) of each design; returns the grid ripples."""
    args = parse_args(argv)
    if args.band or args.stop:
        spec = fir.filter_spec(args.taps, args.bits, args.band, args.stop)
    else:
        spec = fir.PRESETS[args.preset or "lowpass-55-10"]
    problem = fir.fir_problem(spec)
    designs = {"Remez rounded": fir.rounded_design(spec), "firwin rounded": fir.rounded_design(spec, "firwin")}
    for method in ("dmmv.local", "dmmv.milp"):
        result = dopt.solve(problem, method, time_limit=args.time_limit)
        designs[f"{method} ({result.status})"] = result.x
    if importlib.util.find_spec("highspy") is not None:  # the polish hands HiGHS a MIP start
        half = dopt.solve(problem, "dmmv.local", time_limit=args.time_limit / 2)
        neighbourhoods = fir.strided_neighbourhoods(spec.half_length)
        designs["dmmv.local, then polish"] = polish(problem, half.x, neighbourhoods, time_limit=args.time_limit / 2).x
    print(fir.describe(spec))
    print(f"{'design':<28} {'grid ripple':>12} {'dense ripple':>13}")
    ripples = {}
    for label, half in designs.items():
        ripples[label] = problem.objective(half)
        print(f"{label:<28} {ripples[label]:>12.6f} {fir.dense_ripple(spec, half):>13.6f}")
    return ripples


if __name__ == "__main__":
    main()
