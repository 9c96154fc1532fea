"""The bcd benchmark suite: bcd.lasso against scikit-learn, skglm and celer on Lasso and L1-logistic problems.

Every solver is held to the same stopping accuracy, a duality gap <= 1e-6 x gap(0) in dopt's
scaling (see :mod:`dopt.bcd.peers`), so the suite compares seconds; the quality shown is the
objective reached, and a solver that misses the target counts as having found nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from dopt.bcd.peers import MODULES, PEERS, Run, lambda_max, run_dopt, run_peer
from dopt.bcd.problem import BCDProblem
from dopt.bench.suite import Case, Entry, Outcome
from dopt.core.io import bundled_problems, load

TARGET = 1e-6
# bundled scikit-learn datasets: (rows, features), for the time-vs-size plot before they are loaded
DATASETS = {"diabetes": (442, 10), "breast_cancer": (569, 30), "digits": (1797, 64)}
# suite -> problem files, bundled datasets x l1 fractions of lambda_max, synthetic (n, p, density) x (loss, fraction)
SUITES = {
    "smoke": (("small-lasso", "small-logistic"), (), None, ()),
    "quick": (
        (),
        (("diabetes", 0.01), ("breast_cancer", 0.01)),
        (2000, 10_000, 0.002),
        (("least_squares", 0.1), ("least_squares", 0.01), ("logistic", 0.1)),
    ),
    "full": (
        (),
        tuple((name, frac) for name in DATASETS for frac in (0.1, 0.01)),
        (10_000, 50_000, 0.001),
        (("least_squares", 0.1), ("least_squares", 0.01), ("logistic", 0.1), ("logistic", 0.01)),
    ),
}
# suite -> timed repeats (best of) and the seconds after which a peer's tolerance search stops
TIMING = {"smoke": (1, 10.0), "quick": (3, 20.0), "full": (3, 60.0)}


def correlated_sparse(
    n: int, p: int, density: float, rho: float = 0.6, seed: int = 0
) -> tuple[sp.csc_array, np.ndarray]:
    """Sparse X with neighbouring features correlated (x_j = z_j + rho z_{j-1}) and a 0.2% sparse truth w."""
    rng = np.random.default_rng(seed)
    Z = sp.random_array((n, p), density=density, rng=rng, format="csc", data_sampler=rng.standard_normal)
    shifted = sp.hstack([Z[:, [p - 1]], Z[:, : p - 1]], format="csc")
    X = sp.csc_array(Z + rho * shifted)
    w = np.zeros(p)
    support = rng.choice(p, max(10, p // 500), replace=False)
    w[support] = rng.normal(size=support.size) * 3.0
    return X, X @ w + 0.5 * rng.normal(size=n)


def bundled(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """scikit-learn's bundled datasets, standardised: (A, b, loss)."""
    from sklearn import datasets

    if name == "diabetes":
        A, b = datasets.load_diabetes(return_X_y=True)
        loss = "least_squares"
        b = b - b.mean()
    elif name == "breast_cancer":
        A, b = datasets.load_breast_cancer(return_X_y=True)
        loss, b = "logistic", np.where(b > 0, 1.0, -1.0)
    else:  # digits: 0-4 against 5-9
        A, b = datasets.load_digits(return_X_y=True)
        loss, b = "logistic", np.where(b >= 5, 1.0, -1.0)
    scale = A.std(axis=0)
    A = (A - A.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    return A, b.astype(np.float64), loss


def cases(suite: str, device: str = "auto") -> list[Case]:
    """The suite's problem files, bundled datasets and synthetic sparse problems (bcd.lasso runs on the CPU)."""
    files, datasets, synthetic, losses = SUITES[suite]
    repeats, give_up = TIMING[suite]
    out = []
    for name in files:
        problem = load(bundled_problems("bcd") / f"{name}.toml")
        size = problem.A.shape[0] * problem.A.shape[1]
        out.append(_case(name, size, lambda problem=problem: problem, (), repeats, give_up))
    for name, frac in datasets:
        rows, cols = DATASETS[name]
        make = functools.cache(lambda name=name, frac=frac: _from_dataset(name, frac))
        out.append(_case(f"{name} λmax/{round(1 / frac)}", rows * cols, make, ("sklearn",), repeats, give_up))
    if synthetic is not None:
        n, p, density = synthetic
        data = functools.cache(lambda: correlated_sparse(n, p, density))
        for loss, frac in losses:
            make = functools.cache(lambda loss=loss, frac=frac: synthetic_problem(data(), loss, frac))
            instance = f"sparse {n}x{p} {loss} λmax/{round(1 / frac)}"
            out.append(_case(instance, round(n * p * density), make, (), repeats, give_up))
    return out


def _case(
    instance: str,
    size: int,
    make: Callable[[], BCDProblem],
    needs: tuple[str, ...],
    repeats: int,
    give_up: float,
) -> Case:
    """bcd.lasso and each peer on one problem, built when first run (``needs``: packages the data come from)."""
    entries = [Entry("bcd.lasso", lambda: _outcome(run_dopt(make(), TARGET, repeats=repeats)), requires=needs)]
    for peer in PEERS:

        def run(peer: str = peer) -> Outcome:
            return _outcome(run_peer(peer, make(), TARGET, repeats=repeats, give_up_s=give_up))

        entries.append(Entry(peer, run, peer=True, requires=(*needs, MODULES[peer])))
    return Case("bcd", instance, size, "objective at gap ≤ 1e-6·gap(0)", tuple(entries), compare="seconds")


def _outcome(run: Run) -> Outcome:
    """The objective when the run reached the target; the relative gap (and the peer's tolerance) in the notes."""
    notes = f"rel. gap {run.relative_gap:.1e}" + (f", tol {run.peer_tol:g}" if run.peer_tol is not None else "")
    if run.note:
        return Outcome(None, run.seconds, run.note, notes)
    return Outcome(run.objective, run.seconds, "converged", notes)


def _from_dataset(name: str, frac: float) -> BCDProblem:
    A, b, loss = bundled(name)
    return BCDProblem(loss=loss, A=A, b=b, l1=frac * lambda_max(A, b, loss), name=name)


def synthetic_problem(data: tuple[sp.csc_array, np.ndarray], loss: str, frac: float) -> BCDProblem:
    """The Lasso (or, on the signs of y about its median, L1-logistic) problem of ``correlated_sparse`` data."""
    X, y = data
    b = y if loss == "least_squares" else np.where(y > np.median(y), 1.0, -1.0)
    return BCDProblem(loss=loss, A=X, b=b, l1=frac * lambda_max(X, b, loss))
