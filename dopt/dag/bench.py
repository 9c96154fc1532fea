"""The dag benchmark suite: dag.topo and dag.notears against dagma's DagmaLinear, each scored the same way.

The quality is the l2 score after a least-squares refit on the returned graph's edges
(``DAGProblem.refit_l2_score``), so methods with different penalties compare fairly;
SHD against the simulated truth goes in the notes.
"""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np

from dopt.bench.suite import Case, Entry, Outcome
from dopt.dag.problem import DAGProblem
from dopt.dag.simulate import simulated_problem

# suite -> (graph, degree, d) triples, samples per instance, and whether the (slow) NOTEARS baseline runs
SUITES = {
    "smoke": ((("ER", 2, 8),), 200, False),
    "quick": ((("ER", 2, 20), ("SF", 4, 20), ("ER", 2, 50)), 1000, False),
    "full": (tuple((g, k, d) for d in (20, 50, 100) for g, k in (("ER", 2), ("SF", 4))), 1000, True),
}
DAGMA_LAMBDA1 = 0.02  # dagma's documented l2 setting


def warm_up(device: str = "auto") -> None:
    """Compile (or load from Numba's cache) dag.topo's kernels on a tiny simulated SEM, outside the timings."""
    from dopt.core.solve import solve

    solve(simulated_problem(8, 50, seed=1), "dag.topo", device=device)


def cases(suite: str, device: str = "auto") -> list[Case]:
    """One case per simulated SEM of the suite."""
    graphs, n, with_notears = SUITES[suite]
    out = []
    for graph, degree, d in graphs:
        problem = simulated_problem(d, n, graph=graph, degree=degree, seed=0)
        entries = [_dopt_entry(problem, "dag.topo", device)]
        if with_notears:
            entries.append(_dopt_entry(problem, "dag.notears", "cpu", time_limit=120.0))
        entries.append(Entry("dagma", lambda p=problem: _dagma(p), peer=True, requires=("dagma",)))
        out.append(Case("dag", f"{graph}{degree}-d{d}-n{n}", d, "refit l2 score", tuple(entries)))
    return out


def _scored(problem: DAGProblem, W: np.ndarray, seconds: float, status: str) -> Outcome:
    acc = problem.accuracy(W)
    notes = f"SHD {acc['shd']:.0f}, TPR {acc['tpr']:.2f}, FDR {acc['fdr']:.2f}"
    return Outcome(problem.refit_l2_score(W), seconds, status, notes)


def _dopt_entry(problem: DAGProblem, method: str, device: str, **kwargs: float) -> Entry:
    def run() -> Outcome:
        from dopt.core.solve import solve

        result = solve(problem, method, device=device, **kwargs)
        return _scored(problem, result.x, result.wall_time, result.status)

    return Entry(method, run)


def _dagma(problem: DAGProblem) -> Outcome:
    from dagma.linear import DagmaLinear

    X = problem.data.copy()  # dagma centres X in place
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # its progress bar
        W = DagmaLinear(loss_type="l2").fit(X, lambda1=DAGMA_LAMBDA1, w_threshold=problem.w_threshold)
    return _scored(problem, np.asarray(W, dtype=np.float64), time.perf_counter() - start, "converged")
