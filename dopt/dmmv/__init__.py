"""Discrete Min-Max Violation: pick each x_j from a finite set to minimise the worst violation."""

from dopt.dmmv import cpsat, gurobi, local, milp, rounding  # noqa: F401  (register the methods)
from dopt.dmmv.problem import DMMVProblem

__all__ = ["DMMVProblem"]
