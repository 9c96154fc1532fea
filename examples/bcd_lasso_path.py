"""Fit an L1-regularised model along a regularisation path, from a LIBSVM file or a problem manifest.

    python examples/bcd_lasso_path.py problems/bcd/small-logistic.svm --loss logistic
    python examples/bcd_lasso_path.py problems/bcd/small-lasso.toml --values 30 --eps 1e-3
    python examples/bcd_lasso_path.py data.svm --loss least_squares --save data.toml   # convert to a manifest

Prints, per L1 weight, the support size, the objective, the duality gap and the seconds spent.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import dopt
from dopt.bcd import BCDProblem, load_libsvm, regularization_path


def read(path: Path, loss: str) -> BCDProblem:
    if path.suffix in (".toml", ".npz"):
        return dopt.load(path)
    return load_libsvm(path, loss=loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="LIBSVM file, .toml manifest or .npz problem")
    parser.add_argument("--loss", default="logistic", choices=("least_squares", "logistic"))
    parser.add_argument("--values", type=int, default=20, help="number of L1 weights")
    parser.add_argument("--eps", type=float, default=1e-2, help="smallest weight as a fraction of lambda_max")
    parser.add_argument("--tol", type=float, default=1e-6, help="relative duality gap at each weight")
    parser.add_argument("--save", type=Path, help="also write the problem as a dopt manifest")
    args = parser.parse_args()
    problem = read(args.data, args.loss)
    if args.save:
        print("manifest:", dopt.save(problem, args.save))
    path = regularization_path(problem, n_values=args.values, eps=args.eps, tol=args.tol)
    print(f"{'l1':>12} {'support':>8} {'objective':>14} {'gap':>10} {'seconds':>8}")
    for k, lam in enumerate(path.l1_values):
        support = int(np.count_nonzero(path.coefs[:, k]))
        print(f"{lam:12.5g} {support:8d} {path.objectives[k]:14.8g} {path.gaps[k]:10.2e} {path.seconds[k]:8.4f}")
    print(f"total {path.total_seconds:.3f} s")


if __name__ == "__main__":
    main()
