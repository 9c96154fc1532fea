"""FIR: dmmv.local alone vs dmmv.local then the strided large-neighbourhood polish vs HiGHS, at equal time.

Run:    python benchmarks/fir_lns_report.py --time-limit 30 --out benchmarks/results/fir_lns.md
Quick:  python benchmarks/fir_lns_report.py --time-limit 4 --specs bandpass-75-12 lp-61-8

Each spec gets, in one process: dmmv.local for the whole time; dmmv.local for half of it
and then ``dopt.dmmv.lns.polish`` over ``fir.strided_neighbourhoods`` for the other half
(the two halves together take the same time); and HiGHS (dmmv.milp) for the whole time.
The specs are the larger presets and the command-line specs of docs/dmmv-applications.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import dopt
from dopt.bench.runner import warm_up
from dopt.dmmv import fir
from dopt.dmmv.lns import polish

# The command-line specs of docs/dmmv-applications.md ("More FIR specs"), as `dopt generate fir` builds them.
EXTRA = {
    "lp-61-8": fir.filter_spec(61, 8, [(0.0, 0.2)], [(0.25, 0.5)]),
    "lp-81-8": fir.filter_spec(81, 8, [(0.0, 0.15)], [(0.19, 0.5)]),
    "lp-101-8": fir.filter_spec(101, 8, [(0.0, 0.2)], [(0.23, 0.5)]),
    "hp-91-9": fir.filter_spec(91, 9, [(0.3, 0.5)], [(0.0, 0.27)]),
    "bp-101-9": fir.filter_spec(101, 9, [(0.2, 0.3)], [(0.0, 0.17), (0.33, 0.5)]),
    "lp-99-11": fir.filter_spec(99, 11, [(0.0, 0.2)], [(0.22, 0.5)]),
    "hp-91-12": fir.filter_spec(91, 12, [(0.3, 0.5)], [(0.0, 0.27)]),
    "bp-101-12": fir.filter_spec(101, 12, [(0.2, 0.3)], [(0.0, 0.16), (0.34, 0.5)]),
    "mb-95-12": fir.filter_spec(95, 12, [(0.05, 0.15), (0.3, 0.4)], [(0.0, 0.02), (0.19, 0.26), (0.44, 0.5)]),
}
SPECS = {name: fir.PRESETS[name] for name in ("lowpass-55-10", "highpass-61-10", "bandpass-75-12", "lowpass-101-12")}
SPECS.update(EXTRA)


def measure(spec: fir.FIRSpec, time_limit: float, seed: int) -> dict:
    """Ripples of dmmv.local, dmmv.local + polish and HiGHS on ``spec``, each pipeline in ``time_limit`` seconds."""
    problem = fir.fir_problem(spec)
    local = dopt.solve(problem, "dmmv.local", time_limit=time_limit, seed=seed)
    start = time.perf_counter()
    first = dopt.solve(problem, "dmmv.local", time_limit=time_limit / 2, seed=seed)
    left = max(time_limit - (time.perf_counter() - start), 1e-3)
    polished = polish(problem, first.x, fir.strided_neighbourhoods(spec.half_length), time_limit=left)
    total = time.perf_counter() - start
    highs = dopt.solve(problem, "dmmv.milp", time_limit=time_limit)
    return {
        "local": local.objective,
        "half": first.objective,
        "lns": polished.objective,
        "lns_time": total,
        "subproblems": polished.subproblems,
        "highs": highs.objective if "fallback" not in highs.extras else None,
        "bound": highs.extras.get("bound"),
    }


def table(rows: dict[str, dict], time_limit: float) -> list[str]:
    lines = [
        f"| spec | taps | bits | dmmv.local {time_limit:g} s | local {time_limit / 2:g} s "
        f"| then polish (total s, sub-MILPs) | HiGHS {time_limit:g} s | HiGHS bound "
        "| local / HiGHS | local + polish / HiGHS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        spec = SPECS[name]
        highs = "none found" if r["highs"] is None else f"{r['highs']:.6f}"
        ratio = "—" if r["highs"] is None else f"{r['local'] / r['highs']:.3f}"
        ratio_lns = "—" if r["highs"] is None else f"{r['lns'] / r['highs']:.3f}"
        lines.append(
            f"| {name} | {spec.taps} | {spec.bits} | {r['local']:.6f} | {r['half']:.6f} "
            f"| {r['lns']:.6f} ({r['lns_time']:.1f}, {r['subproblems']}) | {highs} | {r['bound']:.6f} "
            f"| {ratio} | {ratio_lns} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", nargs="*", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()
    warm_up("dmmv")
    rows = {}
    for name in args.specs:
        rows[name] = measure(SPECS[name], args.time_limit, args.seed)
        r = rows[name]
        print(f"{name}: local {r['local']:.6f}  local+polish {r['lns']:.6f}  HiGHS {r['highs']}", flush=True)
    text = "\n".join(table(rows, args.time_limit))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
