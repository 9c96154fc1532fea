"""The smooth part of a BCD problem as a state that block updates change incrementally.

Two forms: :class:`QuadraticModel` keeps the gradient g = Qx - c and updates
it with one column slice of Q per block step (least squares through the Gram
matrix, label propagation through the sparse graph Hessian); :class:`PredictorModel`
keeps the linear predictor z = Ax, updates it with the block's columns and
forms block gradients from z (logistic, multinomial, large least squares).
Every x is a p x K array (K = 1 except for multinomial).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dopt.bcd.problem import CURVATURE, BCDProblem

GRAM_MAX_FEATURES = 4000  # least squares with at most this many columns keeps the dense Gram matrix


class QuadraticModel:
    """f(x) = 1/2 x'Qx - c'x + const with the gradient maintained exactly after every block step."""

    def __init__(self, Q: np.ndarray | sp.csc_array, c: np.ndarray, const: float, x: np.ndarray) -> None:
        self.Q, self.c, self.const = Q, c, const
        self.sparse = sp.issparse(Q)
        self.x = x.copy()
        self.g = np.asarray(Q @ x) - c
        self.coord_L = np.asarray(Q.diagonal(), dtype=np.float64).copy()
        self.p, self.K = x.shape

    def value(self) -> float:
        return 0.5 * float(np.sum(self.x * (self.g - self.c))) + self.const

    def full_gradient(self) -> np.ndarray:
        return self.g

    def block_gradient(self, b: np.ndarray) -> np.ndarray:
        return self.g[b]

    def update(self, b: np.ndarray, d: np.ndarray) -> None:
        """x[b] += d and g += Q[:, b] d."""
        self.x[b] += d
        cols = self.Q[:, b]
        self.g += np.asarray(cols @ d)

    def block_hessian(self, b: np.ndarray) -> np.ndarray:
        """Q[b, b] (exact)."""
        if self.sparse:
            return self.Q[b][:, b].toarray()
        return self.Q[np.ix_(b, b)]

    def hessian_times(self, d: np.ndarray) -> np.ndarray:
        return np.asarray(self.Q @ d)


class PredictorModel:
    """f(x) = loss(Ax) + l2/2 ||x||^2 with z = Ax maintained; H_b = c A_b'A_b + l2 I bounds the block Hessian."""

    def __init__(self, problem: BCDProblem, x: np.ndarray) -> None:
        self.problem = problem
        self.A = problem.A
        self.sparse = sp.issparse(self.A)
        self.l2 = problem.l2
        self.curv = CURVATURE[problem.loss]
        self.multi = problem.loss == "multinomial"
        self.x = x.copy()
        self.z = np.asarray(self.A @ self._shaped(x))
        self.p, self.K = x.shape
        sq = (
            np.asarray(self.A.multiply(self.A).sum(axis=0)).ravel()
            if self.sparse
            else np.einsum("ij,ij->j", self.A, self.A)
        )
        self.coord_L = self.curv * sq + self.l2
        self._g: np.ndarray | None = None
        self._dz: np.ndarray | None = None

    def _shaped(self, x: np.ndarray) -> np.ndarray:
        return x if self.multi else x[:, 0]

    def _as2d(self, v: np.ndarray) -> np.ndarray:
        return v if v.ndim == 2 else v[:, None]

    def _dz_now(self) -> np.ndarray:
        if self._dz is None:
            self._dz = self.problem.predictor_gradient(self.z)
        return self._dz

    def value(self) -> float:
        return self.problem.loss_of_predictor(self.z) + 0.5 * self.l2 * float(np.sum(self.x * self.x))

    def full_gradient(self) -> np.ndarray:
        if self._g is None:
            self._g = self._as2d(np.asarray(self.A.T @ self._dz_now())) + self.l2 * self.x
        return self._g

    def block_gradient(self, b: np.ndarray) -> np.ndarray:
        if self._g is not None:
            return self._g[b]
        cols = self.A[:, b]
        return self._as2d(np.asarray(cols.T @ self._dz_now())) + self.l2 * self.x[b]

    def update(self, b: np.ndarray, d: np.ndarray) -> None:
        """x[b] += d and z += A[:, b] d."""
        self.x[b] += d
        cols = self.A[:, b]
        self.z += np.asarray(cols @ self._shaped(d))
        self._g = None
        self._dz = None

    def block_hessian(self, b: np.ndarray) -> np.ndarray:
        cols = self.A[:, b]
        gram = (cols.T @ cols).toarray() if self.sparse else cols.T @ cols
        return self.curv * gram + self.l2 * np.eye(len(b))

    def hessian_times(self, d: np.ndarray) -> np.ndarray:
        Ad = self.A @ self._shaped(d)
        return self._as2d(np.asarray(self.curv * (self.A.T @ Ad))) + self.l2 * d


def make_model(problem: BCDProblem, x0: np.ndarray, gram: str = "auto") -> QuadraticModel | PredictorModel:
    """The incremental model for ``problem`` started at ``x0`` (p x K)."""
    p = problem.n_features
    if problem.loss == "label_propagation":
        lam = problem.label_weight * problem.labelled
        Q = sp.csc_array(2.0 * problem.laplacian() + sp.diags_array(lam + problem.l2))
        c = (lam * problem.b)[:, None]
        const = 0.5 * float(np.sum(lam * problem.b**2))
        return QuadraticModel(Q, c, const, x0)
    use_gram = problem.loss == "least_squares" and (gram == "on" or (gram == "auto" and p <= GRAM_MAX_FEATURES))
    if use_gram:
        A = problem.A
        G = (A.T @ A).toarray() if sp.issparse(A) else A.T @ A
        Q = np.ascontiguousarray(G + problem.l2 * np.eye(p))
        c = np.asarray(A.T @ problem.b)[:, None]
        return QuadraticModel(Q, c, 0.5 * float(problem.b @ problem.b), x0)
    return PredictorModel(problem, x0)
