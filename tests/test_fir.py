"""FIR design as DMMV, checked against scipy.signal.freqz, and the bundled dmmv problem files."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import scipy.signal
from dmmv_cases import brute_force, random_tiny_problem

import dopt
from dopt.dmmv.fir import (
    PRESETS,
    FIRSpec,
    amplitude_response,
    continuous_design,
    dense_ripple,
    filter_spec,
    fir_problem,
    impulse_response,
    paper_spec,
    quantize,
    rounded_design,
    window_design,
)

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "problems" / "dmmv"
LOWPASS = FIRSpec(taps=35, bits=8, bands=((0.0, 0.2, 1.0, 1.0), (0.3, 0.5, 0.0, 1.0)))
BANDPASS = FIRSpec(
    taps=21, bits=6, bands=((0.0, 0.1, 0.0, 3.0), (0.15, 0.3, 1.0, 1.0), (0.36, 0.5, 0.0, 2.0)), grid_density=8
)
SPECS = [paper_spec(), LOWPASS, BANDPASS]
# The paper preset's optimum k/8, proven by HiGHS (scipy.optimize.milp, zero gap); see problems/dmmv/README.md.
PAPER_OPTIMUM = 0.2071036172194
PAPER_OPTIMAL_K = [0, 0, 0, -1, 0, 3, 4]


def example(name: str) -> ModuleType:
    """Import examples/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def freqz_amplitude(h_full: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """The zero-phase amplitude from freqz: H(e^{jω}) e^{jωM} is real for a symmetric filter."""
    omega = 2 * np.pi * freqs
    _, H = scipy.signal.freqz(h_full, worN=omega)
    zero_phase = H * np.exp(1j * omega * (h_full.size - 1) / 2)
    np.testing.assert_allclose(zero_phase.imag, 0.0, atol=1e-10)
    return zero_phase.real


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.taps}taps")
def test_matrix_reproduces_freqz(spec: FIRSpec) -> None:
    problem = fir_problem(spec)
    freqs, _, _ = spec.grid()
    half = np.random.default_rng(spec.taps).choice(spec.levels(), size=spec.half_length)
    h_full = impulse_response(half)
    _, H = scipy.signal.freqz(h_full, worN=2 * np.pi * freqs)
    np.testing.assert_allclose(np.abs(H), np.abs(problem.A @ half), rtol=0, atol=1e-10)
    np.testing.assert_allclose(freqz_amplitude(h_full, freqs), problem.A @ half, rtol=0, atol=1e-10)
    np.testing.assert_allclose(amplitude_response(h_full, freqs), problem.A @ half, rtol=0, atol=1e-10)


def test_impulse_response_is_symmetric() -> None:
    h = impulse_response([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(h, [1.0, 2.0, 3.0, 2.0, 1.0])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.taps}taps")
def test_grid_rows_counts_and_weights(spec: FIRSpec) -> None:
    problem = fir_problem(spec)
    freqs, _, _ = spec.grid()
    total = spec.grid_density * (spec.taps - 1)
    assert problem.shape == (total, spec.half_length)
    widths = np.array([stop - start for start, stop, _, _ in spec.bands])
    for (start, stop, gain, weight), width in zip(spec.bands, widths, strict=True):
        rows = (freqs >= start) & (freqs <= stop)
        assert abs(rows.sum() - total * width / widths.sum()) <= len(spec.bands)
        assert freqs[rows].min() == start and freqs[rows].max() == stop
        np.testing.assert_array_equal(problem.weights[rows], weight)
        np.testing.assert_array_equal(problem.lower[rows], gain)
        np.testing.assert_array_equal(problem.upper[rows], gain)


def test_paper_grid_matches_the_paper_code() -> None:
    _, gains, _ = paper_spec().grid()
    assert gains.size == 192
    assert (gains == 1).sum() == 92 and (gains == 0).sum() == 100


@pytest.mark.parametrize("bits", [1, 4, 8])
def test_values_grid_has_two_to_the_bits_levels(bits: int) -> None:
    problem = fir_problem(FIRSpec(taps=7, bits=bits, bands=((0.0, 0.2, 1.0, 1.0), (0.3, 0.5, 0.0, 1.0))))
    scale = 2 ** (bits - 1)
    assert problem.values.shape == (4, 2**bits)
    np.testing.assert_array_equal(problem.values[0], np.arange(-scale, scale) / scale)
    np.testing.assert_array_equal(problem.values, np.broadcast_to(problem.values[0], problem.values.shape))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.taps}taps")
def test_rounded_design_is_in_domain_and_its_ripple_matches_freqz(spec: FIRSpec) -> None:
    problem = fir_problem(spec)
    x = rounded_design(spec)
    problem.check(x)
    _, half = continuous_design(spec)
    assert np.all(np.abs(x - half) <= 0.5 / 2 ** (spec.bits - 1) + 1e-12)
    freqs, gains, weights = spec.grid()
    ripple = np.max(weights * np.abs(freqz_amplitude(impulse_response(x), freqs) - gains))
    assert problem.objective(x) == pytest.approx(ripple, abs=1e-10)


def test_rounded_design_clips_to_the_grid() -> None:
    spec = FIRSpec(taps=3, bits=2, bands=((0.0, 0.1, 4.0, 1.0), (0.4, 0.5, 0.0, 1.0)))
    x = rounded_design(spec)
    fir_problem(spec).check(x)
    assert x.max() == 0.5


def test_continuous_design_is_the_symmetric_remez_filter() -> None:
    h_full, half = continuous_design(LOWPASS)
    assert h_full.size == 35
    np.testing.assert_allclose(impulse_response(half), h_full, atol=1e-12)
    assert fir_problem(LOWPASS).objective(half) < 1e-3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"taps": 10, "bits": 4, "bands": ((0.0, 0.2, 1.0, 1.0),)},
        {"taps": 11, "bits": 0, "bands": ((0.0, 0.2, 1.0, 1.0),)},
        {"taps": 11, "bits": 4, "bands": ()},
        {"taps": 11, "bits": 4, "bands": ((0.0, 0.3, 1.0, 1.0), (0.2, 0.5, 0.0, 1.0))},
        {"taps": 11, "bits": 4, "bands": ((0.0, 0.6, 1.0, 1.0),)},
        {"taps": 11, "bits": 4, "bands": ((0.0, 0.2, 1.0, 0.0),)},
    ],
)
def test_invalid_specs_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        FIRSpec(**kwargs)


def test_amplitude_response_needs_odd_length() -> None:
    with pytest.raises(ValueError, match="odd-length"):
        amplitude_response(np.ones(4), [0.1])


def assert_same_problem(loaded: dopt.Problem, fresh: dopt.Problem) -> None:
    """Same arrays (to rounding), name, description and [solve] defaults."""
    assert (loaded.name, loaded.description, loaded.defaults) == (fresh.name, fresh.description, fresh.defaults)
    for field in ("A", "values", "lower", "upper", "weights"):
        np.testing.assert_allclose(getattr(loaded, field), getattr(fresh, field), rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    ("script", "argv", "file"),
    [
        ("fir_lowpass", [], "fir-lowpass.toml"),
        ("fir_lowpass", ["--paper"], "fir-paper.toml"),
        ("random_small", [], "random-small.toml"),
    ],
)
def test_bundled_files_equal_a_fresh_generation(script: str, argv: list[str], file: str, tmp_path: Path) -> None:
    example(script).main([*argv, "-o", str(tmp_path / file)])
    assert_same_problem(dopt.load(PROBLEMS / file), dopt.load(tmp_path / file))


def test_bundled_lowpass_is_the_fir_problem_of_its_spec() -> None:
    loaded = dopt.load(PROBLEMS / "fir-lowpass.toml")
    fresh = fir_problem(LOWPASS, name="fir-lowpass-35", defaults={"method": "dmmv.local", "time_limit": 5.0})
    assert_same_problem(loaded, fresh)


def test_random_small_records_its_exhaustive_optimum() -> None:
    problem = dopt.load(PROBLEMS / "random-small.toml")
    recorded = float(re.search(r"optimum (\d+\.\d+), by exhaustive search", problem.description).group(1))
    value, levels = brute_force(problem)
    assert value == pytest.approx(recorded, abs=5e-5)
    assert problem.objective(problem.value_of(levels)) == value


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_exhaustive_search_matches_brute_force(seed: int) -> None:
    problem = random_tiny_problem(seed, max_n=6, max_levels=4)
    value, levels = example("random_small").exhaustive_optimum(problem, chunk=7)
    expected_value, expected_levels = brute_force(problem)
    assert value == pytest.approx(expected_value, rel=1e-12, abs=1e-12)
    np.testing.assert_array_equal(levels, expected_levels)


def test_paper_preset_known_optimum() -> None:
    problem = fir_problem(paper_spec())
    x = np.array(PAPER_OPTIMAL_K) / 8
    problem.check(x)
    assert problem.objective(x) == pytest.approx(PAPER_OPTIMUM, abs=1e-12)
    assert problem.objective(rounded_design(paper_spec())) > PAPER_OPTIMUM


@pytest.mark.skipif("dmmv.milp" not in {m.name for m in dopt.list_methods()}, reason="dmmv.milp not available")
def test_milp_proves_the_paper_optimum() -> None:
    result = dopt.solve(fir_problem(paper_spec()), method="dmmv.milp", time_limit=60)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(PAPER_OPTIMUM, abs=1e-9)


# Low/high/band-pass specs, presets, the windowed baseline and the dense ripple check.


def test_filter_spec_orders_bands_for_low_high_and_band_pass() -> None:
    low = filter_spec(25, 8, [(0.0, 0.2)], [(0.3, 0.5)], stop_weight=2.0)
    assert low.bands == ((0.0, 0.2, 1.0, 1.0), (0.3, 0.5, 0.0, 2.0))
    high = filter_spec(25, 8, [(0.3, 0.5)], [(0.0, 0.2)])
    assert [gain for _, _, gain, _ in high.bands] == [0.0, 1.0]
    band = filter_spec(25, 8, [(0.2, 0.3)], [(0.0, 0.1), (0.4, 0.5)])
    assert [gain for _, _, gain, _ in band.bands] == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        filter_spec(25, 8, [(0.0, 0.3)], [(0.2, 0.5)])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_their_remez_design_meets_the_bands(name: str) -> None:
    spec = PRESETS[name]
    if name != "paper":
        assert 25 <= spec.taps <= 101 and 8 <= spec.bits <= 12
    problem = fir_problem(spec)
    freqs, gains, _ = spec.grid()
    _, half = continuous_design(spec)
    response = problem.A @ half
    # the continuous design follows the desired gains: a low ripple relative to a unit gain
    assert np.abs(response - gains).max() < 0.1
    assert problem.objective(half) <= problem.objective(rounded_design(spec)) + 1e-12
    np.testing.assert_allclose(amplitude_response(impulse_response(half), freqs), response, atol=1e-10)


def test_paper_preset_is_the_paper_spec() -> None:
    assert PRESETS["paper"] == paper_spec()


def test_window_design_is_scipy_firwin() -> None:
    spec = PRESETS["bandpass-75-12"]
    h_full, half = window_design(spec)
    np.testing.assert_allclose(h_full, scipy.signal.firwin(75, [0.12, 0.32], pass_zero=False, fs=1.0), atol=1e-15)
    np.testing.assert_allclose(impulse_response(half), h_full, atol=1e-15)
    highpass = PRESETS["highpass-61-10"]
    np.testing.assert_allclose(window_design(highpass)[0], scipy.signal.firwin(61, 0.28, pass_zero=False, fs=1.0))


@pytest.mark.parametrize("design", ["remez", "firwin"])
def test_rounded_designs_lie_on_the_grid_within_half_a_step(design: str) -> None:
    spec = PRESETS["highpass-61-10"]
    x = rounded_design(spec, design)
    fir_problem(spec).check(x)
    _, half = (continuous_design if design == "remez" else window_design)(spec)
    assert np.all(np.abs(x - half) <= 0.5 / 2 ** (spec.bits - 1) + 1e-12)
    with pytest.raises(ValueError):
        rounded_design(spec, "kaiser")


def test_quantize_clips_to_the_range() -> None:
    np.testing.assert_array_equal(quantize([0.9, -2.0, 0.26, 0.24], 3), [0.75, -1.0, 0.25, 0.25])


def test_dense_ripple_matches_freqz_on_the_bands() -> None:
    spec = LOWPASS
    x = rounded_design(spec)
    freqs = np.linspace(0.0, 0.5, 4096)
    amplitude = freqz_amplitude(impulse_response(x), freqs[1:])
    amplitude = np.concatenate([[x[-1] + 2 * x[:-1].sum()], amplitude])
    in_pass, in_stop = freqs <= 0.2, freqs >= 0.3
    expected = max(np.abs(amplitude[in_pass] - 1).max(), np.abs(amplitude[in_stop]).max())
    assert dense_ripple(spec, x, points=4096) == pytest.approx(expected, abs=1e-10)
    assert dense_ripple(spec, x) >= fir_problem(spec).objective(x) - 1e-4
