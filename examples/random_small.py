"""Write a small random DMMV instance whose optimum is known by exhaustive search.

    python examples/random_small.py -o problems/dmmv/random-small.toml

n = 8 variables over the 5 levels {-2, ..., 2} give 5^8 = 390625 points,
enumerated in vectorised chunks; the optimum goes into the description.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import dopt
from dopt.dmmv import DMMVProblem

DEFAULTS = {"method": "dmmv.local", "time_limit": 5.0}


def random_small(seed: int = 0, n: int = 8, m: int = 20) -> DMMVProblem:
    """A dense instance (A ~ N(0, 1), x_j in {-2..2}, b = A z for off-grid z) with its optimum in the description."""
    rng = np.random.default_rng(seed)
    A = np.round(rng.normal(size=(m, n)), 2)
    b = np.round(A @ rng.uniform(-2.0, 2.0, size=n), 3)
    values = np.arange(-2.0, 3.0)
    optimum, _ = exhaustive_optimum(DMMVProblem(A, values, b=b))
    description = (
        f"Random dense DMMV instance: {n} variables in {{-2, -1, 0, 1, 2}}, {m} equality rows, "
        f"A ~ N(0, 1) rounded to 2 decimals, b = A z rounded to 3 decimals with z ~ U(-2, 2)^{n} "
        f"(numpy default_rng({seed})); optimum {optimum:.4f}, by exhaustive search over {values.size**n} points."
    )
    return DMMVProblem(A, values, b=b, name="random-small", description=description, defaults=dict(DEFAULTS))


def exhaustive_optimum(problem: DMMVProblem, chunk: int = 1 << 16) -> tuple[float, np.ndarray]:
    """The exact optimum and its levels by enumerating every point, ``chunk`` points per array operation.

    Points go in ``itertools.product`` order (last variable fastest) and ties keep the first,
    like ``tests/dmmv_cases.brute_force``.
    """
    sizes = problem.sizes
    strides = np.r_[np.cumprod(sizes[::-1])[::-1][1:], 1]
    total = int(np.prod(sizes))
    A = problem.A.toarray() if problem.is_sparse else problem.A
    columns = np.arange(sizes.size)
    best_value, best_index = np.inf, -1
    for start in range(0, total, chunk):
        index = np.arange(start, min(start + chunk, total))
        levels = (index[:, None] // strides) % sizes
        s = problem.values[columns, levels] @ A.T
        worst = (problem.weights * np.maximum(0.0, np.maximum(s - problem.upper, problem.lower - s))).max(axis=1)
        k = int(np.argmin(worst))
        if worst[k] < best_value:
            best_value, best_index = float(worst[k]), int(index[k])
    return best_value, (best_index // strides) % sizes


def main(argv: Sequence[str] | None = None) -> None:
    """Build the instance, search it exhaustively and write the problem file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="problems/dmmv/random-small.toml", help="problem file to write")
    args = parser.parse_args(argv)
    problem = random_small()
    print(f"wrote {dopt.save(problem, args.output)}: {problem.description}")


if __name__ == "__main__":
    main()
