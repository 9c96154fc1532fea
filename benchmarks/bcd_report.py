"""The bcd benchmark report: the paper's iteration-count findings, and Lasso / L1-logistic against the peers.

    python benchmarks/bcd_report.py [--quick] [--out benchmarks/results]

Part 1 (iterations, as in Nutini et al.): fixed sorted blocks of size 5 and 50 on the paper's least-squares
and logistic recipes, every selection rule with gradient and matrix updates, iterations to reach
(f - f*) <= 1e-6 (f(0) - f*); label propagation on a lattice with tree blocks vs fixed blocks. Writes a
table and bcd_rules.png / bcd_labels.png. Part 2 (wall time): bcd.lasso vs scikit-learn, skglm and celer,
each to a duality gap <= 1e-6 x gap(0) (see bcd_peers.py), on scikit-learn's bundled data and on synthetic
correlated sparse data; and a 20-value regularisation path. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bcd_instances import bundled, correlated_sparse, lattice_labels, paper_least_squares, paper_logistic
from bcd_peers import PEERS, Run, head_to_head, installed, lambda_max

import dopt
from dopt.bcd import BCDProblem, regularization_path
from dopt.bcd.plot import plot_convergence

RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsq")
TARGET = 1e-6


def iterations_to(
    res: dopt.Result, f_star: float, f0: float, target: float = TARGET
) -> tuple[int | None, float | None]:
    """(first traced iteration, its seconds) with (f - f*) <= target (f0 - f*), or (None, None)."""
    trace = res.extras["trace"]
    gaps = (np.asarray(trace["objective"]) - f_star) / (f0 - f_star)
    hit = np.flatnonzero(gaps <= target)
    if not hit.size:
        return None, None
    return int(trace["iteration"][hit[0]]), float(trace["time"][hit[0]])


def reference(problem: BCDProblem) -> float:
    """f* by a long, tight run of the best configuration."""
    partition = "greedy_tree" if problem.loss == "label_propagation" else "variable"
    res = dopt.solve(
        problem, "bcd.greedy", partition=partition, selection="gsl", block_size=50, tol=1e-13, max_iter=200_000
    )
    return res.objective


def rules_table(problem: BCDProblem, sizes: tuple[int, ...], cap: int, out: Path | None) -> list[dict]:
    f_star = reference(problem)
    f0 = problem.objective(np.zeros(problem.x_shape))
    rows = []
    for partition in ("sorted", "variable"):
        for size in sizes:
            for update in ("gradient", "matrix"):
                runs, labels = [], []
                for rule in RULES:
                    res = dopt.solve(
                        problem,
                        "bcd.greedy",
                        partition=partition,
                        selection=rule,
                        update=update,
                        block_size=size,
                        max_iter=cap,
                        tol=0.0,
                        seed=1,
                    )
                    its, secs = iterations_to(res, f_star, f0)
                    rows.append(
                        {
                            "problem": problem.name,
                            "partition": partition,
                            "block": size,
                            "update": update,
                            "rule": rule,
                            "iterations": its,
                            "seconds": secs,
                        }
                    )
                    runs.append(res)
                    labels.append(f"{rule}")
                if out is not None and size == sizes[0]:
                    plot_convergence(
                        runs,
                        labels,
                        best=f_star,
                        out=out / f"bcd_rules_{problem.name}_{partition}_{update}.png",
                        title=f"{problem.name}, {partition} blocks of {size}, {update} updates",
                    )
    return rows


def labels_table(problem: BCDProblem, cap: int, out: Path | None) -> list[dict]:
    f_star = reference(problem)
    f0 = problem.objective(np.zeros(problem.x_shape))
    configs = [
        ("greedy_tree", "gsl", 0),
        ("greedy_tree", "random", 0),
        ("forest", "cyclic", 0),
        ("forest", "gsl", 0),
        ("sorted", "cyclic", 5),
        ("sorted", "gsl", 5),
        ("sorted", "gsq", 5),
        ("variable", "gsq", 5),
    ]
    rows, runs, names = [], [], []
    for partition, rule, size in configs:
        res = dopt.solve(
            problem,
            "bcd.greedy",
            partition=partition,
            selection=rule,
            block_size=size or 5,
            max_iter=cap,
            tol=0.0,
            seed=1,
        )
        name = f"{partition}/{rule}" + (f"/{size}" if size else "")
        its, secs = iterations_to(res, f_star, f0)
        rows.append({"problem": problem.name, "config": name, "iterations": its, "seconds": secs})
        runs.append(res)
        names.append(name)
    if out is not None:
        plot_convergence(
            runs, names, best=f_star, out=out / "bcd_labels.png", title=f"{problem.name}: tree blocks vs fixed"
        )
    return rows


def head_to_head_rows(quick: bool) -> list[dict]:
    cases: list[tuple[str, BCDProblem]] = []
    if installed("scikit-learn"):
        for name in ("diabetes", "breast_cancer", "digits"):
            A, b, loss = bundled(name)
            for frac in (0.1, 0.01):
                cases.append(
                    (f"{name} λmax/{int(1 / frac)}", BCDProblem(loss=loss, A=A, b=b, l1=frac * lambda_max(A, b, loss)))
                )
    n, p, density = (2000, 10000, 0.002) if quick else (10_000, 50_000, 0.001)
    X, y = correlated_sparse(n, p, density)
    labels = np.where(y > np.median(y), 1.0, -1.0)
    for loss, target in (("least_squares", y), ("logistic", labels)):
        for frac in (0.1, 0.01):
            name = f"synthetic {n}x{p} {loss} λmax/{int(1 / frac)}"
            cases.append((name, BCDProblem(loss=loss, A=X, b=target, l1=frac * lambda_max(X, target, loss))))
    rows = []
    for name, problem in cases:
        runs = head_to_head(problem, TARGET)
        rows.append({"case": name, "loss": problem.loss, "runs": [r.__dict__ for r in runs]})
        print(f"  {name}: " + ", ".join(f"{r.solver} {r.seconds:.3f}s" for r in runs), flush=True)
    return rows


def path_rows(quick: bool) -> list[dict]:
    n, p, density = (2000, 10000, 0.002) if quick else (10_000, 50_000, 0.001)
    X, y = correlated_sparse(n, p, density, seed=3)
    problem = BCDProblem(loss="least_squares", A=X, b=y, l1=1.0)
    regularization_path(problem, n_values=3, eps=0.1)  # compile
    t0 = time.perf_counter()
    path = regularization_path(problem, n_values=20, eps=0.01, tol=TARGET)
    rows = [
        {
            "solver": "dopt regularization_path",
            "seconds": time.perf_counter() - t0,
            "worst_relative_gap": float(np.max(path.gaps / np.maximum(path.objectives, 1e-300))),
        }
    ]
    alphas = path.l1_values / n
    if installed("scikit-learn"):
        from sklearn.linear_model import lasso_path

        t0 = time.perf_counter()
        lasso_path(X, y, alphas=alphas, tol=1e-7)
        rows.append({"solver": "scikit-learn lasso_path (tol 1e-7)", "seconds": time.perf_counter() - t0})
    if installed("celer"):
        from celer import celer_path

        celer_path(X, y, "lasso", alphas=alphas[:3], tol=1e-6)
        t0 = time.perf_counter()
        celer_path(X, y, "lasso", alphas=alphas, tol=1e-6)
        rows.append({"solver": "celer celer_path (tol 1e-6)", "seconds": time.perf_counter() - t0})
    return rows


def markdown_h2h(rows: list[dict]) -> str:
    lines = [
        "| case | dopt s | "
        + " | ".join(f"{p} s" for p in PEERS)
        + " | dopt / fastest peer | dopt rel. gap | obj. agree |",
        "|---|---|" + "---|" * len(PEERS) + "---|---|---|",
    ]
    for row in rows:
        runs = [Run(**r) for r in row["runs"]]
        ours, peers = runs[0], runs[1:]
        timed = [r.seconds for r in peers if np.isfinite(r.seconds) and not r.note]
        ratio = ours.seconds / min(timed) if timed else float("nan")
        objs = [r.objective for r in runs if np.isfinite(r.objective)]
        agree = (max(objs) - min(objs)) / abs(min(objs))
        cells = [f"{r.seconds:.3f}" if not r.note else f"{r.note}" for r in peers]
        lines.append(
            f"| {row['case']} | {ours.seconds:.3f} | "
            + " | ".join(cells)
            + f" | {ratio:.2f} | {ours.relative_gap:.1e} | {agree:.0e} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller instances (minutes, not tens of minutes)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--part", choices=("all", "rules", "peers"), default="all")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    for peer in PEERS:
        print(f"{peer}: {'installed' if installed(peer) else 'not installed'}")
    if args.part in ("all", "rules"):
        cap = 3000 if args.quick else 10000
        size = (200, 400) if args.quick else (300, 600)
        rows = rules_table(paper_least_squares(*size), (5, 50), cap, args.out)
        rows += rules_table(paper_logistic(*size), (5, 50), cap, args.out)
        report["rules"] = rows
        print(
            "\n| problem | blocks | size | update | "
            + " | ".join(RULES)
            + " |\n|---|---|---|---|"
            + "---|" * len(RULES)
        )
        for i in range(0, len(rows), len(RULES)):
            chunk = rows[i : i + len(RULES)]
            cells = [str(r["iterations"]) if r["iterations"] is not None else f">{cap}" for r in chunk]
            head = f"| {chunk[0]['problem']} | {chunk[0]['partition']} | {chunk[0]['block']} | {chunk[0]['update']} | "
            print(head + " | ".join(cells) + " |")
        lp = labels_table(lattice_labels(30 if args.quick else 50), cap, args.out)
        report["labels"] = lp
        print("\n| label propagation config | iterations to 1e-6 | seconds to 1e-6 |\n|---|---|---|")
        for r in lp:
            its = r["iterations"] if r["iterations"] is not None else f">{cap}"
            secs = f"{r['seconds']:.2f}" if r["seconds"] is not None else "—"
            print(f"| {r['config']} | {its} | {secs} |")
    if args.part in ("all", "peers"):
        print("\nhead-to-head (duality gap <= 1e-6 x gap(0)):", flush=True)
        h2h = head_to_head_rows(args.quick)
        report["head_to_head"] = h2h
        print(markdown_h2h(h2h))
        paths = path_rows(args.quick)
        report["path"] = paths
        print("\n| regularisation path, 20 values, λmax to λmax/100 | seconds |\n|---|---|")
        for r in paths:
            print(f"| {r['solver']} | {r['seconds']:.3f} |")
    (args.out / "bcd_report.json").write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
