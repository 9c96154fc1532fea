"""Block coordinate descent with greedy rules: least squares, logistic, multinomial, label propagation, L1."""

from dopt.bcd import greedy, lasso  # noqa: F401  (register the methods)
from dopt.bcd.libsvm import load_libsvm, read_libsvm
from dopt.bcd.path import PathResult, lambda_max, regularization_path
from dopt.bcd.problem import BCDProblem

__all__ = ["BCDProblem", "PathResult", "lambda_max", "load_libsvm", "read_libsvm", "regularization_path"]
