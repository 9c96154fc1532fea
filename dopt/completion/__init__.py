"""Low-rank matrix completion by alternating minimisation (exact and fast approximate updates)."""

from dopt.completion import als, fast, svd  # noqa: F401  (register the methods)
from dopt.completion.data import load_movielens, low_rank, rating_like, read_ratings
from dopt.completion.model import predict
from dopt.completion.problem import CompletionProblem

__all__ = ["CompletionProblem", "load_movielens", "low_rank", "predict", "rating_like", "read_ratings"]
