"""Write the bundled rating-like completion problem: ratings as CSV files beside a TOML manifest.

    python examples/completion_ratings.py -o problems/completion/ratings-small.toml

Synthetic ratings 1..5 (mean + user and item biases + a rank-5 term + noise,
rounded), with power-law numbers of ratings per user and item; 10% held out
for validation. The problem fits rank 10 with biases and weighted lambda.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tomli_w

from dopt.completion import CompletionProblem, rating_like

PARAMS = {"m": 600, "n": 400, "ratings": 24_000, "seed": 0}
SOLVE = {"method": "completion.als", "time_limit": 30.0}


def ratings_small() -> CompletionProblem:
    """The bundled instance (numpy default_rng(0))."""
    return rating_like(
        PARAMS["m"], PARAMS["n"], ratings=PARAMS["ratings"], rank=10, lam=0.1, weighted_lambda=True, seed=PARAMS["seed"]
    )


def write(problem: CompletionProblem, path: Path) -> None:
    """Manifest + ``<stem>.ratings.csv`` and ``<stem>.validation.csv`` (user,item,rating; 0-based ids)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "user,item,rating (0-based ids)"
    files = {}
    for key, (r, c, v) in {
        "ratings": (problem.rows, problem.cols, problem.values),
        "validation": (problem.val_rows, problem.val_cols, problem.val_values),
    }.items():
        target = path.with_name(f"{path.stem}.{key}.csv")
        np.savetxt(target, np.column_stack([r, c, v]), fmt=["%d", "%d", "%g"], delimiter=",", header=header)
        files[key] = target.name
    m, n = problem.shape
    manifest = {
        "kind": "completion",
        "name": path.stem,
        "description": (
            f"Synthetic ratings 1..5 of {m} users x {n} items ({problem.nnz} training, {problem.val_values.size} "
            "held out): 3.5 + user bias + item bias + rank-5 term + N(0, 0.8^2) noise, rounded and clipped; "
            "power-law activity per user and item (examples/completion_ratings.py)."
        ),
        "params": {"m": m, "n": n, "rank": 10, "lam": 0.1, "weighted_lambda": True, "biases": True},
        "data": files,
        "solve": SOLVE,
    }
    path.write_text(tomli_w.dumps(manifest))


def main(argv: Sequence[str] | None = None) -> None:
    """Generate the problem and write its files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="problems/completion/ratings-small.toml", help="manifest to write")
    args = parser.parse_args(argv)
    problem = ratings_small()
    write(problem, Path(args.output))
    print(f"wrote {args.output}: {problem.nnz} ratings, {problem.val_values.size} held out")


if __name__ == "__main__":
    main()
