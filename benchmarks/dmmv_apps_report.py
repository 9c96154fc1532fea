"""The DMMV applications against their baselines and peers, in one run: FIR filters, tomography, max-error quantization.

Run (full):  python benchmarks/dmmv_apps_report.py --out benchmarks/results
Quick:       python benchmarks/dmmv_apps_report.py --fir lowpass-25-8 --fir-time-limit 5 --tomo-size 32 \
                 --tomo-angles 8 --tomo-time-limit 5 --sart-iterations 200 --out /tmp/apps

FIR: dmmv.local vs HiGHS (dmmv.milp), CP-SAT (dmmv.cpsat) and Gurobi (dmmv.gurobi, where installed and its
licence accepts the model) at equal time limits, vs the continuous Remez / firwin designs rounded to the
grid, and dmmv.local for half the limit followed by CP-SAT from its answer for the other half.
Tomography: SART and SIRT followed by rounding (and a 3x3 median filter of the rounded SART image, a
denoising baseline), DART from the SART image with the DMMV paper's settings, dmmv.local from the rounded
SART image on every pixel and on the boundary pixels only (``tomography.refine_boundaries``), the
median-filtered image repaired on its boundary pixels until every ray is within the noise bound
(``tomography.smooth_and_repair``), HiGHS and CP-SAT at the same time limit.
Max-error quantization: RTN, GPTQ and QuantEase (least squares) vs dmmv.local, HiGHS, CP-SAT and Gurobi per row.
Writes, for each section run, ``dmmv_apps_<section>.md`` (table) and ``.json`` (every measurement), and
``fir_responses.png``. ``--fir`` / ``--tomo-angles`` with no value, or ``--mq-rows 0``, skip a section.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import dopt
from dopt.bench.runner import warm_up
from dopt.dmmv import DMMVProblem, fir, maxquant, tomography
from dopt.dmmv.dart import dart
from dopt.dmmv.gurobi import pip_licence_accepts, runs_here
from dopt.quant import QuantProblem

FIR_DEFAULT = ["paper", "lowpass-25-8", "lowpass-55-10", "highpass-61-10", "bandpass-75-12", "lowpass-101-12"]


def installed(module: str) -> bool:
    """True when ``module`` can be imported."""
    return importlib.util.find_spec(module) is not None


def cpsat_available() -> bool:
    """True when dmmv.cpsat is registered and OR-Tools is installed."""
    return installed("ortools") and "dmmv.cpsat" in {spec.name for spec in dopt.list_methods("dmmv")}


def fir_row(name: str, time_limit: float, seed: int) -> dict:
    """One FIR spec: ripples of the rounded continuous designs, HiGHS and dmmv.local at equal time."""
    spec = fir.PRESETS[name]
    problem = fir.fir_problem(spec)
    remez, firwin = fir.rounded_design(spec), fir.rounded_design(spec, "firwin")
    local = dopt.solve(problem, "dmmv.local", time_limit=time_limit, seed=seed)
    seeded = dopt.solve(problem, "dmmv.local", time_limit=time_limit, seed=seed, x0=remez)
    highs = dopt.solve(problem, "dmmv.milp", time_limit=time_limit)
    found = "fallback" not in highs.extras
    cpsat = dopt.solve(problem, "dmmv.cpsat", time_limit=time_limit) if cpsat_available() else None
    gurobi = gurobi_ripple(problem, time_limit)
    polished = polished_ripple(problem, time_limit, seed) if cpsat is not None else None
    bounds = (highs.extras.get("bound"), local.extras.get("bound"), gurobi["gurobi_bound"], 0.0)
    return {
        **gurobi,
        "cpsat": None if cpsat is None or "fallback" in cpsat.extras else cpsat.objective,
        "cpsat_status": "not installed" if cpsat is None else cpsat.status,
        "spec": name,
        "taps": spec.taps,
        "bits": spec.bits,
        "rows": problem.shape[0],
        "remez_rounded": problem.objective(remez),
        "firwin_rounded": problem.objective(firwin),
        "continuous": problem.objective(fir.continuous_design(spec)[1]),
        "local": local.objective,
        "local_dense": fir.dense_ripple(spec, local.x),
        "local_time": local.wall_time,
        "local_remez": seeded.objective,
        "polished": polished,
        "highs": highs.objective if found else None,
        "highs_status": highs.status,
        "highs_bound": highs.extras.get("bound"),
        "bound": max(b for b in bounds if b is not None),
        "highs_time": highs.wall_time,
        "x": {"remez": remez.tolist(), "local": local.x.tolist(), "highs": highs.x.tolist() if found else None},
    }


def polished_ripple(problem: DMMVProblem, time_limit: float, seed: int) -> float:
    """dmmv.local for half the time, then CP-SAT from its answer (x0, a solution hint) for the other half;
    the better of the two points, so the pipeline as a whole runs for the same time as each solver alone."""
    first = dopt.solve(problem, "dmmv.local", time_limit=time_limit / 2, seed=seed)
    polish = dopt.solve(problem, "dmmv.cpsat", time_limit=time_limit / 2, x0=first.x)
    return min(first.objective, polish.objective)


def gurobi_ripple(problem: DMMVProblem, time_limit: float) -> dict:
    """Gurobi's ripple, status and bound at the time limit; "not installed" or "licence refuses" when it cannot run."""
    if not installed("gurobipy"):
        return {"gurobi": None, "gurobi_status": "not installed", "gurobi_bound": None}
    if not pip_licence_accepts(problem):
        return {"gurobi": None, "gurobi_status": f"licence refuses ({2 * problem.shape[0]} rows)", "gurobi_bound": None}
    result = dopt.solve(problem, "dmmv.gurobi", time_limit=time_limit)
    found = "fallback" not in result.extras
    return {
        "gurobi": result.objective if found else None,
        "gurobi_status": result.status if found else "none found",
        "gurobi_bound": result.extras["bound"],
    }


def tomo_row(size: int, angles: int, levels: int, phantom: str, noise: float, args: argparse.Namespace) -> dict:
    """One tomography task: SART/SIRT + rounding, dmmv.local from rounded SART, HiGHS, each scored."""
    spec = tomography.TomographySpec(size, angles, levels, phantom, noise, seed=args.seed)
    inst = tomography.make_instance(spec)
    problem = inst.problem()
    grey = inst.grey
    out: dict = {"name": spec.name, "size": size, "angles": angles, "levels": levels, "noise": noise}
    out["truth"] = tomography.metrics(inst, inst.truth)
    start = time.perf_counter()
    continuous = tomography.sart_image(inst, args.sart_iterations, seed=args.seed)
    base = tomography.round_to_levels(continuous, grey)
    out["sart"] = {**tomography.metrics(inst, base), "time": time.perf_counter() - start}
    start = time.perf_counter()
    image = dart(inst, continuous, seed=args.seed)  # the paper's settings: 100 iterations, p = 0.5, 1000 updates
    out["dart"] = {**tomography.metrics(inst, image), "time": time.perf_counter() - start + out["sart"]["time"]}
    start = time.perf_counter()
    x = tomography.sirt(inst.A, inst.sinogram, args.sart_iterations, (grey[0], grey[-1]))
    out["sirt"] = {**tomography.metrics(inst, tomography.round_to_levels(x, grey)), "time": time.perf_counter() - start}
    start = time.perf_counter()
    median = tomography.median_smoothed(inst, base)
    out["median"] = {**tomography.metrics(inst, median), "time": out["sart"]["time"] + time.perf_counter() - start}
    local = dopt.solve(problem, "dmmv.local", time_limit=args.tomo_time_limit, seed=args.seed, x0=base.ravel())
    out["local"] = {**tomography.metrics(inst, local.x), "time": local.wall_time + out["sart"]["time"]}
    start = time.perf_counter()
    edges = tomography.refine_boundaries(inst, base, time_limit=args.tomo_time_limit, seed=args.seed)
    out["boundary"] = {**tomography.metrics(inst, edges), "time": time.perf_counter() - start + out["sart"]["time"]}
    start = time.perf_counter()
    repaired = tomography.smooth_and_repair(
        inst, base, cycles=args.repair_cycles, time_limit=args.tomo_time_limit, seed=args.seed, tolerance=noise
    )  # the known noise bound: stop once every ray is explained
    out["repair"] = {**tomography.metrics(inst, repaired), "time": time.perf_counter() - start + out["sart"]["time"]}
    for method in ("dmmv.milp", "dmmv.cpsat"):
        if method == "dmmv.cpsat" and not cpsat_available():
            out[method] = None
            continue
        peer = dopt.solve(problem, method, time_limit=args.tomo_time_limit)
        out[method] = {
            **tomography.metrics(inst, peer.x),
            "time": peer.wall_time,
            "found": "fallback" not in peer.extras,
            "bound": peer.extras.get("bound"),
        }
    return out


def maxquant_rows(args: argparse.Namespace) -> dict:
    """One synthetic layer: RTN, dmmv.local and HiGHS per row at equal time, scored on the layer output."""
    W, X = maxquant.synthetic_layer(args.mq_rows, args.mq_dim, args.mq_samples, seed=args.seed)
    out: dict = {"rows": args.mq_rows, "dim": args.mq_dim, "samples": args.mq_samples, "bits": args.mq_bits}
    out["rtn"] = maxquant.layer_errors(W, maxquant.rtn(W, args.mq_bits), X)
    for method in ("quant.gptq", "quant.quantease"):  # least squares, each on its own asymmetric grids
        result = dopt.solve(QuantProblem(W, X=X.T, bits=args.mq_bits), method, seed=args.seed)
        out[method] = {**maxquant.layer_errors(W, result.x, X), "time": result.wall_time}
    for method in ("dmmv.local", "dmmv.milp", "dmmv.cpsat", "dmmv.gurobi"):
        if (method == "dmmv.cpsat" and not cpsat_available()) or (
            method == "dmmv.gurobi" and not runs_here(maxquant.row_problem(W[0], X, args.mq_bits))
        ):
            out[method] = None
            continue
        start = time.perf_counter()
        W_hat, _ = maxquant.quantize_layer(W, X, args.mq_bits, args.mq_time, method=method, seed=args.seed)
        out[method] = {**maxquant.layer_errors(W, W_hat, X), "time": time.perf_counter() - start}
    return out


def fir_table(rows: list[dict], time_limit: float) -> list[str]:
    """Markdown: the FIR ripples, with dmmv.local over HiGHS and over the rounded Remez design."""
    lines = [
        f"### FIR filters: max weighted ripple on the grid, {time_limit:g} s each",
        "",
        "| spec | taps | bits | grid | continuous Remez (bound) | Remez rounded | firwin rounded | HiGHS | HiGHS bound "
        "| CP-SAT | Gurobi | **dmmv.local** | local from Remez rounded | local, then CP-SAT | best local / HiGHS "
        "| best local / Gurobi | lowest possible / HiGHS | best local / Remez rounded |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        highs = "none found" if r["highs"] is None else f"{r['highs']:.5f}"
        bound = "—" if r["highs_bound"] is None else f"{r['highs_bound']:.5f}"
        best = min(r["local"], r["local_remez"])
        ratio = "—" if r["highs"] is None else f"{best / r['highs']:.3f}"
        to_gurobi = "—" if r["gurobi"] is None else f"{best / r['gurobi']:.3f}"
        floor = "—" if r["highs"] is None else f"{r['bound'] / r['highs']:.3f}"
        lines.append(
            f"| {r['spec']} | {r['taps']} | {r['bits']} | {r['rows']} | {r['continuous']:.5f} "
            f"| {r['remez_rounded']:.5f} | {r['firwin_rounded']:.5f} | {highs} | {bound} | {_cpsat(r)} | {_gurobi(r)} "
            f"| **{r['local']:.5f}** | {r['local_remez']:.5f} | {_polished(r)} | {ratio} | {to_gurobi} | {floor} "
            f"| {best / r['remez_rounded']:.3f} |"
        )
    lines += [
        "",
        "*lowest possible / HiGHS*: the best proven lower bound (HiGHS's or Gurobi's MILP bound, or the LP",
        "relaxation) over HiGHS's ripple; no design can have a smaller ratio than this. Gurobi runs with pip's",
        "size-limited licence, which refuses models of more than 2000 rows. *local, then CP-SAT*: dmmv.local for",
        f"half the time ({time_limit / 2:g} s), then CP-SAT from its answer (`x0=`, a solution hint) for the other",
        "half, the better point kept: the same total time as each solver alone.",
    ]
    return lines


def _polished(r: dict) -> str:
    return "—" if r.get("polished") is None else f"{r['polished']:.5f}"


def _gurobi(r: dict) -> str:
    if r["gurobi"] is None:
        return r["gurobi_status"]
    return f"{r['gurobi']:.5f}" + (" (opt.)" if r["gurobi_status"] == "optimal" else "")


def _cpsat(r: dict) -> str:
    if r["cpsat"] is None:
        return "not installed" if r["cpsat_status"] == "not installed" else "none found"
    return f"{r['cpsat']:.5f}" + (" (opt.)" if r["cpsat_status"] == "optimal" else "")


def tomo_table(rows: list[dict], args: argparse.Namespace) -> list[str]:
    """Markdown: MAE / SSIM / pixel errors / max residual / time of every reconstruction."""
    lines = [
        f"### Tomography: SART/SIRT ({args.sart_iterations} sweeps) + rounding and DART vs dmmv.local from "
        f"rounded SART ({args.tomo_time_limit:g} s, on every pixel or on the boundary pixels) vs HiGHS and CP-SAT "
        f"({args.tomo_time_limit:g} s each); CPU only",
        "",
        "| task | noise | method | MAE | SSIM | pixel errors | max residual | time s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for key, label in TOMO_ROWS:
            lines.append(_tomo_line(r, label, r[key]))
        for method, label in (("dmmv.milp", "HiGHS"), ("dmmv.cpsat", "CP-SAT")):
            peer = r[method]
            if peer is None:
                lines.append(f"| {r['name']} | {r['noise']:g} | {label} | not installed ||||| ")
            else:
                lines.append(_tomo_line(r, label if peer["found"] else f"{label} (no incumbent: LP rounded)", peer))
        for key in ("local", "boundary", "repair"):
            ratio = _ratio(r[key]["mae"], r["sart"]["mae"])
            lines.append(f"| | | **{dict(TOMO_ROWS)[key]} MAE / SART+round MAE** | **{ratio}** |||||")
        ratio = _ratio(r["repair"]["mae"], r["dart"]["mae"])
        lines.append(f"| | | **{dict(TOMO_ROWS)['repair']} MAE / DART MAE** | **{ratio}** |||||")
    return lines


TOMO_ROWS = (
    ("truth", "truth"),
    ("sart", "SART+round"),
    ("sirt", "SIRT+round"),
    ("median", "SART+round, 3x3 median"),
    ("dart", "DART from SART (100 iterations, fix probability 0.5, 1000 SART updates, σ = 1)"),
    ("local", "dmmv.local, every pixel"),
    ("boundary", "dmmv.local, boundary pixels"),
    ("repair", "3x3 median, then dmmv.local on its boundary pixels to max residual <= noise, cycled; least TV kept"),
)


def _tomo_line(r: dict, label: str, m: dict) -> str:
    ssim = "—" if m.get("ssim") is None else f"{m['ssim']:.3f}"
    seconds = f"{m['time']:.1f}" if "time" in m else "—"
    return (
        f"| {r['name']} | {r['noise']:g} | {label} | {m['mae']:.2f} | {ssim} | {m['pixel_error_rate']:.2%} "
        f"| {m['max_residual']:.1f} | {seconds} |"
    )


def _ratio(a: float, b: float) -> str:
    return "—" if b == 0 else f"{a / b:.3f}"


def maxquant_table(r: dict) -> list[str]:
    """Markdown: the layer's output errors under RTN, dmmv.local and HiGHS."""
    lines = [
        f"### Max-error quantization: synthetic layer {r['rows']} x {r['dim']}, {r['samples']} samples, "
        f"{r['bits']} bits, {r['time_per_row']:g} s per row for the DMMV solvers",
        "",
        "| method | max error | mean row max | relative Frobenius | time s |",
        "|---|---|---|---|---|",
    ]
    methods = (
        ("rtn", "RTN"),
        ("quant.gptq", "GPTQ (least squares)"),
        ("quant.quantease", "QuantEase (least squares)"),
        ("dmmv.local", "dmmv.local"),
        ("dmmv.milp", "HiGHS"),
        ("dmmv.cpsat", "CP-SAT"),
        ("dmmv.gurobi", "Gurobi"),
    )
    for key, label in methods:
        e = r[key]
        if e is None:
            lines.append(f"| {label} | not installed, or over its licence's size |||| ")
            continue
        seconds = f"{e['time']:.1f}" if "time" in e else "—"
        lines.append(
            f"| {label} | {e['max_error']:.4f} | {e['mean_row_max']:.4f} | {e['relative_frobenius']:.4f} | {seconds} |"
        )
    return lines


def plot_fir(rows: list[dict], path: Path) -> str:
    """The amplitude responses (dB) of the rounded Remez, HiGHS and dmmv.local designs, one panel per spec."""
    if not installed("matplotlib"):
        return "matplotlib not installed: no plot"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 2.6 * len(rows)), squeeze=False)
    freqs = np.linspace(0, 0.5, 4096)
    for ax, r in zip(axes[:, 0], rows, strict=True):
        spec = fir.PRESETS[r["spec"]]
        for key, style in (("remez", ":"), ("highs", "--"), ("local", "-")):
            if r["x"][key] is not None:
                response = np.abs(fir.amplitude_matrix(spec.taps, freqs) @ np.asarray(r["x"][key]))
                ax.plot(freqs, 20 * np.log10(np.maximum(response, 1e-6)), style, label=key, linewidth=1)
        ax.set_title(f"{r['spec']}: {spec.taps} taps, {spec.bits} bits", fontsize=9)
        ax.set_ylim(-100, 5)
        ax.set_ylabel("dB")
        ax.legend(fontsize=7, loc="lower left")
    axes[-1, 0].set_xlabel("frequency (cycles/sample)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return f"![FIR responses]({path.name})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fir", nargs="*", default=FIR_DEFAULT, choices=sorted(fir.PRESETS), help="FIR presets")
    parser.add_argument("--fir-time-limit", type=float, default=30.0)
    parser.add_argument("--tomo-size", type=int, default=128)
    parser.add_argument("--tomo-angles", type=int, nargs="*", default=[64, 8])
    parser.add_argument("--tomo-levels", type=int, nargs="*", default=[2, 4])
    parser.add_argument("--tomo-phantom", default="shepp-logan", choices=("shepp-logan", "blobs"))
    parser.add_argument("--tomo-noise", type=float, default=1000.0, help="uniform noise half-width (paper: 1000)")
    parser.add_argument("--tomo-time-limit", type=float, default=30.0)
    parser.add_argument(
        "--repair-cycles", type=int, default=6, help="smooth_and_repair cycles (sharing --tomo-time-limit)"
    )
    parser.add_argument("--sart-iterations", type=int, default=1000)
    parser.add_argument("--mq-rows", type=int, default=16)
    parser.add_argument("--mq-dim", type=int, default=128)
    parser.add_argument("--mq-samples", type=int, default=512)
    parser.add_argument("--mq-bits", type=int, default=3)
    parser.add_argument("--mq-time", type=float, default=1.0, help="seconds per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warm_up("dmmv")  # kernels compiled outside the timed runs

    fir_rows = []
    for name in args.fir:
        fir_rows.append(fir_row(name, args.fir_time_limit, args.seed))
        print(f"fir {name}: local {fir_rows[-1]['local']:.5f}  HiGHS {fir_rows[-1]['highs']}", flush=True)
    tomo_rows = []
    for angles in args.tomo_angles:
        for levels in args.tomo_levels:
            row = tomo_row(args.tomo_size, angles, levels, args.tomo_phantom, args.tomo_noise, args)
            tomo_rows.append(row)
            print(f"tomo {row['name']}: MAE SART {row['sart']['mae']:.2f} local {row['local']['mae']:.2f}", flush=True)
    mq = None
    if args.mq_rows > 0:
        mq = {**maxquant_rows(args), "time_per_row": args.mq_time}
        print(f"maxquant: RTN {mq['rtn']['max_error']:.4f} local {mq['dmmv.local']['max_error']:.4f}", flush=True)

    machine = (
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared, loaded); "
        f"numpy {np.__version__}; HiGHS via highspy {'installed' if installed('highspy') else 'not installed'}."
    )
    settings = {k: str(v) for k, v in vars(args).items()}
    if fir_rows:
        plot = plot_fir(fir_rows, args.out / "fir_responses.png")
        write(args.out, "fir", [machine, "", *fir_table(fir_rows, args.fir_time_limit), "", plot], fir_rows, settings)
    if tomo_rows:
        write(args.out, "tomography", [machine, "", *tomo_table(tomo_rows, args)], tomo_rows, settings)
    if mq is not None:
        write(args.out, "maxquant", [machine, "", *maxquant_table(mq)], mq, settings)


def write(folder: Path, section: str, lines: list[str], record: object, settings: dict) -> None:
    """Write one section's markdown and JSON, and print the markdown."""
    (folder / f"dmmv_apps_{section}.md").write_text("\n".join(lines) + "\n")
    (folder / f"dmmv_apps_{section}.json").write_text(json.dumps({"args": settings, section: record}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
