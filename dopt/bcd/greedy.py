"""``bcd.greedy``: block coordinate descent with a choice of partition, selection rule and block update.

Partitions: fixed contiguous blocks, fixed blocks sorted by coordinate
Lipschitz constants, variable blocks (the best ``block_size`` coordinates of
each iteration), fixed forests of the Hessian's graph, and a greedy maximal
forest grown each iteration. Selection: cyclic, random, Lipschitz sampling,
Gauss-Southwell (GS), GS-Lipschitz (GSL) and GS-quadratic (GSQ, the progress
of the matrix step); with an L1 term the greedy rules become their proximal
forms (GS-s, GSL-r, GS-q). Updates: a gradient step with the block Lipschitz
constant, or a matrix step with the block Hessian (bound); forests are
solved exactly in linear time by message passing; L1 terms are handled by
soft-thresholding (gradient) or an inner coordinate-descent solve (matrix).
The gradient is maintained incrementally (Gram / sparse Hessian columns or
the linear predictor), so greedy rules cost O(p |b|) per step on quadratics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from dopt.bcd import blocks
from dopt.bcd.duality import duality_gap
from dopt.bcd.kernels import block_lasso, greedy_forest, tree_solve
from dopt.bcd.models import QuadraticModel, make_model
from dopt.bcd.problem import BCDProblem, subgradient_residual
from dopt.bcd.xp_greedy import cupy_namespace, run_xp
from dopt.core.context import SolveContext
from dopt.core.errors import MethodError
from dopt.core.registry import option, register_method
from dopt.core.result import Result

GREEDY = ("gs", "gsl", "gsq")
REPORT_EVERY_S = 0.1


@dataclass(frozen=True)
class GreedyOptions:
    """Options of bcd.greedy."""

    partition: Literal["auto", "contiguous", "sorted", "variable", "forest", "greedy_tree"] = option(
        "auto",
        "blocks: fixed contiguous, fixed sorted by L_i, variable (best coordinates), forests; auto: "
        "greedy_tree for label propagation, else variable",
    )
    selection: Literal["cyclic", "random", "lipschitz", "gs", "gsl", "gsq"] = option(
        "gsq", "block selection rule (with L1: the proximal forms GS-s/GSL-r/GS-q; on tree blocks gsq scores as gsl)"
    )
    update: Literal["gradient", "matrix"] = option(
        "matrix", "gradient step with the block Lipschitz constant, or matrix step with the block Hessian (bound)"
    )
    block_size: int = option(5, "coordinates per block (fixed and variable blocks; forests ignore it)")
    max_iter: int = option(100_000, "block updates before stopping")
    tol: float = option(1e-9, "stop when the optimality measure falls below tol times its value at x = 0")
    gram: Literal["auto", "on", "off"] = option("auto", "least squares: keep the Gram matrix (auto: p <= 4000)")
    iht_steps: int = option(10, "iterative hard thresholding steps of the GSQ rule with variable blocks")
    x0: Any = option(None, "starting point (default zeros)")
    trace_every: int = option(1, "record (iteration, time, objective) every this many updates")

    def validate(self) -> None:
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.max_iter < 0 or self.tol < 0 or self.iht_steps < 1 or self.trace_every < 1:
            raise ValueError("max_iter and tol must be >= 0, iht_steps and trace_every >= 1")


@register_method(
    "bcd.greedy",
    kind="bcd",
    options=GreedyOptions,
    summary="block coordinate descent: greedy GS/GSL/GSQ or cyclic/random selection, fixed/variable/tree blocks",
    default=True,
    devices=("cpu", "gpu"),
)
def run_greedy(problem: BCDProblem, opts: GreedyOptions, ctx: SolveContext) -> Result:
    """Run block coordinate descent with the partition, selection and update the options name."""
    if ctx.device == "gpu":
        try:
            xp, xsp = cupy_namespace()
        except ImportError:
            raise MethodError("bcd.greedy on the GPU needs CuPy: pip install 'dopt[gpu]'") from None
        return run_xp(problem, opts, ctx, xp, xsp)
    solver = _Solver(problem, opts, ctx)
    return solver.run()


def _soft(u: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    return np.sign(u) * np.maximum(np.abs(u) - t, 0.0)


class _Solver:
    def __init__(self, problem: BCDProblem, opts: GreedyOptions, ctx: SolveContext) -> None:
        self.problem, self.opts, self.ctx = problem, opts, ctx
        shape = problem.x_shape
        x0 = np.zeros(shape) if opts.x0 is None else problem._point(np.array(opts.x0, dtype=np.float64))
        self.model = make_model(problem, x0.reshape(shape[0], -1), opts.gram)
        self.l1 = problem.l1
        self.p = shape[0]
        partition = opts.partition
        if partition == "auto":
            partition = "greedy_tree" if problem.loss == "label_propagation" else "variable"
        self.partition = partition
        self.tree = partition in ("forest", "greedy_tree")
        if self.tree:
            if not (isinstance(self.model, QuadraticModel) and self.model.sparse):
                raise MethodError("bcd.greedy: forest partitions need a sparse quadratic (label_propagation)")
            if self.l1 > 0:
                raise MethodError("bcd.greedy: forest partitions solve smooth quadratics; use l1 = 0")
            Q = sp.csr_array(self.model.Q)
            self.csr = (Q.indptr.astype(np.int64), Q.indices.astype(np.int64), Q.data)
            self.pos = np.full(self.p, -1, dtype=np.int64)
        if partition == "greedy_tree" and opts.selection in ("cyclic", "lipschitz"):
            raise MethodError("bcd.greedy: greedy_tree grows its forest greedily (gs, gsl, gsq) or in random order")
        self.L = self.model.coord_L
        self.fixed: blocks.Partition | None = None
        if partition in ("contiguous", "sorted", "forest"):
            self._prepare_fixed(partition)
        self.rng = ctx.rng
        self.cycle: np.ndarray = np.empty(0, dtype=np.int64)
        self.iht_step: float | None = None

    # ----- fixed blocks -----
    def _prepare_fixed(self, partition: str) -> None:
        if partition == "contiguous":
            part = blocks.contiguous(self.p, self.opts.block_size)
        elif partition == "sorted":
            part = blocks.sorted_by_lipschitz(self.L, self.opts.block_size)
        else:
            part = blocks.forests(self.model.Q, self.L)
        self.fixed = part
        self.block_of = np.empty(self.p, dtype=np.int64)
        for k in range(part.n_blocks):
            self.block_of[part.block(k)] = k
        if partition == "forest":  # gsq scores forests as gsl does; the forest solve itself is exact
            self.H_inv = None
            self.L_b = np.array([self._lmax(self.model.block_hessian(part.block(k))) for k in range(part.n_blocks)])
            return
        pad = part.padded()
        m = pad.shape[1]
        H = np.zeros((part.n_blocks, m, m))
        for k in range(part.n_blocks):
            size = part.starts[k + 1] - part.starts[k]
            H[k, :size, :size] = self.model.block_hessian(part.block(k))
            H[k, size:, size:] = np.eye(m - size)
        self.pad, self.H = pad, H
        self.L_b = np.linalg.eigvalsh(H)[:, -1]
        needs_inverse = self.opts.update == "matrix" or self.opts.selection == "gsq"
        self.H_inv = np.linalg.pinv(H, rcond=1e-12, hermitian=True) if needs_inverse else None

    @staticmethod
    def _lmax(H: np.ndarray) -> float:
        return float(np.linalg.eigvalsh(H)[-1]) if H.shape[0] > 1 else float(H[0, 0])

    # ----- scores -----
    def _coordinate_scores(self, G: np.ndarray, Lc: np.ndarray) -> np.ndarray:
        """Per-coordinate score of the selection rule, with per-coordinate constants Lc (p,)."""
        sel, x = self.opts.selection, self.model.x
        if self.l1 == 0:
            s = np.einsum("ik,ik->i", G, G)
            return s if sel == "gs" else s / Lc
        if sel == "gs":  # GS-s: the minimum-norm subgradient
            R = subgradient_residual(G, x, self.l1)
            return np.einsum("ik,ik->i", R, R)
        Lk = Lc[:, None]
        d = _soft(x - G / Lk, self.l1 / Lk) - x
        if sel == "gsl":  # GSL-r: the Lipschitz-weighted proximal step length
            return np.einsum("ik,ik->i", Lk * d, d)
        progress = -(G * d + 0.5 * Lk * d * d + self.l1 * (np.abs(x + d) - np.abs(x)))
        return progress.sum(axis=1)  # GS-q

    def _select_fixed(self, it: int) -> int:
        part, sel = self.fixed, self.opts.selection
        if sel == "cyclic":
            return it % part.n_blocks
        if sel == "random":
            return int(self.rng.integers(part.n_blocks))
        if sel == "lipschitz":
            return int(self.rng.choice(part.n_blocks, p=self.L_b / self.L_b.sum()))
        G = self.model.full_gradient()
        if sel == "gsq" and self.l1 == 0 and self.H_inv is not None:
            Gp = np.vstack([G, np.zeros((1, G.shape[1]))])[self.pad]  # n_blocks x m x K
            scores = np.einsum("bik,bij,bjk->b", Gp, self.H_inv, Gp)
            return int(np.argmax(scores))
        per = self._coordinate_scores(G, self.L_b[self.block_of])  # L_b is constant on a block
        return int(np.argmax(part.block_sums(per)))

    def _select_variable(self, it: int) -> np.ndarray:
        tau, sel, p = min(self.opts.block_size, self.p), self.opts.selection, self.p
        if sel == "cyclic":  # tau-chunks of a fresh random permutation every epoch
            chunk = it % -(-p // tau)
            if chunk == 0:
                self.cycle = self.rng.permutation(p)
            return np.sort(self.cycle[chunk * tau : (chunk + 1) * tau])
        if sel == "random":
            return np.sort(self.rng.choice(p, tau, replace=False))
        if sel == "lipschitz":
            return np.sort(self.rng.choice(p, tau, replace=False, p=self.L / self.L.sum()))
        G = self.model.full_gradient()
        if sel == "gsq" and self.l1 == 0:
            return self._iht_block(G, tau)
        return _top(self._coordinate_scores(G, self.L), tau)

    def _iht_block(self, G: np.ndarray, tau: int) -> np.ndarray:
        """The support of an approximate argmin_{|supp d| <= tau} g'd + 1/2 d'Hd (iterative hard thresholding)."""
        if self.iht_step is None:
            v = self.rng.standard_normal(G.shape)
            for _ in range(30):  # power iteration for lambda_max(H)
                v = self.model.hessian_times(v)
                v /= np.linalg.norm(v)
            self.iht_step = 1.0 / (1.01 * float(np.sum(v * self.model.hessian_times(v))))
        support = _top(np.einsum("ik,ik->i", G, G) / self.L, tau)
        d = np.zeros_like(G)
        d[support] = -G[support] / self.L[support, None]
        for _ in range(self.opts.iht_steps):
            u = d - self.iht_step * (G + self.model.hessian_times(d))
            new = _top(np.einsum("ik,ik->i", u, u), tau)
            d = np.zeros_like(G)
            d[new] = u[new]
            if np.array_equal(new, support):
                break
            support = new
        return support

    # ----- updates -----
    def _step(self, b: np.ndarray, k: int | None) -> np.ndarray:
        Gb = self.model.block_gradient(b)
        xb = self.model.x[b]
        if self.tree:
            return tree_solve(*self.csr, b.astype(np.int64), -np.ascontiguousarray(Gb), self.pos)
        if self.opts.update == "gradient":
            Lb = self.L_b[k] if k is not None else self._lmax(self.model.block_hessian(b))
            if self.l1 == 0:
                return -Gb / Lb
            return _soft(xb - Gb / Lb, self.l1 / Lb) - xb
        if k is not None:
            size = len(b)
            H = self.H[k, :size, :size]
            H_inv = self.H_inv[k, :size, :size]
        else:
            H = self.model.block_hessian(b)
            H_inv = None
        if self.l1 == 0:
            if H_inv is None:
                return np.linalg.lstsq(H, -Gb, rcond=None)[0]
            return -H_inv @ Gb
        return block_lasso(
            np.ascontiguousarray(H), np.ascontiguousarray(Gb), np.ascontiguousarray(xb), self.l1, 200, 1e-14
        )

    def _choose(self, it: int) -> tuple[np.ndarray, int | None]:
        if self.partition == "greedy_tree":
            if self.opts.selection == "random":
                order = self.rng.permutation(self.p)
            else:
                G = self.model.full_gradient()
                order = np.argsort(-self._coordinate_scores(G, self.L), kind="stable")
            b = greedy_forest(self.csr[0], self.csr[1], order.astype(np.int64), self.p)
            return np.sort(b), None
        if self.fixed is not None:
            k = self._select_fixed(it)
            return self.fixed.block(k), k
        return self._select_variable(it), None

    # ----- driver -----
    def _measure(self) -> float:
        G = self.model.full_gradient()
        return float(np.max(np.abs(subgradient_residual(G, self.model.x, self.l1)), initial=0.0))

    def _objective(self) -> float:
        return self.model.value() + self.l1 * float(np.abs(self.model.x).sum())

    def run(self) -> Result:
        opts, ctx = self.opts, self.ctx
        greedy = opts.selection in GREEDY
        epoch = self.fixed.n_blocks if self.fixed is not None else max(1, -(-self.p // opts.block_size))
        start = time.perf_counter()
        trace_it, trace_t, trace_f = [0], [0.0], [self._objective()]
        measure = self._measure()
        zero = np.zeros(self.problem.x_shape)  # the tolerance is relative to the measure at x = 0, warm start or not
        measure0 = float(np.max(np.abs(subgradient_residual(self.problem.gradient(zero), zero, self.l1)), initial=0.0))
        it, status, last_report = 0, "iteration_limit", 0.0
        while True:
            if greedy or self.tree or it % epoch == 0:
                measure = self._measure()
                if measure <= opts.tol * measure0:
                    status = "converged"
                    break
            reason = ctx.stop_reason()
            if reason is not None:
                status = reason
                break
            if it >= opts.max_iter:
                break
            b, k = self._choose(it)
            d = self._step(b, k)
            self.model.update(b, d)
            it += 1
            if it % opts.trace_every == 0:
                now = time.perf_counter() - start
                trace_it.append(it)
                trace_t.append(now)
                trace_f.append(self._objective())
                if now - last_report >= REPORT_EVERY_S:
                    last_report = now
                    ctx.report(it, trace_f[-1])
        x = self.model.x.reshape(self.problem.x_shape)
        objective = self.problem.objective(x)
        ctx.report(it, objective)
        extras: dict[str, Any] = {
            "optimality": measure,
            "optimality_initial": measure0,
            "partition": self.partition,
            "selection": opts.selection,
            "update": "message_passing" if self.tree else opts.update,
            "n_blocks": None if self.fixed is None else self.fixed.n_blocks,
            "trace": {"iteration": trace_it, "time": trace_t, "objective": trace_f},
        }
        gap = duality_gap(self.problem, x)
        if gap is not None:
            extras["duality_gap"] = gap
        return Result(
            x=x, objective=objective, status=status, method="bcd.greedy", device="cpu", iterations=it, extras=extras
        )


def _top(scores: np.ndarray, tau: int) -> np.ndarray:
    """Indices of the tau largest scores, sorted."""
    if tau >= scores.shape[0]:
        return np.arange(scores.shape[0])
    return np.sort(np.argpartition(-scores, tau - 1)[:tau])
