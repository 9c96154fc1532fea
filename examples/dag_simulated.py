"""Write a simulated DAG-learning problem (linear SEM on a random DAG, with its true graph) and solve it.

    python examples/dag_simulated.py --graph ER --degree 2 --d 10 --n 500 --seed 0 \
        -o problems/dag/er2-d10.toml --solve

The data go to a CSV file beside the manifest; ``dopt solve`` on the manifest reports
the SHD, TPR and FDR of the learned graph against the true one.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import dopt
from dopt.dag.files import save_csv
from dopt.dag.simulate import GRAPHS, NOISES, simulated_problem


def main(argv: Sequence[str] | None = None) -> None:
    """Simulate, write the problem file, and optionally solve it with dag.topo."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", choices=GRAPHS, default="ER")
    parser.add_argument("--degree", type=float, default=2.0, help="expected edges per node (ER2: 2d edges)")
    parser.add_argument("--d", type=int, default=10, help="variables")
    parser.add_argument("--n", type=int, default=500, help="samples")
    parser.add_argument("--noise", choices=NOISES, default="gauss")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="problems/dag/er2-d10.toml", help="manifest to write")
    parser.add_argument("--solve", action="store_true", help="solve the written file with dag.topo")
    args = parser.parse_args(argv)
    problem = simulated_problem(args.d, args.n, graph=args.graph, degree=args.degree, noise=args.noise, seed=args.seed)
    problem.defaults.update(method="dag.topo", time_limit=60.0)
    path = save_csv(problem, args.output)
    print(f"wrote {path}: {problem.description}")
    if args.solve:
        result = dopt.solve(path)
        print(result.summary())
        print({key: result.extras[key] for key in ("shd", "tpr", "fdr", "nnz")})


if __name__ == "__main__":
    main()
