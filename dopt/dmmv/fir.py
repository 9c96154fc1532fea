"""Linear-phase FIR filter design with quantized coefficients, as a DMMV problem.

A type-I filter (odd length N = 2M + 1, symmetric taps) has the real amplitude
``A(ω) = h_M + Σ_{n<M} 2 h_n cos(ω(M − n))``; choosing the free half
coefficients h_0..h_M on the fixed-point grid k / 2^(B−1) to minimise the
largest weighted deviation ``w(ω) |A(ω) − d(ω)|`` over a frequency grid is a
DMMV problem with one equality row per grid frequency. Frequencies are
normalized (cycles/sample, 0.5 = Nyquist), as in ``scipy.signal.remez(fs=1)``.
Low-, high- and band-pass specs come from ``filter_spec``; ``PRESETS`` holds
the paper's instance and the larger benchmark specs; the baselines are the
continuous Remez or windowed (firwin) designs rounded to the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.signal

from dopt.dmmv.problem import DMMVProblem

Band = tuple[float, float, float, float]


@dataclass(frozen=True)
class FIRSpec:
    """A type-I FIR design: ``taps`` (odd), ``bits`` per coefficient, bands of (start, stop, gain, weight).

    ``grid_density`` sets the number of grid frequencies to ``grid_density * (taps - 1)``,
    shared between the bands in proportion to their widths.
    """

    taps: int
    bits: int
    bands: tuple[Band, ...]
    grid_density: int = 16

    def __post_init__(self) -> None:
        bands = tuple(tuple(float(v) for v in band) for band in self.bands)
        object.__setattr__(self, "bands", bands)
        if self.taps < 3 or self.taps % 2 == 0:
            raise ValueError(f"taps: a type-I filter needs an odd length >= 3, got {self.taps}")
        if self.bits < 1:
            raise ValueError(f"bits: need at least 1 bit, got {self.bits}")
        if self.grid_density < 1:
            raise ValueError(f"grid_density: must be positive, got {self.grid_density}")
        if not bands or any(len(band) != 4 for band in bands):
            raise ValueError("bands: give at least one (start, stop, gain, weight) band")
        edges = [edge for start, stop, _, _ in bands for edge in (start, stop)]
        if edges != sorted(edges) or edges[0] < 0 or edges[-1] > 0.5 or len(set(edges)) != len(edges):
            raise ValueError(f"bands: edges must increase strictly within [0, 0.5], got {edges}")
        if any(weight <= 0 or not np.isfinite(weight) for *_, weight in bands):
            raise ValueError("bands: weights must be positive and finite")

    @property
    def half_length(self) -> int:
        """Number of free coefficients h_0..h_M, M = (taps - 1) / 2."""
        return (self.taps + 1) // 2

    def levels(self) -> np.ndarray:
        """The 2^bits coefficient values k / 2^(bits-1), k in [-2^(bits-1), 2^(bits-1))."""
        scale = 2 ** (self.bits - 1)
        return np.arange(-scale, scale) / scale

    def grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid frequencies (cycles/sample) with their desired gains and weights, band by band."""
        total = self.grid_density * (self.taps - 1)
        widths = np.array([stop - start for start, stop, _, _ in self.bands])
        counts = np.maximum(1, np.floor(total * widths / widths.sum()).astype(int))
        counts[-1] = max(1, total - counts[:-1].sum())
        freqs = [np.linspace(start, stop, count) for (start, stop, _, _), count in zip(self.bands, counts, strict=True)]
        gains = [np.full(count, gain) for (_, _, gain, _), count in zip(self.bands, counts, strict=True)]
        weights = [np.full(count, weight) for (*_, weight), count in zip(self.bands, counts, strict=True)]
        return np.concatenate(freqs), np.concatenate(gains), np.concatenate(weights)


def filter_spec(
    taps: int,
    bits: int,
    passbands: Any,
    stopbands: Any,
    stop_weight: float = 1.0,
    grid_density: int = 16,
) -> FIRSpec:
    """A spec from pass bands (gain 1, weight 1) and stop bands (gain 0, ``stop_weight``) given as (start, stop) pairs.

    One stop band above one pass band is a low-pass, the reverse a high-pass,
    stop-pass-stop a band-pass; any interleaving of disjoint bands is allowed.
    """
    bands = [(float(a), float(b), 1.0, 1.0) for a, b in passbands]
    bands += [(float(a), float(b), 0.0, float(stop_weight)) for a, b in stopbands]
    return FIRSpec(taps=taps, bits=bits, bands=tuple(sorted(bands)), grid_density=grid_density)


def paper_spec() -> FIRSpec:
    """The DMMV paper's public-code instance: 13 taps, 4 bits, pass [0, 0.4π], stop [4π/7, π], 192 points."""
    return FIRSpec(taps=13, bits=4, bands=((0.0, 0.2, 1.0, 1.0), (2 / 7, 0.5, 0.0, 1.0)), grid_density=16)


# Named specs: the paper's instance and larger ones where exact MILP stops being practical (taps 25-101, 8-12 bits).
PRESETS: dict[str, FIRSpec] = {
    "paper": paper_spec(),
    "lowpass-25-8": filter_spec(25, 8, [(0.0, 0.2)], [(0.27, 0.5)]),
    "lowpass-55-10": filter_spec(55, 10, [(0.0, 0.15)], [(0.19, 0.5)]),
    "highpass-61-10": filter_spec(61, 10, [(0.3, 0.5)], [(0.0, 0.26)], stop_weight=2.0),
    "bandpass-75-12": filter_spec(75, 12, [(0.14, 0.3)], [(0.0, 0.1), (0.34, 0.5)]),
    "lowpass-101-12": filter_spec(101, 12, [(0.0, 0.2)], [(0.22, 0.5)]),
}


def amplitude_matrix(taps: int, freqs: np.ndarray) -> np.ndarray:
    """Rows [2cos(ωM), 2cos(ω(M-1)), ..., 2cos(ω), 1] mapping half coefficients to A(ω) at each frequency."""
    M = (taps - 1) // 2
    omega = 2 * np.pi * np.asarray(freqs, dtype=np.float64)
    A = np.cos(np.outer(omega, np.arange(M, -1, -1)))
    A[:, :-1] *= 2.0
    return A


def describe(spec: FIRSpec) -> str:
    """A one-line human description of ``spec``, used as the problem's description."""
    bands = "; ".join(f"[{a:.4g}, {b:.4g}] -> {g:g} (weight {w:g})" for a, b, g, w in spec.bands)
    scale = 2 ** (spec.bits - 1)
    return (
        f"Type-I linear-phase FIR filter, {spec.taps} taps, {spec.bits}-bit coefficients k/{scale} "
        f"(k in [-{scale}, {scale - 1}]); bands in cycles/sample (0.5 = Nyquist): {bands}; "
        f"{spec.grid_density * (spec.taps - 1)} grid frequencies. Variables: the {spec.half_length} half "
        f"coefficients h_0..h_M; objective: the largest weighted ripple w|A(f) - d| on the grid."
    )


def fir_problem(spec: FIRSpec, **info: Any) -> DMMVProblem:
    """The DMMV problem of ``spec``; ``info`` overrides the problem's name, description and defaults."""
    freqs, gains, weights = spec.grid()
    info.setdefault("name", f"fir-{spec.taps}-taps-{spec.bits}-bit")
    info.setdefault("description", describe(spec))
    return DMMVProblem(amplitude_matrix(spec.taps, freqs), spec.levels(), b=gains, weights=weights, **info)


def strided_neighbourhoods(half_length: int, size: int = 17, strides: tuple[int, ...] = (2, 1, 3)) -> list[np.ndarray]:
    """Sets of half coefficients that move together well, for ``dopt.dmmv.lns.polish``.

    For each stride s and offset, windows of ``size`` consecutive coefficients among those
    with index = offset (mod s), overlapping by two thirds, the last one flush with the end.
    Coefficients of one parity (s = 2) have columns cos(ω(M − n)) that agree in sign
    pattern near a quarter of the sampling rate, so shifting several of them reshapes the
    band-pass response there without moving the rest.
    """
    if half_length < 1 or size < 1 or not strides or min(strides) < 1:
        raise ValueError("half_length, size and every stride must be >= 1")
    sets: list[np.ndarray] = []
    seen: set[tuple[int, ...]] = set()
    for stride in strides:
        for offset in range(min(stride, half_length)):
            members = np.arange(offset, half_length, stride)
            starts = [*range(0, max(1, members.size - size + 1), max(1, size // 3)), max(0, members.size - size)]
            for start in starts:
                window = members[start : start + size]
                if tuple(window) not in seen:
                    seen.add(tuple(window))
                    sets.append(window)
    return sets


def impulse_response(half_coefficients: Any) -> np.ndarray:
    """The full symmetric impulse response (h_0..h_M..h_0) of the half coefficients h_0..h_M."""
    half = np.asarray(half_coefficients, dtype=np.float64)
    return np.concatenate([half, half[-2::-1]])


def amplitude_response(h_full: Any, freqs: Any) -> np.ndarray:
    """The real zero-phase amplitude A(f) of a symmetric odd-length filter at frequencies in cycles/sample."""
    h = np.asarray(h_full, dtype=np.float64)
    if h.ndim != 1 or h.size % 2 == 0:
        raise ValueError(f"h_full: expected an odd-length 1-D filter, got shape {h.shape}")
    M = (h.size - 1) // 2
    omega = 2 * np.pi * np.asarray(freqs, dtype=np.float64)
    return np.cos(np.outer(omega, M - np.arange(h.size))) @ h


def continuous_design(spec: FIRSpec) -> tuple[np.ndarray, np.ndarray]:
    """The unquantized minimax design of ``spec`` by ``scipy.signal.remez``: (full taps, half coefficients)."""
    edges = [edge for start, stop, _, _ in spec.bands for edge in (start, stop)]
    h_full = scipy.signal.remez(
        spec.taps,
        edges,
        [gain for _, _, gain, _ in spec.bands],
        weight=[weight for *_, weight in spec.bands],
        fs=1.0,
        grid_density=spec.grid_density,
    )
    return h_full, h_full[: spec.half_length].copy()


def window_design(spec: FIRSpec) -> tuple[np.ndarray, np.ndarray]:
    """The windowed (Hamming) design of ``spec`` by ``scipy.signal.firwin``, cutoffs mid-transition: (full, half)."""
    cutoffs = [0.5 * (a[1] + b[0]) for a, b in zip(spec.bands, spec.bands[1:], strict=False) if a[2] != b[2]]
    h_full = scipy.signal.firwin(spec.taps, cutoffs, pass_zero=bool(spec.bands[0][2] > 0), fs=1.0)
    return h_full, h_full[: spec.half_length].copy()


def quantize(half_coefficients: Any, bits: int) -> np.ndarray:
    """Coefficients rounded to the nearest level k / 2^(bits-1), clipped to the grid's range."""
    scale = 2 ** (bits - 1)
    return np.clip(np.round(np.asarray(half_coefficients, dtype=np.float64) * scale), -scale, scale - 1) / scale


def rounded_design(spec: FIRSpec, design: str = "remez") -> np.ndarray:
    """The half coefficients of the continuous ``remez`` or ``firwin`` design rounded to the grid."""
    designs = {"remez": continuous_design, "firwin": window_design}
    if design not in designs:
        raise ValueError(f"design: 'remez' or 'firwin', got {design!r}")
    _, half = designs[design](spec)
    return quantize(half, spec.bits)


def dense_ripple(spec: FIRSpec, half_coefficients: Any, points: int = 16384) -> float:
    """The largest weighted ripple on ``points`` frequencies over [0, 0.5] that fall in a band (freqz-style check)."""
    freqs = np.linspace(0.0, 0.5, points)
    response = amplitude_matrix(spec.taps, freqs) @ np.asarray(half_coefficients, dtype=np.float64)
    worst = 0.0
    for start, stop, gain, weight in spec.bands:
        inside = (freqs >= start) & (freqs <= stop)
        if inside.any():
            worst = max(worst, float(np.max(weight * np.abs(response[inside] - gain))))
    return worst
