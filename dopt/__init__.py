"""dopt: fast solvers for structured discrete and combinatorial optimization.

>>> import dopt
>>> problem = dopt.load("problems/dmmv/random-small.toml")  # doctest: +SKIP
>>> result = dopt.solve(problem, time_limit=5)               # doctest: +SKIP
"""

import importlib
from typing import Any

from dopt.core.batch import Failure, solve_many
from dopt.core.context import Progress
from dopt.core.errors import DoptError, FormatError, MethodError, ProblemError
from dopt.core.io import load, save
from dopt.core.problem import Problem
from dopt.core.registry import FAMILIES
from dopt.core.result import Result
from dopt.core.solve import list_methods, solve

__version__ = "0.1.0"

__all__ = [
    "DoptError",
    "Failure",
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
    "solve_many",
]


def __getattr__(name: str) -> Any:
    """Families (``dopt.dmmv``, ``dopt.dag``, ...) are imported on first use."""
    if name in FAMILIES:
        return importlib.import_module(f"dopt.{name}")
    raise AttributeError(f"module 'dopt' has no attribute {name!r}")
