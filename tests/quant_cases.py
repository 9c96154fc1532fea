"""Small quantization instances and direct (unblocked, uninverted) reference implementations for the quant tests."""

from __future__ import annotations

import itertools

import numpy as np

from dopt.quant import QuantProblem
from dopt.quant.grid import Grid, find_params, quantize


def random_problem(
    q: int = 12,
    p: int = 10,
    n: int | None = None,
    *,
    seed: int = 0,
    bits: int = 3,
    correlated: bool = True,
    **params,
) -> QuantProblem:
    """W with heavy-tailed rows and X (p × n) with correlated, unevenly scaled inputs."""
    rng = np.random.default_rng(seed)
    n = 4 * p if n is None else n
    W = rng.standard_t(4, size=(q, p))
    X = rng.normal(size=(p, n))
    if correlated:
        mix = np.eye(p) + 0.4 * rng.normal(size=(p, p)) / np.sqrt(p)
        X = (mix @ X) * np.exp(rng.normal(scale=0.7, size=(p, 1)))
    return QuantProblem(W=W, X=X, bits=bits, name=f"random-{q}x{p}-s{seed}", **params)


def objective_direct(W: np.ndarray, X: np.ndarray, x: np.ndarray) -> float:
    """‖(W − x)X‖²_F from the activations themselves."""
    return float(np.linalg.norm((W - x) @ X) ** 2)


def gptq_reference(
    W: np.ndarray,
    Sigma: np.ndarray,
    bits: int,
    *,
    damping: float = 0.01,
    order: np.ndarray | None = None,
    grid: Grid | None = None,
    group_size: int = 0,
    sym: bool = False,
) -> np.ndarray:
    """GPTQ as the optimal-brain-quantizer recurrences, one column at a time, with an explicit inverse.

    After quantizing column k, every later weight moves by −(w_k − q_k)/[H⁻¹]_kk · H⁻¹[k, :]
    and k is eliminated from H⁻¹ by its Schur complement; no Cholesky factor, no blocks.
    Without ``grid`` each group of ``group_size`` columns (in quantization order) gets its
    grid from the updated weights when its first column is reached.
    """
    _q, p = W.shape
    maxq = 2**bits - 1
    dead = np.diag(Sigma) <= 0
    H = Sigma.copy()
    H[dead, :] = 0
    H[:, dead] = 0
    mean = np.diag(Sigma)[~dead].mean()
    H += damping * mean * np.eye(p)
    H[dead, dead] = 1.0
    perm = np.arange(p) if order is None else np.asarray(order)
    Wk = W[:, perm].copy()
    Wk[:, dead[perm]] = 0
    Hinv = np.linalg.inv(H[np.ix_(perm, perm)])
    Q = np.zeros_like(Wk)
    size = group_size if 0 < group_size < p else p
    s = z = None
    for k in range(p):
        if grid is not None:
            g = grid.gidx[perm[k]]
            s, z = grid.scale[:, g], grid.zero[:, g]
        elif k % size == 0:
            s, z = find_params(Wk[:, k : k + size], maxq, sym=sym)
        Q[:, k] = quantize(Wk[:, k], s, z, maxq)
        err = (Wk[:, k] - Q[:, k]) / Hinv[k, k]
        Wk[:, k:] -= np.outer(err, Hinv[k, k:])
        Hinv = Hinv - np.outer(Hinv[:, k], Hinv[k, :]) / Hinv[k, k]
    out = np.empty_like(Q)
    out[:, perm] = Q
    return out


def row_grid_points(grid: Grid, row: int, cols: np.ndarray) -> list[np.ndarray]:
    """Every grid value available to each column of ``row``."""
    levels = np.arange(grid.maxq + 1)
    return [grid.scale[row, grid.gidx[j]] * (levels - grid.zero[row, grid.gidx[j]]) for j in cols]


def brute_force_row(problem: QuantProblem, grid: Grid, row: int) -> tuple[float, np.ndarray]:
    """The least (w − x)ᵀΣ(w − x) over every assignment of ``row`` to its grid (tiny p only)."""
    p = problem.shape[1]
    points = row_grid_points(grid, row, np.arange(p))
    combos = np.array(list(itertools.product(*points)))
    D = problem.W[row] - combos
    values = np.einsum("ij,jk,ik->i", D, problem.Sigma, D)
    best = int(np.argmin(values))
    return float(values[best]), combos[best]


def coordinate_minimum(problem: QuantProblem, grid: Grid, x: np.ndarray, tol: float = 1e-9) -> bool:
    """True when no single entry of ``x`` can move to another grid point and lower the objective."""
    base = problem.row_errors(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if problem.Sigma[j, j] <= 0:
                continue
            for v in row_grid_points(grid, i, np.array([j]))[0]:
                y = x[i].copy()
                y[j] = v
                d = problem.W[i] - y
                if d @ problem.Sigma @ d < base[i] * (1 - tol) - tol:
                    return False
    return True


def cd_reference_pass(problem: QuantProblem, Q: np.ndarray, grid: Grid, order: np.ndarray) -> np.ndarray:
    """One cyclic coordinate-descent pass, a column at a time, with the products recomputed from scratch."""
    from dopt.quant.kernels import MARGIN

    Q = Q.copy()
    for j in order:
        d = problem.Sigma[j, j]
        if d <= 0:
            continue
        g = (problem.W - Q) @ problem.Sigma[:, j]
        target = Q[:, j] + g / d
        s, z = grid.scale[:, grid.gidx[j]], grid.zero[:, grid.gidx[j]]
        new = quantize(target, s, z, grid.maxq)
        move = (new != Q[:, j]) & (np.abs(new - target) < np.abs(Q[:, j] - target) - MARGIN * s)
        Q[move, j] = new[move]
    return Q
