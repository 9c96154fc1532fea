"""Completion data: synthetic generators and readers of rating files (CSV with a header, MovieLens formats).

MovieLens may not be redistributed, so dopt ships only the reader: point
:func:`load_movielens` at a copy you downloaded.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from dopt.completion.problem import CompletionProblem
from dopt.core.errors import FormatError

SALT = 0xC0  # generators draw from default_rng([SALT, seed]), never the stream a solver's default_rng(seed) draws


def sample_entries(m: int, n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct entries of an m x n matrix drawn uniformly, in row-major order."""
    if count > m * n:
        raise ValueError(f"cannot sample {count} distinct entries of a {m} x {n} matrix")
    picked = _distinct(rng.integers(0, m * n, size=count + count // 8 + 16))
    while picked.size < count:  # rare: too many collisions
        picked = _distinct(np.concatenate([picked, rng.integers(0, m * n, size=count)]))
    picked = np.sort(rng.permutation(picked)[:count])
    return picked // n, picked % n


def low_rank(
    m: int,
    n: int,
    rank: int,
    density: float,
    *,
    noise: float = 0.0,
    seed: int = 0,
    validation: float = 0.0,
    **problem_kwargs: Any,
) -> tuple[CompletionProblem, np.ndarray, np.ndarray]:
    """A rank-``rank`` matrix U* V*^T with Gaussian (incoherent) factors, observed at uniformly random entries.

    Returns the problem (rank ``rank``, plus ``problem_kwargs`` such as lam) and the true factors, scaled
    so that the entries have unit variance. ``noise`` adds N(0, noise^2) to the observed values and
    ``validation`` holds out that fraction of the sampled entries.
    """
    rng = np.random.default_rng([SALT, seed])
    scale = rank**-0.25
    U = rng.normal(0.0, scale, size=(m, rank))
    V = rng.normal(0.0, scale, size=(n, rank))
    total = round(density * m * n)
    held = round(validation * total)
    rows, cols = sample_entries(m, n, total, rng)
    values = np.einsum("tk,tk->t", U[rows], V[cols]) + noise * rng.normal(size=total)
    is_val = np.zeros(total, dtype=bool)
    is_val[rng.choice(total, size=held, replace=False)] = True
    problem_kwargs.setdefault("name", f"low-rank-{m}x{n}-r{rank}")
    problem = CompletionProblem(
        rows[~is_val],
        cols[~is_val],
        values[~is_val],
        shape=(m, n),
        rank=rank,
        val_rows=rows[is_val] if held else None,
        val_cols=cols[is_val] if held else None,
        val_values=values[is_val] if held else None,
        **problem_kwargs,
    )
    return problem, U, V


def rating_like(
    m: int,
    n: int,
    *,
    ratings: int,
    true_rank: int = 5,
    rank: int = 10,
    noise: float = 0.8,
    power: float = 1.2,
    validation: float = 0.1,
    seed: int = 0,
    **problem_kwargs: Any,
) -> CompletionProblem:
    """Synthetic ratings 1..5: mean + user and item biases + a rank-``true_rank`` term + noise, rounded.

    Users and items get power-law activity (Pareto weights with exponent ``power``), so a few rate or
    are rated very often and many rarely, as in real rating data; entries are drawn with probability
    proportional to the product of the weights. ``validation`` of the ratings are held out.
    """
    rng = np.random.default_rng([SALT, seed])
    user_w = rng.pareto(power, size=m) + 1.0
    item_w = rng.pareto(power, size=n) + 1.0
    u = rng.choice(m, size=3 * ratings, p=user_w / user_w.sum())
    i = rng.choice(n, size=3 * ratings, p=item_w / item_w.sum())
    key = _distinct(u.astype(np.int64) * n + i)
    key = rng.permutation(key)[:ratings]
    rows, cols = key // n, key % n
    U = rng.normal(0.0, 0.6 / true_rank**0.25, size=(m, true_rank))
    V = rng.normal(0.0, 0.6 / true_rank**0.25, size=(n, true_rank))
    score = 3.5 + rng.normal(0.0, 0.4, size=m)[rows] + rng.normal(0.0, 0.5, size=n)[cols]
    score += np.einsum("tk,tk->t", U[rows], V[cols]) + noise * rng.normal(size=rows.size)
    values = np.clip(np.round(score), 1.0, 5.0)
    held = rng.random(rows.size) < validation
    problem_kwargs.setdefault("biases", True)
    return CompletionProblem(
        rows[~held],
        cols[~held],
        values[~held],
        shape=(m, n),
        rank=rank,
        val_rows=rows[held],
        val_cols=cols[held],
        val_values=values[held],
        **problem_kwargs,
    )


def read_ratings(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user ids, item ids, ratings) from a ratings file.

    Formats: MovieLens ``u.data`` (tab-separated), ``ratings.dat`` (``::``-separated), and CSV
    (``ratings.csv`` or any ``user,item,rating[,...]`` file, with or without a header line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read ({exc})") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise FormatError(f"{path}: no ratings")
    if "::" in lines[0]:
        table = [line.split("::") for line in lines]
    elif "\t" in lines[0]:
        table = [line.split("\t") for line in lines]
    else:
        table = list(csv.reader(lines))
    if table and not _is_number(table[0][0]):  # a header line
        table = table[1:]
    try:
        arr = np.array([row[:3] for row in table], dtype=np.float64)
    except ValueError as exc:
        raise FormatError(f"{path}: expected user, item, rating columns ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise FormatError(f"{path}: expected at least three columns (user, item, rating)")
    return arr[:, 0], arr[:, 1], arr[:, 2]


def load_movielens(
    path: str | Path, *, rank: int = 10, lam: float = 0.05, validation: float = 0.2, seed: int = 0, **kwargs: Any
) -> tuple[CompletionProblem, np.ndarray, np.ndarray]:
    """A biased, weighted-lambda completion problem from a MovieLens (or any) ratings file.

    User and item ids are mapped to 0..m-1 and 0..n-1 in sorted order; the id arrays come back
    with the problem (row r is user ``users[r]``). ``validation`` of the ratings are held out at
    random (numpy default_rng(seed)).
    """
    raw_u, raw_i, values = read_ratings(path)
    users, rows = np.unique(raw_u, return_inverse=True)
    items, cols = np.unique(raw_i, return_inverse=True)
    held = np.random.default_rng(seed).random(values.size) < validation
    kwargs.setdefault("biases", True)
    kwargs.setdefault("weighted_lambda", True)
    kwargs.setdefault("name", Path(path).stem)
    problem = CompletionProblem(
        rows[~held],
        cols[~held],
        values[~held],
        shape=(users.size, items.size),
        rank=rank,
        lam=lam,
        val_rows=rows[held] if held.any() else None,
        val_cols=cols[held] if held.any() else None,
        val_values=values[held] if held.any() else None,
        **kwargs,
    )
    return problem, users, items


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``keys`` (by sorting: faster here than np.unique's hashing on large arrays)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
