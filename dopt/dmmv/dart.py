"""DART (Batenburg and Sijbers, 2011), the discrete-tomography baseline the DMMV paper compares against.

Each iteration segments the current image to the grey levels, fixes every pixel
off a grey-level boundary with probability ``fix_probability`` at its segmented
value, runs SART on the free pixels against the sinogram left by the fixed ones,
and smooths the free pixels with a Gaussian. The defaults are the paper's
experiments: 100 iterations, fix probability 0.5, inner SART of 1000
single-angle updates (ASTRA's count, here ceil(1000 / angles) sweeps), σ = 1.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage
import scipy.sparse as sp

from dopt.dmmv.tomography import TomographyInstance, round_to_levels, sart


def dart(
    instance: TomographyInstance,
    start: np.ndarray,
    *,
    iterations: int = 100,
    fix_probability: float = 0.5,
    updates: int = 1000,
    sigma: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """DART from the continuous image ``start`` (flat or 2-D); returns the final segmentation (flat)."""
    if iterations < 1 or updates < 1:
        raise ValueError("iterations and updates must be >= 1")
    if not 0.0 <= fix_probability <= 1.0:
        raise ValueError(f"fix_probability must be in [0, 1], got {fix_probability}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    grey, shape, angles = instance.grey, instance.truth.shape, instance.spec.angles
    sweeps = math.ceil(updates / angles)
    A = sp.csc_array(instance.A)
    rng = np.random.default_rng(seed)
    image = np.clip(np.asarray(start, dtype=np.float64).reshape(shape), grey[0], grey[-1])
    for it in range(iterations):
        segmented = round_to_levels(image, grey)
        free = grey_boundary(segmented) | (rng.random(shape) >= fix_probability)
        image = np.where(free, image, segmented)
        flat, mask = image.ravel(), free.ravel()
        rest = instance.sinogram - A[:, ~mask] @ flat[~mask]
        step_seed = int(rng.integers(2**31))
        flat[mask] = sart(A[:, mask], rest, angles, sweeps, (grey[0], grey[-1]), seed=step_seed, x0=flat[mask])
        if it < iterations - 1:
            image[free] = scipy.ndimage.gaussian_filter(image, sigma)[free]
    return round_to_levels(image, grey).ravel()


def grey_boundary(image: np.ndarray) -> np.ndarray:
    """Mask of the pixels with an 8-neighbour at another grey level (DART's boundary)."""
    return scipy.ndimage.maximum_filter(image, size=3) != scipy.ndimage.minimum_filter(image, size=3)
