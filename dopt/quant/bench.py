"""The quant benchmark suite: QuantEase against GPTQ (act-order) and RTN on real MiniLM layers, by relative error.

GPTQ is dopt's own implementation of the paper's recurrences (tested against
them to 1e-10) and stands in for the reference implementations, which need
torch and CUDA; it is marked as the peer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dopt.bench.suite import Case, Entry, Outcome
from dopt.core.io import bundled_problems, load
from dopt.quant.problem import QuantProblem

SUITES = {"smoke": (3,), "quick": (3, 4), "full": (2, 3, 4)}


def _random_layer(seed: int = 0) -> QuantProblem:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(48, 200)) * np.exp(rng.normal(scale=0.5, size=(48, 1)))
    return QuantProblem(W=rng.standard_t(4, size=(64, 48)), X=X, bits=3, name="random-64x48")


def _entry(label: str, problem: QuantProblem, method: str, device: str = "cpu", peer: bool = False, **options) -> Entry:
    def run() -> Outcome:
        from dopt.core.solve import solve

        result = solve(problem, method, device=device, **options)
        held = result.extras.get("heldout_relative_error")
        notes = "" if held is None else f"held-out {held:.4g}"
        return Outcome(result.extras["relative_error"], result.wall_time, result.status, notes)

    return Entry(label, run, peer=peer)


def warm_up(device: str = "auto") -> None:
    """Compile (or load from Numba's cache) the kernels of QuantEase and its outlier variant on a random layer."""
    from dopt.core.solve import solve

    layer = _random_layer()
    solve(layer, "quant.quantease", device=device)
    solve(layer, "quant.quantease_outlier", device=device, outliers=0.01)


def cases(suite: str, device: str = "auto") -> list[Case]:
    """Each bundled layer (a random one for ``smoke``) at the suite's bit widths."""
    if suite == "smoke":
        layers = [_random_layer()]
    else:
        layers = [load(path) for path in sorted(bundled_problems("quant").glob("*.toml"))]
    out = []
    for base in layers:
        for bits in SUITES[suite]:
            problem = dataclasses.replace(base, bits=bits, Sigma_heldout=base.Sigma_heldout)
            entries = (
                _entry("quant.quantease", problem, "quant.quantease", device),
                _entry("quant.quantease_outlier 1%", problem, "quant.quantease_outlier", device, outliers=0.01),
                _entry("RTN", problem, "quant.rtn"),
                _entry("GPTQ", problem, "quant.gptq", peer=True),
                _entry("GPTQ act-order", problem, "quant.gptq", peer=True, act_order=True),
            )
            out.append(Case("quant", f"{base.name}-{bits}bit", problem.W.size, "relative error", entries))
    return out
