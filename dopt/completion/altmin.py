"""The alternating-minimisation loop shared by ``completion.als`` and ``completion.fast``.

Each sweep updates every row of U (with its row bias) from V, then every row
of V (with its column bias) from U, through a per-row ridge solver given by
the method: exact (Cholesky of the normal equations) or approximate
(warm-started conjugate gradients). The CSR and CSC views of Omega are built
once; each half-sweep gathers only the targets and the other side's factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from dopt.completion.model import Model, Scorer
from dopt.completion.problem import CompletionProblem
from dopt.core.context import SolveContext
from dopt.core.result import Result

SINGLE_STALL = 1e-5  # relative objective change below which float32 sweeps stop making progress

# make_solver(ptr, idx) -> solve(y, W, lam, X): updates X in place, every row of one side of Omega, and
# returns each row's squared error sum_t (y_t - W[idx_t] . X[r])^2 at the new X
RowSolver = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
MakeSolver = Callable[[np.ndarray, np.ndarray], RowSolver]


class Omega:
    """CSR and CSC index views of the observed entries, built once per solve."""

    def __init__(self, problem: CompletionProblem) -> None:
        self.row_ptr = problem.row_ptr
        self.cols_by_row = problem.cols
        self.values = problem.values
        self.col_ptr, _, self.rows_by_col, self.values_by_col = problem.column_major


def run_altmin(
    problem: CompletionProblem,
    ctx: SolveContext,
    make_solver: MakeSolver,
    *,
    method: str,
    init: Literal["random", "svd"],
    max_sweeps: int,
    tol: float,
    clip: float,
    precision: Literal["double", "mixed"] = "double",
) -> Result:
    """Alternate row and column updates until converged, the sweep limit, the time limit or an interrupt.

    ``precision="mixed"`` hands the solver the fixed factor in float32 (its passes over the entries then
    run in float32) until a sweep improves the objective by less than SINGLE_STALL, the finest change
    float32 residuals resolve, then finishes in float64, so the fixed point is the double-precision one.
    """
    omega = Omega(problem)
    solve_rows = make_solver(omega.row_ptr, omega.cols_by_row)
    solve_cols = make_solver(omega.col_ptr, omega.rows_by_col)
    scorer = Scorer(problem)
    model = initial_model(problem, ctx.rng, init, clip)
    lam_rows, lam_cols = (problem.lam * w for w in problem.penalty_weights())
    k, biased = problem.rank, problem.biases
    d = k + 1 if biased else k
    X_rows = _stack(model.U, model.row_bias, biased)
    X_cols = _stack(model.V, model.col_bias, biased)
    W = np.ones((max(problem.shape), d))  # the fixed side, with a column of ones for the bias
    log = SweepLog(scorer, ctx, tol)
    single = precision == "mixed"
    status = "iteration_limit"
    while log.sweeps < max_sweeps:
        reason = ctx.stop_reason()
        if reason is not None:
            status = reason
            break
        # rows: target y - mu - c_j, features [v_j, 1]
        y = omega.values - model.mu - model.col_bias[omega.cols_by_row] if biased else omega.values
        Wn = W[: problem.shape[1]]
        Wn[:, :k] = model.V
        solve_rows(y, Wn.astype(np.float32) if single else Wn, lam_rows, X_rows)
        model.U, model.row_bias = _split(X_rows, k, biased, model.row_bias)
        # columns: target y - mu - b_i, features [u_i, 1]
        y = omega.values_by_col - model.mu - model.row_bias[omega.rows_by_col] if biased else omega.values_by_col
        Wm = W[: problem.shape[0]]
        Wm[:, :k] = model.U
        sse = solve_cols(y, Wm.astype(np.float32) if single else Wm, lam_cols, X_cols)  # the training errors
        model.V, model.col_bias = _split(X_cols, k, biased, model.col_bias)
        log.record(model, float(sse.sum()))
        if single:
            log.single_sweeps += 1
            if tol < SINGLE_STALL and log.gained_less_than(SINGLE_STALL):
                single = False  # float32 resolves no finer change: finish in float64, judged on its own sweeps
                log.forget_baseline()
                continue
        if log.converged:
            status = "converged"
            break
    return log.result(model, method, status)


class SweepLog:
    """Per-sweep bookkeeping shared by the completion methods: scores, progress reports, history, convergence."""

    def __init__(self, scorer: Scorer, ctx: SolveContext, tol: float) -> None:
        self.scorer, self.ctx, self.tol = scorer, ctx, tol
        values = scorer.problem.values
        self.floor = 1e-28 * (float(values @ values) or 1.0)
        self.history: list[tuple[float, float, float, float]] = []
        self.sweeps = 0
        self.single_sweeps = 0  # sweeps whose passes over the entries ran in float32
        self.previous = self.objective = math.inf  # the last two sweeps' objectives

    def record(self, model: Model, sse: float) -> None:
        """Score the model after a sweep from its training squared error ``sse``, and report it."""
        self.previous, self.objective = self.objective, self.scorer.objective(model, sse)
        self.sweeps += 1
        self.ctx.report(self.sweeps, self.objective)
        train = math.sqrt(sse / self.scorer.problem.nnz)
        self.history.append((self.ctx.elapsed(), self.objective, train, self.scorer.validation_rmse(model)))

    @property
    def converged(self) -> bool:
        """The last sweep changed the objective by less than ``tol`` of its previous value, or it is at
        rounding level (exact recovery)."""
        return self.objective <= self.floor or (
            math.isfinite(self.previous) and abs(self.previous - self.objective) <= self.tol * self.previous
        )

    def gained_less_than(self, fraction: float) -> bool:
        """The last sweep lowered the objective by less than ``fraction`` of its previous value (or raised it)."""
        return math.isfinite(self.previous) and self.previous - self.objective < fraction * self.previous

    def forget_baseline(self) -> None:
        """Judge the next sweep on its own (after a change of precision the objectives do not compare)."""
        self.objective = math.inf

    def result(self, model: Model, method: str, status: str) -> Result:
        """The Result: x = the model dict, objective, per-sweep (time, objective, train RMSE, validation RMSE).

        The final objective and training RMSE are recomputed from the model's predictions (the per-sweep
        ones come from the solvers' residuals and agree to rounding).
        """
        problem = self.scorer.problem
        err = self.scorer.training_error(model)
        objective = self.scorer.objective(model, float(err @ err))
        train = float(np.sqrt(np.mean(err * err)))
        val = self.history[-1][3] if self.history else self.scorer.validation_rmse(model)
        extras: dict[str, Any] = {
            "train_rmse": train,
            "val_rmse": val,
            "empty_rows": int((problem.row_counts == 0).sum()),
            "empty_cols": int((problem.col_counts == 0).sum()),
            "single_sweeps": self.single_sweeps,
        }
        return Result(
            x=model.to_x(),
            objective=objective,
            status=status,
            method=method,
            device=self.ctx.device,
            iterations=self.sweeps,
            history=list(self.history),
            extras=extras,
        )


def _stack(F: np.ndarray, bias: np.ndarray, biased: bool) -> np.ndarray:
    return np.ascontiguousarray(np.column_stack([F, bias]) if biased else F.copy())


def _split(X: np.ndarray, k: int, biased: bool, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if biased:
        return np.ascontiguousarray(X[:, :k]), X[:, k].copy()
    return X.copy(), bias


def initial_model(
    problem: CompletionProblem, rng: np.random.Generator, init: Literal["random", "svd"], clip: float
) -> Model:
    """Starting factors: small random ones, or the clipped truncated SVD of the rescaled observed matrix."""
    model = Model.zeros(problem)
    m, n = problem.shape
    k = problem.rank
    y = problem.values - model.mu
    rms = float(np.sqrt(np.mean(y * y))) or 1.0
    if init == "random":
        sigma = math.sqrt(rms / math.sqrt(k))
        model.U = rng.normal(0.0, sigma, size=(m, k))
        model.V = rng.normal(0.0, sigma, size=(n, k))
        return model
    p = problem.nnz / (m * n)
    A = sp.csr_array((y / p, problem.cols, problem.row_ptr), shape=(m, n))
    v0 = rng.normal(size=min(m, n))
    Uh, s, Vth = spla.svds(A, k=k, v0=v0)
    Uh = _clip_rows(Uh, clip)
    Vh = _clip_rows(Vth.T, clip)
    root = np.sqrt(s)
    model.U = np.ascontiguousarray(Uh * root)
    model.V = np.ascontiguousarray(Vh * root)
    return model


def _clip_rows(Q: np.ndarray, clip: float) -> np.ndarray:
    """The incoherence step: shrink rows of the orthonormal Q longer than clip * sqrt(k / m), re-orthonormalise."""
    if clip <= 0:
        return Q
    m, k = Q.shape
    limit = clip * math.sqrt(k / m)
    norms = np.linalg.norm(Q, axis=1)
    long = norms > limit
    if not long.any():
        return Q
    Q = Q.copy()
    Q[long] *= (limit / norms[long])[:, None]
    Q, R = np.linalg.qr(Q)
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)  # keep each column's sign, so U and V still pair up
