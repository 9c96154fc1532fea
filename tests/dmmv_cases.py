"""Small DMMV instances and the brute-force optimum, the independent reference of the DMMV tests."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from dopt.dmmv import DMMVProblem


def random_tiny_problem(seed: int, *, max_n: int = 8, max_levels: int = 5) -> DMMVProblem:
    """A random instance with n <= max_n, |D_j| <= max_levels, mixing equalities and ranges."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, max_n + 1))
    m = int(rng.integers(2, 2 * n + 2))
    k = int(rng.integers(2, max_levels + 1))
    A = np.round(rng.normal(size=(m, n)), 3)
    if seed % 3 == 0:  # some zero entries
        A[rng.random((m, n)) < 0.3] = 0.0
    if seed % 2 == 0:  # one shared domain
        values = np.sort(rng.choice(np.arange(-4, 5), size=k, replace=False)).astype(float)
    else:  # per-variable domains of different sizes, NaN-padded
        values = np.full((n, k), np.nan)
        for j in range(n):
            size = int(rng.integers(1, k + 1))
            values[j, :size] = np.sort(rng.uniform(-3, 3, size=size))
    z = rng.uniform(-2, 2, size=n)
    centre = A @ z
    if seed % 4 == 1:  # two-sided ranges, some one-sided
        half = rng.uniform(0, 0.5, size=m)
        lower, upper = centre - half, centre + half
        lower[rng.random(m) < 0.2] = -np.inf
        weights = rng.uniform(0.5, 2.0, size=m)
        return DMMVProblem(A, values, lower=lower, upper=upper, weights=weights, name=f"tiny-{seed}")
    if seed % 5 == 2:  # sparse storage
        return DMMVProblem(sp.csc_array(A), values, b=centre, name=f"tiny-{seed}")
    return DMMVProblem(A, values, b=centre, name=f"tiny-{seed}")


def brute_force(problem: DMMVProblem) -> tuple[float, np.ndarray]:
    """The exact optimum by enumerating every point of the domain product (tiny n only)."""
    sizes = problem.sizes
    best_value, best_levels = np.inf, None
    for levels in itertools.product(*(range(s) for s in sizes)):
        value = problem.objective(problem.value_of(np.array(levels)))
        if value < best_value:
            best_value, best_levels = value, np.array(levels)
    return best_value, best_levels


def gaussian_problem(n: int = 60, m: int = 180, levels: int = 16) -> DMMVProblem:
    """A random Gaussian system too big for HiGHS to prove optimal within a second."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(m, n))
    b = A @ rng.uniform(-1, 1, size=n) + rng.normal(scale=0.1, size=m)
    return DMMVProblem(A, np.linspace(-1, 1, levels), b=b)
