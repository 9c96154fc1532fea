"""``dopt generate completion|ratings ... -o FILE``: write a synthetic completion problem file.

``completion`` draws a random low-rank matrix (Gaussian, hence incoherent,
factors) observed at uniformly random entries, optionally noisy;
``ratings`` draws rating-like data (biases, power-law activity, ratings 1..5).
Both write with ``dopt.save`` (a TOML manifest plus .npy arrays beside it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import dopt
from dopt.completion.data import low_rank, rating_like
from dopt.completion.problem import CompletionProblem

DEFAULTS = {"method": "completion.als", "time_limit": 60.0}


def parser() -> argparse.ArgumentParser:
    """The generators and their options."""
    top = argparse.ArgumentParser(prog="dopt generate", description=__doc__)
    sub = top.add_subparsers(dest="generator", metavar="GENERATOR", required=True)
    c = sub.add_parser("completion", help="random low-rank matrix observed at uniformly random entries")
    c.add_argument("--m", type=int, required=True, help="rows")
    c.add_argument("--n", type=int, required=True, help="columns")
    c.add_argument("--rank", type=int, required=True, help="rank of the matrix (and of the fit)")
    c.add_argument("--density", type=float, required=True, help="fraction of entries observed")
    c.add_argument("--noise", type=float, default=0.0, help="standard deviation of Gaussian noise on the entries")
    c.add_argument("--lam", type=float, default=0.0, help="L2 weight of the problem")
    r = sub.add_parser("ratings", help="rating-like data: biases + low rank + noise, rounded to 1..5")
    r.add_argument("--m", type=int, required=True, help="users")
    r.add_argument("--n", type=int, required=True, help="items")
    r.add_argument("--ratings", type=int, required=True, help="number of ratings drawn (duplicates dropped)")
    r.add_argument("--rank", type=int, default=10, help="rank of the fit")
    r.add_argument("--lam", type=float, default=0.1, help="L2 weight (weighted by counts)")
    for p in (c, r):
        p.add_argument("--validation", type=float, default=0.0 if p is c else 0.1, help="fraction held out")
        p.add_argument("--seed", type=int, default=0, help="random seed")
        p.add_argument("--name", help="problem name")
        p.add_argument("-o", "--output", required=True, help="problem file to write (.toml)")
    return top


def build(args: argparse.Namespace) -> CompletionProblem:
    """The problem the parsed arguments describe."""
    if args.generator == "completion":
        name = args.name or f"low-rank-{args.m}x{args.n}-r{args.rank}-d{args.density:g}-s{args.seed}"
        problem, _, _ = low_rank(
            args.m,
            args.n,
            args.rank,
            args.density,
            noise=args.noise,
            seed=args.seed,
            validation=args.validation,
            lam=args.lam,
            name=name,
            defaults=dict(DEFAULTS),
        )
        return problem
    name = args.name or f"ratings-{args.m}x{args.n}-s{args.seed}"
    return rating_like(
        args.m,
        args.n,
        ratings=args.ratings,
        rank=args.rank,
        lam=args.lam,
        weighted_lambda=True,
        validation=args.validation,
        seed=args.seed,
        name=name,
        defaults=dict(DEFAULTS),
    )


def main(argv: Sequence[str]) -> int:
    """Parse ``argv``, build the problem, write it, print one line; returns 0 (argparse exits on bad usage)."""
    args = parser().parse_args(list(argv))
    problem = build(args)
    path = dopt.save(problem, args.output)
    held = 0 if problem.val_values is None else problem.val_values.size
    print(f"wrote {path}: {problem.shape[0]} x {problem.shape[1]}, {problem.nnz} observed, {held} held out")
    return 0
