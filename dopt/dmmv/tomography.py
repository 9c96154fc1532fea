"""Discrete tomography as DMMV: recover a few-grey-level image from noisy parallel-beam ray sums.

An N x N image with unit pixels centred on the origin is crossed by parallel
rays ``{p : p.(cos θ, sin θ) = s}``; entry (ray, pixel) of the ray-sum matrix
is the exact length of the ray inside the pixel (row index ``angle * D +
detector``, pixel index ``row * N + column``, row 0 at the top). With a
sinogram ``p = A x + e``, ``|e_i| <= δ``, reconstruction is the DMMV problem
``min max_i |a_i.x - p_i|`` (or the violation beyond a tolerance ε) over
images whose pixels take the grey levels. SART and SIRT, followed by rounding
to the grey levels, are the classical baselines; ``metrics`` scores any image.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.ndimage
import scipy.sparse as sp
from numba import njit

from dopt.dmmv.problem import DMMVProblem

MIN_SEGMENT = 1e-12  # shorter ray-pixel segments (corner touches) are dropped
CONSISTENT_SLACK = 0.05  # smooth_and_repair: max residuals within 5% of the least reached count as explaining the data
PhantomKind = Literal["shepp-logan", "blobs"]

# The modified Shepp-Logan phantom (Toft): intensity, semi-axes a, b, centre x, y, rotation in degrees,
# on the square [-1, 1]^2 with y pointing up.
SHEPP_LOGAN = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)
# Intensity thresholds that split the Shepp-Logan phantom into 2, 3 or 4 classes
# (background 0 / brain 0.2 / blobs 0.3-0.4 / skull 1).
SHEPP_LOGAN_THRESHOLDS = {2: (0.05,), 3: (0.05, 0.5), 4: (0.05, 0.25, 0.5)}


def grey_levels(levels: int, max_grey: float = 255.0) -> np.ndarray:
    """``levels`` equally spaced grey values from 0 to ``max_grey`` ({0, 255}, {0, 85, 170, 255}, ...)."""
    if levels < 2:
        raise ValueError(f"levels: need at least 2 grey levels, got {levels}")
    return np.linspace(0.0, max_grey, levels)


def ray_matrix(size: int, angles: Any, detectors: int | None = None, spacing: float = 1.0) -> sp.csr_array:
    """The sparse (angles * detectors) x size^2 matrix of exact ray-pixel intersection lengths.

    ``angles`` is a count (spread evenly over [0, π)) or an array of radians;
    detector offsets are ``(k - (detectors - 1) / 2) * spacing``.
    """
    if size < 1:
        raise ValueError(f"size: need a positive image size, got {size}")
    theta = projection_angles(angles)
    detectors = size if detectors is None else int(detectors)
    if detectors < 1 or not spacing > 0:
        raise ValueError("detectors and spacing must be positive")
    offsets = (np.arange(detectors) - (detectors - 1) / 2) * spacing
    rows, cols, vals = [], [], []
    for a, angle in enumerate(theta):
        r, c, v = _angle_segments(size, angle, offsets)
        rows.append(r + a * detectors)
        cols.append(c)
        vals.append(v)
    shape = (theta.size * detectors, size * size)
    A = sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    A.sum_duplicates()
    return A


def projection_angles(angles: Any) -> np.ndarray:
    """Radians: ``angles`` itself when it is an array, else that many evenly spread over [0, π)."""
    if np.ndim(angles) == 0:
        count = int(angles)
        if count < 1:
            raise ValueError(f"angles: need at least one angle, got {count}")
        return np.linspace(0.0, np.pi, count, endpoint=False)
    theta = np.asarray(angles, dtype=np.float64).ravel()
    if theta.size == 0 or not np.isfinite(theta).all():
        raise ValueError("angles: need a non-empty array of finite radians")
    return theta


def _angle_segments(size: int, angle: float, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(detector, pixel, length) of every ray-pixel segment at one angle (Siddon's crossing merge)."""
    c, s = math.cos(angle), math.sin(angle)
    half = size / 2
    lines = np.arange(size + 1) - half  # pixel boundaries, in x and in y
    # Ray k: p(t) = offsets[k] (c, s) + t (-s, c); parameters where it crosses each boundary line.
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = (offsets[:, None] * c - lines[None, :]) / s
        ty = (lines[None, :] - offsets[:, None] * s) / c
    t = np.concatenate([tx, ty], axis=1)
    t[~np.isfinite(t)] = np.nan
    t.sort(axis=1)
    length = np.diff(t, axis=1)
    mid = 0.5 * (t[:, 1:] + t[:, :-1])
    x = offsets[:, None] * c - mid * s
    y = offsets[:, None] * s + mid * c
    col = np.floor(x + half)
    row = np.floor(half - y)
    keep = (length > MIN_SEGMENT) & (col >= 0) & (col < size) & (row >= 0) & (row < size)
    ray = np.broadcast_to(np.arange(offsets.size)[:, None], keep.shape)[keep]
    pixel = (row[keep] * size + col[keep]).astype(np.int64)
    return ray, pixel, length[keep]


def shepp_logan(size: int, levels: int = 2) -> np.ndarray:
    """The modified Shepp-Logan phantom sampled at pixel centres, as class indices 0..levels-1."""
    if levels not in SHEPP_LOGAN_THRESHOLDS:
        raise ValueError(f"levels: the Shepp-Logan phantom splits into 2, 3 or 4 classes, got {levels}")
    centres = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(centres, -centres)
    image = np.zeros((size, size))
    for intensity, a, b, x0, y0, degrees in SHEPP_LOGAN:
        phi = math.radians(degrees)
        u = (x - x0) * math.cos(phi) + (y - y0) * math.sin(phi)
        v = -(x - x0) * math.sin(phi) + (y - y0) * math.cos(phi)
        image[(u / a) ** 2 + (v / b) ** 2 <= 1.0] += intensity
    return np.digitize(image, SHEPP_LOGAN_THRESHOLDS[levels]).astype(np.int64)


def random_blobs(size: int, levels: int = 2, seed: int = 0, smoothness: float = 0.06) -> np.ndarray:
    """Random blobs inside the inscribed disc: smoothed noise cut at quantiles into class indices 0..levels-1.

    ``smoothness`` is the Gaussian filter width as a fraction of ``size``; half the
    disc is background and the rest splits evenly between the other classes.
    """
    if levels < 2:
        raise ValueError(f"levels: need at least 2 classes, got {levels}")
    rng = np.random.default_rng(seed)
    field = scipy.ndimage.gaussian_filter(rng.standard_normal((size, size)), smoothness * size, mode="wrap")
    centres = (np.arange(size) + 0.5) / size * 2 - 1
    inside = centres[None, :] ** 2 + centres[:, None] ** 2 <= 0.9**2
    cuts = np.quantile(field[inside], 0.5 + 0.5 * np.arange(levels - 1) / (levels - 1))
    classes = np.digitize(field, cuts)
    classes[~inside] = 0
    return classes.astype(np.int64)


@dataclass(frozen=True)
class TomographySpec:
    """A reconstruction task: phantom, geometry (size^2 pixels, angles x detectors), grey levels, noise.

    ``noise`` is the half-width δ of the uniform noise added to every ray sum (in grey
    units times pixel lengths: the paper uses δ = 1000 with grey levels up to 255);
    ``tolerance`` is ε in the constraints |a_i.x - p_i| <= ε (0: minimise the max residual).
    """

    size: int = 128
    angles: int = 64
    levels: int = 2
    phantom: PhantomKind = "shepp-logan"
    noise: float = 0.0
    detectors: int | None = None
    max_grey: float = 255.0
    tolerance: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 2 or self.angles < 1:
            raise ValueError("size must be >= 2 and angles >= 1")
        if self.phantom not in ("shepp-logan", "blobs"):
            raise ValueError(f"phantom: 'shepp-logan' or 'blobs', got {self.phantom!r}")
        if not (self.noise >= 0 and self.tolerance >= 0 and self.max_grey > 0):
            raise ValueError("noise and tolerance must be >= 0 and max_grey > 0")
        grey_levels(self.levels)

    @property
    def name(self) -> str:
        """A file-friendly name such as ``tomo-shepp-logan-128-2lv-64ang``."""
        return f"tomo-{self.phantom}-{self.size}-{self.levels}lv-{self.angles}ang"


@dataclass(frozen=True)
class TomographyInstance:
    """A generated task: the true image (grey values), the ray-sum matrix, the noisy sinogram."""

    spec: TomographySpec
    truth: np.ndarray
    A: sp.csr_array
    sinogram: np.ndarray

    @property
    def grey(self) -> np.ndarray:
        """The grey levels the pixels may take."""
        return grey_levels(self.spec.levels, self.spec.max_grey)

    def problem(self, **info: Any) -> DMMVProblem:
        """The DMMV problem: pixels in the grey levels, rows |a_i.x - p_i| <= ε."""
        info.setdefault("name", self.spec.name)
        info.setdefault("description", describe(self.spec))
        eps = self.spec.tolerance
        if eps == 0:
            return DMMVProblem(self.A, self.grey, b=self.sinogram, **info)
        return DMMVProblem(self.A, self.grey, lower=self.sinogram - eps, upper=self.sinogram + eps, **info)


def phantom(spec: TomographySpec) -> np.ndarray:
    """The class-index image (0..levels-1) of ``spec``."""
    if spec.phantom == "shepp-logan":
        return shepp_logan(spec.size, spec.levels)
    return random_blobs(spec.size, spec.levels, seed=spec.seed)


def make_instance(spec: TomographySpec) -> TomographyInstance:
    """Generate the phantom, the ray-sum matrix and the sinogram with uniform noise U[-δ, δ]."""
    truth = grey_levels(spec.levels, spec.max_grey)[phantom(spec)]
    A = ray_matrix(spec.size, spec.angles, spec.detectors)
    clean = A @ truth.ravel()
    rng = np.random.default_rng(spec.seed)
    noise = rng.uniform(-spec.noise, spec.noise, size=clean.size) if spec.noise > 0 else 0.0
    return TomographyInstance(spec, truth, A, clean + noise)


def describe(spec: TomographySpec) -> str:
    """A one-line human description of ``spec``, used as the problem's description."""
    grey = ", ".join(f"{g:g}" for g in grey_levels(spec.levels, spec.max_grey))
    detectors = spec.detectors or spec.size
    eps = f"violation beyond ε = {spec.tolerance:g}" if spec.tolerance else "the max residual |a_i.x - p_i|"
    return (
        f"Discrete tomography: {spec.size}x{spec.size} {spec.phantom} phantom (seed {spec.seed}) with grey levels "
        f"{{{grey}}}; parallel beam, {spec.angles} angles over [0, pi) x {detectors} unit-spaced detectors, exact "
        f"ray-pixel lengths; uniform sinogram noise U[-{spec.noise:g}, {spec.noise:g}]. Variables: the pixels in "
        f"row-major order; objective: {eps}."
    )


def sart(
    A: sp.csr_array,
    sinogram: np.ndarray,
    blocks: int,
    iterations: int = 1000,
    bounds: tuple[float, float] = (-np.inf, np.inf),
    relaxation: float = 1.0,
    seed: int = 0,
    x0: np.ndarray | None = None,
) -> np.ndarray:
    """SART (Andersen-Kak): one update per projection angle, angles in a random order each sweep, box-clipped.

    The rows of ``A`` must come in ``blocks`` equal consecutive groups (one per angle). The
    sweeps start from ``x0`` (default zero).
    """
    A = sp.csr_array(A)
    m, n = A.shape
    if m % blocks:
        raise ValueError(f"blocks: {m} rows do not split into {blocks} equal angle blocks")
    per = m // blocks
    row_sums = np.asarray(A.sum(axis=1)).ravel()
    col_sums = np.zeros((blocks, n))
    for b in range(blocks):
        col_sums[b] = np.asarray(A[b * per : (b + 1) * per].sum(axis=0)).ravel()
    inv_rows = np.divide(1.0, row_sums, out=np.zeros(m), where=row_sums > 0)
    inv_cols = np.divide(relaxation, col_sums, out=np.zeros_like(col_sums), where=col_sums > 0)
    orders = np.stack([np.random.default_rng(seed + k).permutation(blocks) for k in range(iterations)])
    x = np.zeros(n) if x0 is None else np.array(x0, dtype=np.float64).reshape(n)
    _sart_sweeps(
        A.indptr.astype(np.int64),
        A.indices.astype(np.int64),
        A.data,
        np.asarray(sinogram, dtype=np.float64),
        inv_rows,
        inv_cols,
        orders,
        per,
        float(bounds[0]),
        float(bounds[1]),
        x,
    )
    return x


@njit(cache=True)
def _sart_sweeps(indptr, indices, data, p, inv_rows, inv_cols, orders, per, lo, hi, x):
    """Run every sweep of SART in place on ``x``."""
    n = x.size
    delta = np.zeros(n)
    for k in range(orders.shape[0]):
        for b in orders[k]:
            delta[:] = 0.0
            for i in range(b * per, (b + 1) * per):
                s = 0.0
                for q in range(indptr[i], indptr[i + 1]):
                    s += data[q] * x[indices[q]]
                r = (p[i] - s) * inv_rows[i]
                for q in range(indptr[i], indptr[i + 1]):
                    delta[indices[q]] += data[q] * r
            for j in range(n):
                v = x[j] + inv_cols[b, j] * delta[j]
                x[j] = min(max(v, lo), hi)


def sirt(
    A: sp.csr_array,
    sinogram: np.ndarray,
    iterations: int = 1000,
    bounds: tuple[float, float] = (-np.inf, np.inf),
    relaxation: float = 1.0,
) -> np.ndarray:
    """SIRT: simultaneous row- and column-normalised gradient steps on ||Ax - p||^2, box-clipped."""
    A = sp.csr_array(A)
    AT = sp.csr_array(A.T)
    row_sums = np.asarray(A.sum(axis=1)).ravel()
    col_sums = np.asarray(A.sum(axis=0)).ravel()
    R = np.divide(1.0, row_sums, out=np.zeros_like(row_sums), where=row_sums > 0)
    C = np.divide(relaxation, col_sums, out=np.zeros_like(col_sums), where=col_sums > 0)
    p = np.asarray(sinogram, dtype=np.float64)
    x = np.zeros(A.shape[1])
    for _ in range(iterations):
        x = np.clip(x + C * (AT @ (R * (p - A @ x))), bounds[0], bounds[1])
    return x


def round_to_levels(image: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Each pixel replaced by the nearest grey level."""
    grey = np.sort(np.asarray(grey, dtype=np.float64))
    cuts = 0.5 * (grey[1:] + grey[:-1])
    return grey[np.searchsorted(cuts, image)]


def ssim_available() -> bool:
    """True when scikit-image (for SSIM) is installed."""
    return importlib.util.find_spec("skimage") is not None


def metrics(instance: TomographyInstance, image: np.ndarray) -> dict[str, float | None]:
    """Pixel error rate, mean absolute error, SSIM (None without scikit-image), max sinogram residual."""
    truth = instance.truth
    image = np.asarray(image, dtype=np.float64).reshape(truth.shape)
    ssim = None
    if ssim_available():
        from skimage.metrics import structural_similarity

        ssim = float(structural_similarity(truth, image, data_range=instance.spec.max_grey))
    return {
        "pixel_error_rate": float(np.mean(~np.isclose(image, truth))),
        "mae": float(np.mean(np.abs(image - truth))),
        "ssim": ssim,
        "max_residual": max_residual(instance, image),
    }


def max_residual(instance: TomographyInstance, image: np.ndarray) -> float:
    """The largest |a_i.x - p_i| of the image (flat or 2-D) against the sinogram."""
    flat = np.asarray(image, dtype=np.float64).ravel()
    return float(np.max(np.abs(instance.A @ flat - instance.sinogram)))


def sart_image(instance: TomographyInstance, iterations: int = 1000, seed: int = 0) -> np.ndarray:
    """SART in the grey range (a flat, continuous image): the start of the discrete methods."""
    grey = instance.grey
    return sart(instance.A, instance.sinogram, instance.spec.angles, iterations, (grey[0], grey[-1]), seed=seed)


def sart_rounded(instance: TomographyInstance, iterations: int = 1000, seed: int = 0) -> np.ndarray:
    """The baseline: SART in the grey range, rounded to the grey levels (a flat image)."""
    return round_to_levels(sart_image(instance, iterations, seed), instance.grey)


def boundary_pixels(image: np.ndarray, width: int = 1) -> np.ndarray:
    """Mask of the pixels with a 4-neighbour at another grey level, widened by ``width - 1`` dilations."""
    img = np.asarray(image)
    edge = np.zeros(img.shape, dtype=bool)
    rows, cols = img[1:] != img[:-1], img[:, 1:] != img[:, :-1]
    edge[1:] |= rows
    edge[:-1] |= rows
    edge[:, 1:] |= cols
    edge[:, :-1] |= cols
    return scipy.ndimage.binary_dilation(edge, iterations=width - 1) if width > 1 and edge.any() else edge


def refine_boundaries(
    instance: TomographyInstance,
    start: np.ndarray,
    *,
    rounds: int = 3,
    time_limit: float = 10.0,
    width: int = 1,
    seed: int = 0,
    tolerance: float | None = None,
    device: str = "auto",
    **local_options: Any,
) -> np.ndarray:
    """DMMV on the boundary pixels only, the rest of the image held: DART's idea with dmmv.local as the solver.

    Each round frees the pixels on a grey-level boundary of the current image, solves
    min max_i |a_i.x - p_i| (or the violation beyond ``tolerance``, default the spec's) over
    them from their current levels with ``time_limit / rounds`` seconds, and stops early when
    nothing moved. Interior pixels of a piecewise-constant image are rarely wrong, so this
    searches where errors are and keeps the search from fitting the noise elsewhere.
    ``device`` is where ``dmmv.local`` runs (``auto``, ``cpu`` or ``gpu``); ``local_options`` go to it
    (``populations``, ``max_rounds``...).
    """
    from dopt.core.solve import solve

    if rounds < 1 or time_limit <= 0 or width < 1:
        raise ValueError("rounds and width must be >= 1 and time_limit > 0")
    eps = instance.spec.tolerance if tolerance is None else tolerance
    if not eps >= 0:
        raise ValueError(f"tolerance must be >= 0, got {eps}")
    A = sp.csc_array(instance.A)
    image = np.asarray(start, dtype=np.float64).reshape(instance.truth.shape).copy()
    for r in range(rounds):
        free = boundary_pixels(image, width).ravel()
        if not free.any():
            break
        flat = image.ravel()
        rest = instance.sinogram - A[:, ~free] @ flat[~free]
        sub = DMMVProblem(A[:, free], instance.grey, lower=rest - eps, upper=rest + eps, name="boundary")
        result = solve(
            sub,
            "dmmv.local",
            time_limit=time_limit / rounds,
            seed=seed + r,
            x0=flat[free],
            device=device,
            **local_options,
        )
        if np.array_equal(result.x, flat[free]):
            break
        flat[free] = result.x
    return image


def smooth_and_repair(
    instance: TomographyInstance,
    start: np.ndarray,
    *,
    filter_size: int = 3,
    cycles: int = 1,
    time_limit: float = 10.0,
    seed: int = 0,
    **refine: Any,
) -> np.ndarray:
    """DART's smoothing step, then DMMV back to the data: a median-filtered image repaired on its boundaries,
    repeated ``cycles`` times.

    Under uniform noise |e_i| <= δ every image with max residual <= δ explains the data equally
    well, so the data alone cannot pick among them (the sparse-angle case above all); the median
    filter brings in the prior that grey regions are blobs, but leaves rays far outside the
    noise bound. ``refine_boundaries`` with ``tolerance`` = δ (pass it in ``refine``) then moves
    boundary pixels only until every ray is within δ again, and stops there.

    Each cycle starts from the previous one's image, with ``time_limit / cycles`` seconds (and
    seed ``seed + cycle``). Of the images the cycles end with, the one returned is the one with
    the least total variation among those that explain the data (max residual within
    ``CONSISTENT_SLACK`` of the least one reached): the same prior, now as the tie-break among
    data-consistent images.
    """
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    image, ends = start, []
    for cycle in range(cycles):
        smoothed = median_smoothed(instance, image, filter_size)
        image = refine_boundaries(instance, smoothed, time_limit=time_limit / cycles, seed=seed + cycle, **refine)
        ends.append((max_residual(instance, image), total_variation(image), image))
    floor = min(residual for residual, _, _ in ends)
    consistent = [end for end in ends if end[0] <= floor * (1.0 + CONSISTENT_SLACK)]
    return min(consistent, key=lambda end: end[1])[2]


def total_variation(image: np.ndarray) -> float:
    """Anisotropic total variation: the summed absolute grey differences of 4-neighbour pixels."""
    img = np.asarray(image, dtype=np.float64)
    return float(np.abs(np.diff(img, axis=0)).sum() + np.abs(np.diff(img, axis=1)).sum())


def median_smoothed(instance: TomographyInstance, image: np.ndarray, filter_size: int = 3) -> np.ndarray:
    """The image (flat or 2-D) median-filtered over filter_size x filter_size windows, on the grey levels."""
    if filter_size < 1:
        raise ValueError(f"filter_size must be >= 1, got {filter_size}")
    square = np.asarray(image, dtype=np.float64).reshape(instance.truth.shape)
    return round_to_levels(scipy.ndimage.median_filter(square, size=filter_size), instance.grey)
