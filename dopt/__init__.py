"""dopt: fast solvers for structured discrete and combinatorial optimization.

>>> import dopt
>>> problem = dopt.load("problems/dmmv/random-small.toml")  # doctest: +SKIP
>>> result = dopt.solve(problem, time_limit=5)               # doctest: +SKIP
"""

from dopt import dmmv  # noqa: F401  (registers the family)
from dopt.core.context import Progress
from dopt.core.errors import DoptError, FormatError, MethodError, ProblemError
from dopt.core.io import load, save
from dopt.core.problem import Problem
from dopt.core.result import Result
from dopt.core.solve import list_methods, solve

__version__ = "0.1.0"

__all__ = [
    "DoptError",
    "FormatError",
    "MethodError",
    "Problem",
    "ProblemError",
    "Progress",
    "Result",
    "list_methods",
    "load",
    "save",
    "solve",
]
