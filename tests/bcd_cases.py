"""Small BCD instances and independent references (lstsq, L-BFGS, sparse direct solves) for the bcd tests."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from dopt.bcd import BCDProblem


def least_squares(seed: int = 0, n: int = 40, p: int = 15, **params: float) -> BCDProblem:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, p)) * rng.uniform(0.5, 2.0, size=p)  # unequal column scales: L_i differ
    return BCDProblem(loss="least_squares", A=A, b=rng.normal(size=n), name=f"ls-{seed}", **params)


def logistic(seed: int = 0, n: int = 60, p: int = 12, **params: float) -> BCDProblem:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, p))
    y = np.where(A @ rng.normal(size=p) + rng.normal(size=n) > 0, 1.0, -1.0)
    return BCDProblem(loss="logistic", A=A, b=y, name=f"logit-{seed}", **params)


def multinomial(seed: int = 0, n: int = 60, p: int = 8, k: int = 3, **params: float) -> BCDProblem:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, p))
    labels = np.argmax(A @ rng.normal(size=(p, k)) + rng.normal(size=(n, k)), axis=1).astype(float)
    return BCDProblem(loss="multinomial", A=A, b=labels, name=f"softmax-{seed}", **params)


def lattice(side: int = 12, labelled: int = 15, weight: float = 10.0, seed: int = 0) -> BCDProblem:
    rng = np.random.default_rng(seed)
    W = sp.csr_array(nx.to_scipy_sparse_array(nx.grid_2d_graph(side, side), format="csr"), dtype=np.float64)
    n = W.shape[0]
    mask = np.zeros(n)
    mask[rng.choice(n, labelled, replace=False)] = 1.0
    y = rng.normal(size=n) * mask
    return BCDProblem(loss="label_propagation", W=W, b=y, labelled=mask, label_weight=weight, name="lattice")


def lattice_optimum(problem: BCDProblem) -> float:
    """Exact minimum of the label-propagation quadratic by a sparse direct solve."""
    lam = problem.label_weight * problem.labelled
    Q = sp.csc_array(2.0 * problem.laplacian() + sp.diags_array(lam + problem.l2))
    x = sp.linalg.spsolve(Q, lam * problem.b)
    return problem.objective(x)


def lstsq_optimum(problem: BCDProblem) -> float:
    A, b, l2 = problem.A, problem.b, problem.l2
    p = A.shape[1]
    M = np.vstack([A, np.sqrt(l2) * np.eye(p)])
    x = np.linalg.lstsq(M, np.concatenate([b, np.zeros(p)]), rcond=None)[0]
    return problem.objective(x)


def lbfgs_optimum(problem: BCDProblem) -> float:
    """The smooth problems' minimum by scipy L-BFGS at a very tight tolerance."""
    shape = problem.x_shape
    res = minimize(
        lambda v: problem.objective(v.reshape(shape)),
        np.zeros(int(np.prod(shape))),
        jac=lambda v: problem.gradient(v.reshape(shape)).ravel(),
        method="L-BFGS-B",
        options={"gtol": 1e-13, "ftol": 0.0, "maxiter": 20000, "maxcor": 30},
    )
    return float(res.fun)


def relative(value: float, best: float) -> float:
    return (value - best) / max(abs(best), 1e-300)
