"""The large-neighbourhood polish (dopt.dmmv.lns) against brute force, and its FIR neighbourhoods."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
from dmmv_cases import brute_force, random_tiny_problem

from dopt.dmmv.fir import FIRSpec, fir_problem, paper_spec, rounded_design, strided_neighbourhoods
from dopt.dmmv.lns import neighbourhood_problem, polish

pytest.importorskip("highspy")  # polish gives HiGHS a MIP start

# Proven optima (HiGHS, zero gap): the paper preset (tests/test_fir.py) and the 35-tap 8-bit low-pass.
PAPER_OPTIMUM = 0.2071036172194
LOWPASS = FIRSpec(taps=35, bits=8, bands=((0.0, 0.2, 1.0, 1.0), (0.3, 0.5, 0.0, 1.0)))
LOWPASS_OPTIMUM = 0.017640647004985743


@pytest.mark.parametrize("seed", range(12))
def test_neighbourhood_problem_scores_every_window_point_as_the_full_problem(seed: int) -> None:
    problem = random_tiny_problem(seed, max_n=6, max_levels=5)
    rng = np.random.default_rng(seed)
    n = problem.shape[1]
    levels = (rng.random(n) * problem.sizes).astype(np.int64)
    free = np.sort(rng.choice(n, size=min(n, 3), replace=False))
    reach = 1 + seed % 2
    sub = neighbourhood_problem(problem, levels, free, reach)
    windows = [
        [lvl for lvl in range(levels[j] - reach, levels[j] + reach + 1) if 0 <= lvl < problem.sizes[j]] for j in free
    ]
    assert list(sub.sizes) == [len(w) for w in windows]
    for point in itertools.product(*windows):
        full = levels.copy()
        full[free] = point
        x = problem.value_of(full)
        assert sub.objective(x[free]) == pytest.approx(problem.objective(x), abs=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_polish_over_every_variable_and_value_finds_the_brute_force_optimum(seed: int) -> None:
    problem = random_tiny_problem(seed, max_n=5, max_levels=4)
    optimum, _ = brute_force(problem)
    start = problem.value_of(np.zeros(problem.shape[1], dtype=np.int64))
    everything = [np.arange(problem.shape[1])]
    out = polish(problem, start, everything, reach=int(problem.sizes.max()), time_limit=30, sub_time_limit=30)
    problem.check(out.x)
    assert out.objective == pytest.approx(problem.objective(out.x), abs=1e-12)
    assert out.objective == pytest.approx(optimum, abs=1e-9)
    assert out.status in ("converged", "optimal")


@pytest.mark.parametrize("seed", range(8))
def test_polish_never_worsens_and_each_sweep_ends_at_a_neighbourhood_optimum(seed: int) -> None:
    problem = random_tiny_problem(seed, max_n=6, max_levels=5)
    rng = np.random.default_rng(100 + seed)
    n = problem.shape[1]
    start = problem.value_of((rng.random(n) * problem.sizes).astype(np.int64))
    pairs = [np.array(p) for p in itertools.combinations(range(n), 2)]
    out = polish(problem, start, pairs, reach=1, time_limit=30, sub_time_limit=30)
    assert out.objective <= problem.objective(start) + 1e-12
    assert out.status in ("converged", "optimal")
    if out.status == "converged":  # no pair of variables moved by one level each lowers the max
        levels = problem.levels(out.x)
        for pair in pairs:
            sub = neighbourhood_problem(problem, levels, pair, 1)
            assert brute_force(sub)[0] >= out.objective - 1e-9


def test_polish_reaches_proven_fir_optima_from_the_rounded_remez_design() -> None:
    for spec, optimum, size in ((paper_spec(), PAPER_OPTIMUM, 17), (LOWPASS, LOWPASS_OPTIMUM, 9)):
        problem = fir_problem(spec)
        start = rounded_design(spec, "remez")
        out = polish(problem, start, strided_neighbourhoods(spec.half_length, size), reach=2, time_limit=60)
        assert problem.objective(start) > optimum * 1.05
        assert out.objective == pytest.approx(optimum, rel=1e-9)
        assert out.improvements >= 1


def test_polish_rejects_bad_arguments() -> None:
    problem = random_tiny_problem(1)
    x = problem.value_of(np.zeros(problem.shape[1], dtype=np.int64))
    with pytest.raises(ValueError, match="reach"):
        polish(problem, x, [[0]], reach=0)
    with pytest.raises(ValueError, match="time_limit"):
        polish(problem, x, [[0]], time_limit=0)
    with pytest.raises(ValueError, match="neighbourhoods"):
        polish(problem, x, [[problem.shape[1]]])
    with pytest.raises(ValueError, match="neighbourhoods"):
        polish(problem, x, [[]])


@pytest.mark.parametrize("half_length", [1, 7, 18, 51])
def test_strided_neighbourhoods_cover_every_coefficient_once_per_stride(half_length: int) -> None:
    sets = strided_neighbourhoods(half_length, size=9, strides=(2, 1))
    assert len({tuple(s) for s in sets}) == len(sets)
    for stride in (2, 1):
        strided = [s for s in sets if s.size == 1 or np.all(np.diff(s) == stride)]
        assert set(np.concatenate(strided)) == set(range(half_length))
    for s in sets:
        assert 1 <= s.size <= 9 and s.min() >= 0 and s.max() < half_length
    with pytest.raises(ValueError):
        strided_neighbourhoods(10, strides=(0,))


def test_fir_designs_example_polish_row_respects_the_proven_optimum() -> None:
    path = Path(__file__).resolve().parents[1] / "examples" / "fir_designs.py"
    spec = importlib.util.spec_from_file_location("fir_designs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ripples = module.main(["--taps", "21", "--bits", "6", "--band", "0,0.2", "--stop", "0.3,0.5", "--time-limit", "2"])
    proven = [value for label, value in ripples.items() if label == "dmmv.milp (optimal)"]
    assert proven, ripples  # HiGHS proves this small spec optimal within the time
    polished = ripples["dmmv.local, then polish"]
    assert proven[0] - 1e-12 <= polished <= ripples["Remez rounded"]
