"""DART, the discrete-tomography baseline: boundary mask, warm-started SART, fixed pixels, reconstruction quality."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dopt.dmmv.dart import dart, grey_boundary
from dopt.dmmv.tomography import TomographySpec, make_instance, metrics, ray_matrix, round_to_levels, sart, sart_image


def test_grey_boundary_is_an_eight_neighbour_at_another_level() -> None:
    rng = np.random.default_rng(0)
    image = rng.choice([0.0, 1.0, 2.0], size=(7, 9), p=[0.7, 0.2, 0.1])
    expected = np.zeros(image.shape, dtype=bool)
    for r, c in itertools.product(range(7), range(9)):
        window = image[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2]
        expected[r, c] = bool((window != image[r, c]).any())
    np.testing.assert_array_equal(grey_boundary(image), expected)


def test_sart_warm_started_at_a_solution_stays_there() -> None:
    A = ray_matrix(6, 4)
    solution = np.linspace(0.1, 0.9, 36)
    x = sart(A, A @ solution, blocks=4, iterations=3, bounds=(0.0, 1.0), x0=solution)
    np.testing.assert_allclose(x, solution, atol=1e-12)


def test_dart_beats_rounded_sart_on_a_sparse_angle_binary_phantom() -> None:
    instance = make_instance(TomographySpec(32, 6, 2, "blobs", 0.0))
    start = sart_image(instance, 200)
    image = dart(instance, start, iterations=30)
    assert set(np.unique(image)) <= set(instance.grey)
    sart_mae = metrics(instance, round_to_levels(start, instance.grey))["mae"]
    assert metrics(instance, image)["mae"] < 0.5 * sart_mae


def test_with_every_off_boundary_pixel_fixed_only_boundary_pixels_change() -> None:
    instance = make_instance(TomographySpec(32, 8, 3, "blobs", 50.0))
    start = sart_image(instance, 50)
    segmented = round_to_levels(start, instance.grey).reshape(32, 32)
    image = dart(instance, start, iterations=1, fix_probability=1.0).reshape(32, 32)
    changed = image != segmented
    assert changed.any()
    assert not (changed & ~grey_boundary(segmented)).any()


def test_dart_is_reproducible_for_a_seed() -> None:
    instance = make_instance(TomographySpec(16, 4, 2, "blobs", 10.0))
    start = sart_image(instance, 20)
    first, again = (dart(instance, start, iterations=5, seed=3) for _ in range(2))
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"iterations": 0}, "iterations"),
        ({"updates": 0}, "updates"),
        ({"fix_probability": 1.5}, "fix_probability"),
        ({"sigma": -1.0}, "sigma"),
    ],
)
def test_dart_checks_its_arguments(kwargs: dict, words: str) -> None:
    instance = make_instance(TomographySpec(8, 2, 2, "blobs", 0.0))
    with pytest.raises(ValueError, match=words):
        dart(instance, np.zeros(64), **kwargs)
