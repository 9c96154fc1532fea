"""Benchmark instances of DMMV shared by the pytest-benchmark file and the report script."""

from __future__ import annotations

import numpy as np

from dopt.dmmv import DMMVProblem

LEVELS = 16


def off_grid_instance(n: int, seed: int = 0, rows_per_variable: int = 3, levels: int = LEVELS) -> DMMVProblem:
    """Gaussian A (3n x n), b = A z with z uniform in the domain's range: no grid point is planted."""
    rng = np.random.default_rng(seed)
    m = rows_per_variable * n
    A = rng.normal(size=(m, n))
    values = np.linspace(-1.0, 1.0, levels)
    z = rng.uniform(-1.0, 1.0, size=n)
    return DMMVProblem(A, values, b=A @ z, name=f"off-grid-n{n}-s{seed}")
