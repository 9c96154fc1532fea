"""The completion peers live in :mod:`dopt.completion.peers` (``dopt bench`` uses them).

Kept so the benchmark scripts' ``from completion_peers import ...`` lines keep working.
"""

from dopt.completion.peers import SparkALS, available, numpy_als, softimpute_fit, surprise_fit, val_rmse

__all__ = ["SparkALS", "available", "numpy_als", "softimpute_fit", "surprise_fit", "val_rmse"]
