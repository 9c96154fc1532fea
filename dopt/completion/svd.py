"""``completion.svd``: the SVD-imputation baseline (rank-restricted soft-impute).

Iterates Z <- S_lam(P_Omega(M) + P_Omega^perp(Z)) truncated to rank k, where
S_lam soft-thresholds the singular values (lam = 0 gives hard, iterative SVD
imputation). The filled-in matrix is never formed: it is applied as the
sparse residual on Omega plus the current low-rank Z, and its top singular
space comes from one warm-started block power step per iteration, so an
iteration costs O(|Omega| k + (m + n) k^2). Since the problem's penalty
lam (|U|^2 + |V|^2) equals 2 lam |Z|_* at balanced factors, the same lam is
the nuclear-norm threshold. With biases, they are fitted first (alternating
ridge updates, as Surprise's BaselineOnly does) and the low-rank part fits
what they leave.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dopt.completion.altmin import SweepLog
from dopt.completion.model import Model, Scorer
from dopt.completion.problem import CompletionProblem
from dopt.core.context import SolveContext
from dopt.core.registry import option, register_method
from dopt.core.result import Result


@dataclass(frozen=True)
class SVDOptions:
    """Options of completion.svd."""

    max_iters: int = option(200, "stop after this many imputation steps")
    tol: float = option(1e-6, "stop when a step lowers the objective by less than this fraction")
    oversample: int = option(5, "extra columns in the power step's block (accuracy of the truncated SVD)")
    bias_sweeps: int = option(10, "alternating ridge sweeps that fit the biases first (biased problems only)")

    def validate(self) -> None:
        if self.max_iters < 1 or self.oversample < 0 or self.bias_sweeps < 0:
            raise ValueError("max_iters >= 1, oversample >= 0 and bias_sweeps >= 0 are required")
        if not self.tol >= 0:
            raise ValueError("tol must be >= 0")


@register_method(
    "completion.svd",
    kind="completion",
    options=SVDOptions,
    summary="baseline: rank-restricted soft-impute (iterative SVD imputation with singular-value shrinkage)",
)
def solve_svd(problem: CompletionProblem, opts: SVDOptions, ctx: SolveContext) -> Result:
    """Soft-impute with a warm-started block power step per iteration."""
    scorer = Scorer(problem)
    model = Model.zeros(problem)
    if problem.biases:
        _fit_biases(problem, model, opts.bias_sweeps)
    m, n = problem.shape
    k = problem.rank
    rows, cols = problem.rows, problem.cols
    target = problem.values - model.mu - model.row_bias[rows] - model.col_bias[cols]
    residual = sp.csr_array((target, cols, problem.row_ptr), shape=(m, n))
    residual_t = residual.T.tocsr()  # CSC view for X^T products
    back = problem.col_order[1]  # entry positions in the column-major order of residual_t
    block = min(k + opts.oversample, min(m, n))
    basis = np.linalg.qr(ctx.rng.normal(size=(n, block)))[0]
    Us, s, Vs = np.zeros((m, 0)), np.zeros(0), np.zeros((n, 0))
    threshold = problem.lam * float(problem.penalty_weights()[0].mean())  # the mean row weight (1 unless weighted)
    log = SweepLog(scorer, ctx, opts.tol)
    status = "iteration_limit"
    while log.sweeps < opts.max_iters:
        reason = ctx.stop_reason()
        if reason is not None:
            status = reason
            break
        # X = residual + Us diag(s) Vs^T; one block power step from the previous right basis
        Y = residual @ basis + Us @ (s[:, None] * (Vs.T @ basis))
        Q = _orthonormal(Y)
        Bt = residual_t @ Q + Vs @ (s[:, None] * (Us.T @ Q))
        Vb, sb, Ubt = _thin_svd(Bt)
        basis = Vb
        s = np.maximum(sb[:k] - threshold, 0.0)
        Us, Vs = Q @ Ubt.T[:, :k], Vb[:, :k]
        root = np.sqrt(s)
        model.U, model.V = np.ascontiguousarray(Us * root), np.ascontiguousarray(Vs * root)
        err = scorer.training_error(model)
        log.record(model, float(err @ err))
        residual.data[:] = err  # P_Omega(M - mu - biases - Z), in CSR order
        residual_t.data[:] = err[back]
        if log.converged:
            status = "converged"
            break
    return log.result(model, "completion.svd", status)


def _orthonormal(Y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of Y's columns by CholeskyQR2 (small l x l LAPACK calls only; QR if rank-deficient).

    Tall LAPACK calls (QR, SVD of n x l) run multi-threaded and stall for whole scheduler quanta on a
    busy machine; these small ones do not.
    """
    try:
        for _ in range(2):
            R = np.linalg.cholesky(Y.T @ Y).T
            Y = np.linalg.solve(R.T, Y.T).T
        return Y
    except np.linalg.LinAlgError:
        return np.linalg.qr(Y)[0]


def _thin_svd(B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVD of a tall n x l matrix with orthogonal-ish columns, from the eigenpairs of B^T B (descending)."""
    evals, W = np.linalg.eigh(B.T @ B)
    order = np.argsort(evals)[::-1]
    sigma = np.sqrt(np.maximum(evals[order], 0.0))
    W = W[:, order]
    left = _orthonormal(B @ W)
    return left, sigma, W.T


def _fit_biases(problem: CompletionProblem, model: Model, sweeps: int) -> None:
    """Alternating ridge updates of the row and column biases alone (no factors)."""
    rows, cols, lam = problem.rows, problem.cols, problem.lam
    m, n = problem.shape
    wr, wc = problem.penalty_weights()
    row_den = problem.row_counts + lam * wr
    col_den = problem.col_counts + lam * wc
    y = problem.values - model.mu
    for _ in range(sweeps):
        num = np.bincount(rows, y - model.col_bias[cols], minlength=m)
        model.row_bias = np.divide(num, row_den, out=np.zeros(m), where=row_den > 0)
        num = np.bincount(cols, y - model.row_bias[rows], minlength=n)
        model.col_bias = np.divide(num, col_den, out=np.zeros(n), where=col_den > 0)
