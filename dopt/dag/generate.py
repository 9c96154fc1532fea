"""``dopt generate dag ... -o DIR_OR_FILE``: a simulated SEM as a problem file with its true graph."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from dopt.core.errors import ProblemError
from dopt.dag.files import save_csv
from dopt.dag.simulate import GRAPHS, NOISES, simulated_problem


def parser() -> argparse.ArgumentParser:
    """The options of the dag generator (argv starts with ``dag``)."""
    top = argparse.ArgumentParser(prog="dopt generate", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="generator", metavar="GENERATOR", required=True)
    p = sub.add_parser("dag", help="simulated linear (or logistic) SEM on a random DAG, with its true graph")
    p.add_argument("--graph", choices=GRAPHS, default="ER", help="Erdős-Rényi or scale-free (default ER)")
    p.add_argument("--degree", type=float, default=2.0, help="expected edges per node (default 2)")
    p.add_argument("--d", type=int, default=20, help="variables (default 20)")
    p.add_argument("--n", type=int, default=1000, help="samples (default 1000)")
    p.add_argument("--noise", choices=NOISES, default="gauss", help="noise (logistic: binary data, logistic score)")
    p.add_argument("--seed", type=int, default=0, help="graph, weights and noise seed (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="DIR|FILE.toml", help="where to write the problem")
    return top


def main(argv: Sequence[str]) -> int:
    """Simulate, write ``<name>.toml`` (with ``.X.csv`` and ``.graph.csv``), print one line."""
    args = parser().parse_args(argv)
    try:
        problem = simulated_problem(
            args.d, args.n, graph=args.graph, degree=args.degree, noise=args.noise, seed=args.seed
        )
    except ValueError as exc:
        raise ProblemError(f"dag: {exc}") from None
    problem.defaults.update(method="dag.topo")
    out = Path(args.output)
    path = save_csv(problem, out if out.suffix == ".toml" else out / f"{problem.name}.toml")
    print(f"wrote {path}: {problem.description}")
    return 0
