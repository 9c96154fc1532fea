"""Completion benchmarks: exact recovery, cost per sweep vs rank, and dopt against its peers, in one run.

Run (the issue's sizes; each stage can be run alone with --stages):

    python benchmarks/completion_report.py --out benchmarks/results
    python benchmarks/completion_report.py --stages complexity --complexity-n 3000 --ranks 8 16 32 64

Stages:
  recovery    m = n = 2000, rank 5, 5% observed, no noise: relative Frobenius error of als and fast
  complexity  fixed m = n, densities x ranks: seconds per sweep of als and fast (log-log slope in k)
  spark       10k x 10k, 2% observed, rank 10, weighted lam: Spark MLlib ALS (local mode, warm second fit),
              the plain NumPy ALS reference, completion.als/.fast: time to reach Spark's validation RMSE
  rank32      completion.fast vs completion.als at rank 32 and 64: time to the same validation RMSE
  ratings     rating-like data (biases, power-law activity, ratings 1..5): biased ALS at rank 10 (lam grid),
              completion.fast/.svd, Surprise SVD and BaselineOnly, fancyimpute's SoftImpute (dense: up to
              --dense-limit entries); --movielens FILE adds a user's MovieLens copy

Writes ``completion.md`` (tables) and ``completion.json`` (every measurement) in the output folder, and
``completion_complexity.png`` when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from completion_peers import SparkALS, available, numpy_als, softimpute_fit, surprise_fit

import dopt
from dopt.bench.runner import warm_up
from dopt.completion import CompletionProblem, kernels, load_movielens, low_rank, rating_like
from dopt.completion.altmin import Omega


def time_to(history: list[tuple], target: float) -> float | None:
    """Seconds until the validation RMSE (4th field of each history point) first reaches ``target``."""
    for point in history:
        if point[3] <= target:
            return point[0]
    return None


def sweep_seconds(history: list[tuple]) -> float:
    """The least disturbed sweep's duration (the machine is shared), from consecutive history times."""
    times = np.diff([0.0] + [h[0] for h in history])
    return float(np.min(times[1:])) if times.size > 1 else float(times[0])


# ---------------------------------------------------------------------------- stages
def recovery(args: argparse.Namespace) -> list[dict]:
    problem, U, V = low_rank(2000, 2000, 5, 0.05, seed=args.seed)
    M = U @ V.T
    rows = []
    for method in ("completion.als", "completion.fast"):
        res = dopt.solve(problem, method, seed=args.seed, max_sweeps=200)
        err = float(np.linalg.norm(res.x["U"] @ res.x["V"].T - M) / np.linalg.norm(M))
        rows.append({"method": method, "rel_error": err, "sweeps": res.iterations, "seconds": res.wall_time})
        print(f"recovery {method}: rel error {err:.2e} in {res.iterations} sweeps, {res.wall_time:.2f} s")
    return rows


def update_seconds(problem: CompletionProblem, method: str, repeats: int = 3, single: bool = False) -> float:
    """Seconds of the row and column updates of one sweep alone (least disturbed of ``repeats``).

    ``single``: fast's passes in float32, as its sweeps run until they stall (precision="mixed").
    """
    omega = Omega(problem)
    rng = np.random.default_rng(0)
    m, n = problem.shape
    k = problem.rank
    U, V = rng.normal(size=(m, k)) / np.sqrt(k), rng.normal(size=(n, k)) / np.sqrt(k)
    lam_r, lam_c = (problem.lam * w for w in problem.penalty_weights())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        if method == "completion.als":
            kernels.exact_rows(omega.row_ptr, omega.cols_by_row, omega.values, V, lam_r, U)
            kernels.exact_rows(omega.col_ptr, omega.rows_by_col, omega.values_by_col, U, lam_c, V)
        else:
            work = np.float32 if single else np.float64
            kernels.cg_rows(omega.row_ptr, omega.cols_by_row, omega.values, V.astype(work), lam_r, U, 3, True)
            kernels.cg_rows(omega.col_ptr, omega.rows_by_col, omega.values_by_col, U.astype(work), lam_c, V, 3, True)
        times.append(time.perf_counter() - start)
    return min(times)


def complexity(args: argparse.Namespace) -> list[dict]:
    rows = []
    n = args.complexity_n
    for density in args.densities:
        for k in args.ranks:
            problem, _, _ = low_rank(n, n, k, density, noise=0.1, seed=args.seed, lam=0.05, weighted_lambda=True)
            for method in ("completion.als", "completion.fast"):
                extra = {"init": "random"} if method == "completion.fast" else {}
                res = dopt.solve(problem, method, max_sweeps=4, tol=0, **extra)
                row = {"method": method, "n": n, "density": density, "nnz": problem.nnz, "k": k}
                row.update(seconds=sweep_seconds(res.history), update=update_seconds(problem, method))
                if method == "completion.fast":
                    row["update_single"] = update_seconds(problem, method, single=True)
                rows.append(row)
                print(f"complexity {method} n={n} density={density} k={k}: {row['seconds']:.3f} s/sweep, "
                      f"updates {row['update']:.3f} s")  # fmt: skip
    return rows


def slopes(rows: list[dict]) -> dict[str, float]:
    """Least-squares slope of log(seconds) against log(k), per method, density and measure (sweep, updates)."""
    out = {}
    for method in ("completion.als", "completion.fast"):
        for density in sorted({r["density"] for r in rows}):
            for measure in ("seconds", "update", "update_single"):
                pts = sorted(
                    (r["k"], r[measure])
                    for r in rows
                    if r["method"] == method and r["density"] == density and measure in r
                )
                if len(pts) >= 2:
                    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
                    key = f"{method} {measure}, density {density:g}"
                    out[f"{key}, all k"] = float(np.polyfit(x, y, 1)[0])
                    out[f"{key}, top two k"] = float((y[-1] - y[-2]) / (x[-1] - x[-2]))
    return out


def spark_stage(args: argparse.Namespace) -> dict[str, Any]:
    n = args.spark_n
    problem, _, _ = low_rank(
        n, n, 10, args.spark_density, noise=0.1, seed=args.seed, validation=0.1, lam=0.05, weighted_lambda=True
    )
    out: dict[str, Any] = {"m": n, "n": n, "nnz": problem.nnz, "rank": 10, "lam": 0.05, "iterations": 10}
    if available()["spark"]:
        spark = SparkALS(threads=os.cpu_count() or 2)
        frames = spark.frames(problem)
        spark.fit(problem, frames, max_iter=10)  # cold fit: JVM warm-up
        out["spark"] = spark.fit(problem, frames, max_iter=10)
        spark.stop()
        target = out["spark"]["val_rmse"]
        print(f"spark: {out['spark']}")
    else:
        out["spark"] = "not installed"
        target = None
    runs = {
        "completion.als": dopt.solve(problem, "completion.als", max_sweeps=20, tol=1e-5),
        "completion.fast": dopt.solve(problem, "completion.fast", max_sweeps=40, tol=1e-5),
    }
    ref = numpy_als(problem, sweeps=args.numpy_sweeps)
    ref_history = [(t, 0.0, 0.0, v) for t, v in ref["history"]]
    goal = target if target is not None else runs["completion.als"].extras["val_rmse"] * 1.01
    out["target_rmse"] = goal
    out["numpy_als"] = {
        "history": ref["history"],
        "sweep_seconds": sweep_seconds(ref_history),
        "time_to_target": time_to(ref_history, goal),
    }
    for name, res in runs.items():
        out[name] = {
            "val_rmse": res.extras["val_rmse"],
            "sweeps": res.iterations,
            "seconds": res.wall_time,
            "sweep_seconds": sweep_seconds(res.history),
            "time_to_target": time_to(res.history, goal),
            "history": [(h[0], h[3]) for h in res.history],
        }
        print(f"{name}: {out[name]['val_rmse']:.4f} in {res.wall_time:.2f} s; to target {out[name]['time_to_target']}")
    print(f"numpy ALS: sweep {out['numpy_als']['sweep_seconds']:.2f} s; to target {out['numpy_als']['time_to_target']}")
    return out


def rank32(args: argparse.Namespace) -> list[dict]:
    rows = []
    n = args.rank32_n
    for k in (32, 64):
        problem, _, _ = low_rank(
            n, n, k, args.rank32_density, noise=0.1, seed=args.seed, validation=0.1, lam=0.05, weighted_lambda=True
        )
        als = dopt.solve(problem, "completion.als", max_sweeps=30, tol=1e-5)
        fast = dopt.solve(problem, "completion.fast", max_sweeps=60, tol=1e-6)
        target = max(als.extras["val_rmse"], fast.extras["val_rmse"]) * 1.001
        t_als, t_fast = time_to(als.history, target), time_to(fast.history, target)
        rows.append(
            {
                "k": k,
                "n": n,
                "nnz": problem.nnz,
                "target": target,
                "als_rmse": als.extras["val_rmse"],
                "fast_rmse": fast.extras["val_rmse"],
                "als_time": t_als,
                "fast_time": t_fast,
                "als_sweep": sweep_seconds(als.history),
                "fast_sweep": sweep_seconds(fast.history),
            }
        )
        print(f"rank {k}: {rows[-1]}")
    return rows


def ratings_stage(args: argparse.Namespace) -> list[dict]:
    sizes = {"ML-100k-like": (943, 1682, 100_000), "ML-1M-like": (6040, 3706, 1_000_000)}
    datasets: dict[str, CompletionProblem] = {
        name: rating_like(m, n, ratings=r, rank=10, lam=0.05, weighted_lambda=True, seed=args.seed, validation=0.2)
        for name, (m, n, r) in sizes.items()
        if name in args.rating_sets
    }
    if args.movielens:
        datasets["MovieLens (" + Path(args.movielens).name + ")"] = load_movielens(args.movielens, rank=10)[0]
    rows = []
    for name, base in datasets.items():

        def record(label: str, rmse: float, seconds: float, name: str = name, base: CompletionProblem = base) -> None:
            rows.append({"data": name, "ratings": base.nnz, "method": label, "val_rmse": rmse, "seconds": seconds})
            print(f"{name} {label}: {rmse:.4f} in {seconds:.2f} s")

        best = None
        for lam in args.lams:
            problem = _with_lam(base, lam)
            res = dopt.solve(problem, "completion.als", max_sweeps=15, tol=1e-4)
            record(f"completion.als lam={lam}", res.extras["val_rmse"], res.wall_time)
            if best is None or res.extras["val_rmse"] < best[1]:
                best = (lam, res.extras["val_rmse"])
        problem = _with_lam(base, best[0])
        res = dopt.solve(problem, "completion.fast", max_sweeps=30, tol=1e-4)
        record(f"completion.fast lam={best[0]}", res.extras["val_rmse"], res.wall_time)
        for lam in args.svd_lams:  # soft-impute's threshold is an unweighted lam
            res = dopt.solve(_with_lam(base, lam, weighted=False), "completion.svd", max_iters=100, tol=1e-4)
            record(f"completion.svd lam={lam} (unweighted)", res.extras["val_rmse"], res.wall_time)
        if available()["surprise"]:
            for label, algo, params in (
                ("Surprise SVD (n_factors=10)", "SVD", {"n_factors": 10, "random_state": 0}),
                ("Surprise SVD (defaults, 100 factors)", "SVD", {"random_state": 0}),
                ("Surprise BaselineOnly", "BaselineOnly", {"verbose": False}),
            ):
                fit = surprise_fit(base, algo, **params)
                record(label, fit["val_rmse"], fit["seconds"])
        else:
            record("Surprise: not installed", math.nan, math.nan)
        if not available()["fancyimpute"]:
            record("fancyimpute: not installed", math.nan, math.nan)
        elif base.shape[0] * base.shape[1] <= args.dense_limit:  # dense: only where the m x n matrix is small
            for lam in args.svd_lams:  # the same singular-value threshold and rank as completion.svd
                fit = softimpute_fit(base, shrinkage=lam, max_rank=base.rank)
                record(f"fancyimpute SoftImpute lam={lam} (rank {base.rank})", fit["val_rmse"], fit["seconds"])
    return rows


def _with_lam(problem: CompletionProblem, lam: float, weighted: bool = True) -> CompletionProblem:
    return dataclasses.replace(problem, lam=lam, weighted_lambda=weighted)


# ---------------------------------------------------------------------------- report
def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "not reached"
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Machine: {results['machine']}", ""]
    if "recovery" in results:
        lines += ["### Exact recovery (m = n = 2000, rank 5, 5% observed, no noise)", ""]
        lines += ["| method | relative Frobenius error | sweeps | seconds |", "|---|---|---|---|"]
        for r in results["recovery"]:
            lines.append(f"| {r['method']} | {r['rel_error']:.1e} | {r['sweeps']} | {r['seconds']:.2f} |")
        lines.append("")
    if "complexity" in results:
        rows = results["complexity"]
        lines += [f"### Seconds per sweep (m = n = {rows[0]['n']}, least disturbed of 3)", ""]
        lines += [
            "Whole sweep (updates + objective and RMSEs; fast's sweeps in float32, as before they stall) and the "
            "row/column updates alone (fast's in float64 and in float32).",
            "",
            "| density | nnz | k | als sweep | fast sweep | als updates | fast updates | fast float32 updates "
            "| als / fast float32 (updates) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for density in sorted({r["density"] for r in rows}):
            for k in sorted({r["k"] for r in rows}):
                pick = {r["method"]: r for r in rows if r["density"] == density and r["k"] == k}
                a, f = pick["completion.als"], pick["completion.fast"]
                lines.append(
                    f"| {density:g} | {a['nnz']} | {k} | {a['seconds']:.3f} | {f['seconds']:.3f} | "
                    f"{a['update']:.3f} | {f['update']:.3f} | {f['update_single']:.3f} | "
                    f"{a['update'] / f['update_single']:.1f} |"
                )
        lines += ["", "Log-log slope of seconds against k (1 = linear, 2 = quadratic):", ""]
        lines += [f"- {key}: {value:.2f}" for key, value in results["slopes"].items()]
        lines.append("")
    if "spark" in results:
        s = results["spark"]
        lines += [
            f"### Head-to-head, {s['m']} x {s['n']}, {s['nnz']} training entries, rank 10, weighted lam 0.05",
            "",
            f"Target: Spark's validation RMSE after {s['iterations']} iterations ({_fmt(s['target_rmse'], '.4f')}).",
            "",
            "| solver | validation RMSE | fit seconds | seconds per sweep | seconds to target | speed-up vs |",
            "|---|---|---|---|---|---|",
        ]
        spark = s["spark"]
        if isinstance(spark, dict):
            lines.append(
                f"| Spark MLlib ALS (local, warm fit) | {spark['val_rmse']:.4f} | {spark['seconds']:.2f} | "
                f"{spark['seconds'] / s['iterations']:.2f} | {spark['seconds']:.2f} | |"
            )
        else:
            lines.append("| Spark MLlib ALS | not installed | | | | |")
        ref = s["numpy_als"]
        lines.append(
            f"| NumPy ALS reference | {ref['history'][-1][1]:.4f} | {ref['history'][-1][0]:.2f} | "
            f"{ref['sweep_seconds']:.2f} | {_fmt(ref['time_to_target'], '.2f')} | |"
        )
        for name in ("completion.als", "completion.fast"):
            r = s[name]
            vs = []
            if r["time_to_target"] is not None and isinstance(spark, dict):
                vs.append(f"Spark {spark['seconds'] / r['time_to_target']:.1f}x")
            if r["time_to_target"] is not None and ref["time_to_target"] is not None:
                vs.append(f"NumPy {ref['time_to_target'] / r['time_to_target']:.1f}x")
            vs.append(f"NumPy per sweep {ref['sweep_seconds'] / r['sweep_seconds']:.1f}x")
            lines.append(
                f"| {name} | {r['val_rmse']:.4f} | {r['seconds']:.2f} | {r['sweep_seconds']:.3f} | "
                f"{_fmt(r['time_to_target'], '.2f')} | {', '.join(vs)} |"
            )
        lines.append("")
    if "rank32" in results:
        lines += ["### completion.fast vs completion.als at high rank (time to the same validation RMSE)", ""]
        lines += [
            "| k | n | nnz | target RMSE | als s | fast s | als / fast | als s/sweep | fast s/sweep |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results["rank32"]:
            ratio = r["als_time"] / r["fast_time"] if r["als_time"] and r["fast_time"] else None
            lines.append(
                f"| {r['k']} | {r['n']} | {r['nnz']} | {r['target']:.4f} | {_fmt(r['als_time'], '.2f')} | "
                f"{_fmt(r['fast_time'], '.2f')} | {_fmt(ratio, '.1f')} | {r['als_sweep']:.3f} | {r['fast_sweep']:.3f} |"
            )
        lines.append("")
    if "ratings" in results:
        lines += ["### Rating-like data: validation RMSE (20% held out)", ""]
        lines += ["| data | ratings | method | validation RMSE | seconds |", "|---|---|---|---|---|"]
        for r in results["ratings"]:
            lines.append(
                f"| {r['data']} | {r['ratings']} | {r['method']} | {_fmt(r['val_rmse'], '.4f')} | "
                f"{_fmt(r['seconds'], '.2f')} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(5, 3.5))
    curves = (("completion.als", "update", "o", "als"), ("completion.fast", "update", "s", "fast"))
    curves += (("completion.fast", "update_single", "^", "fast float32"),)
    for method, measure, marker, name in curves:
        for density in sorted({r["density"] for r in rows}):
            pts = sorted((r["k"], r[measure]) for r in rows if r["method"] == method and r["density"] == density)
            ax.loglog(*zip(*pts, strict=True), marker=marker, label=f"{name}, density {density:g}")
    ax.set_xlabel("rank k")
    ax.set_ylabel("seconds per sweep (updates)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--stages", nargs="+", default=["recovery", "complexity", "spark", "rank32", "ratings"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--complexity-n", type=int, default=4000)
    parser.add_argument("--densities", type=float, nargs="+", default=[0.01, 0.02])
    parser.add_argument("--ranks", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--spark-n", type=int, default=10_000)
    parser.add_argument("--spark-density", type=float, default=0.02)
    parser.add_argument("--numpy-sweeps", type=int, default=8)
    parser.add_argument("--rank32-n", type=int, default=3000)
    parser.add_argument("--rank32-density", type=float, default=0.1)
    parser.add_argument("--rating-sets", nargs="+", default=["ML-100k-like", "ML-1M-like"])
    parser.add_argument("--lams", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.5])
    parser.add_argument("--svd-lams", type=float, nargs="+", default=[5.0, 10.0, 20.0])
    parser.add_argument(
        "--dense-limit", type=int, default=2_000_000, help="largest m x n fancyimpute is run on (it works densely)"
    )
    parser.add_argument("--movielens", help="a MovieLens ratings file (u.data, ratings.dat or ratings.csv)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warm_up("completion")  # kernels compiled (serial and parallel) outside the timings
    results: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"}
    results["peers"] = available()
    stages = {"recovery": recovery, "complexity": complexity, "spark": spark_stage, "rank32": rank32}
    stages["ratings"] = ratings_stage
    for stage in args.stages:
        start = time.perf_counter()
        results[stage] = stages[stage](args)
        print(f"[{stage}: {time.perf_counter() - start:.0f} s]")
    if "complexity" in results:
        results["slopes"] = slopes(results["complexity"])
        plot(results["complexity"], out / "completion_complexity.png")
    tag = "" if len(args.stages) == 5 else "_" + "_".join(args.stages)
    (out / f"completion{tag}.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    (out / f"completion{tag}.md").write_text(markdown(results) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
