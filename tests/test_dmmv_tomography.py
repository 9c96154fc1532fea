"""Discrete tomography: ray-sum matrix against exact slab clipping, phantoms, SART/SIRT, metrics, recovery."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
import scipy.sparse as sp

import dopt
from dopt.dmmv import tomography
from dopt.dmmv.tomography import (
    TomographySpec,
    boundary_pixels,
    grey_levels,
    make_instance,
    median_smoothed,
    metrics,
    random_blobs,
    ray_matrix,
    refine_boundaries,
    round_to_levels,
    sart,
    sart_rounded,
    shepp_logan,
    sirt,
    smooth_and_repair,
    total_variation,
)


def clipped_lengths(size: int, theta: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Reference matrix: each ray clipped against each pixel square separately (Liang-Barsky slabs)."""
    half = size / 2
    A = np.zeros((theta.size * offsets.size, size * size))
    for (a, angle), (k, s) in itertools.product(enumerate(theta), enumerate(offsets)):
        c, sn = np.cos(angle), np.sin(angle)
        point, direction = np.array([s * c, s * sn]), np.array([-sn, c])
        for row, col in itertools.product(range(size), range(size)):
            boxes = ((col - half, col + 1 - half), (half - row - 1, half - row))
            enter, leave = -np.inf, np.inf
            for axis, (lo, hi) in enumerate(boxes):
                if abs(direction[axis]) < 1e-14:
                    if not lo < point[axis] < hi:
                        enter, leave = 0.0, 0.0
                    continue
                t1, t2 = (lo - point[axis]) / direction[axis], (hi - point[axis]) / direction[axis]
                enter, leave = max(enter, min(t1, t2)), min(leave, max(t1, t2))
            A[a * offsets.size + k, row * size + col] = max(0.0, leave - enter)
    return A


@pytest.mark.parametrize("size", [5, 8])
def test_ray_matrix_equals_slab_clipping(size: int) -> None:
    rng = np.random.default_rng(size)
    theta = np.concatenate([[0.0, np.pi / 4, np.pi / 2], rng.uniform(0, np.pi, 5)])
    detectors, spacing = 8, 0.93  # no ray runs exactly along a pixel boundary
    A = ray_matrix(size, theta, detectors=detectors, spacing=spacing)
    assert sp.issparse(A) and A.shape == (theta.size * detectors, size * size)
    offsets = (np.arange(detectors) - (detectors - 1) / 2) * spacing
    np.testing.assert_allclose(A.toarray(), clipped_lengths(size, theta, offsets), atol=1e-12)


def test_ray_matrix_orientation_column_and_row_sums() -> None:
    image = np.random.default_rng(0).random((6, 6))
    sums = (ray_matrix(6, [0.0, np.pi / 2]) @ image.ravel()).reshape(2, 6)
    np.testing.assert_allclose(sums[0], image.sum(axis=0), atol=1e-12)  # θ = 0: vertical rays, left to right
    np.testing.assert_allclose(sums[1], image.sum(axis=1)[::-1], atol=1e-12)  # θ = π/2: horizontal, bottom to top


def test_ray_lengths_add_up_to_the_chord_through_the_image() -> None:
    size, detectors, spacing = 32, 50, 0.91
    theta = np.random.default_rng(1).uniform(0, np.pi, 9)
    offsets = (np.arange(detectors) - (detectors - 1) / 2) * spacing
    total = ray_matrix(size, theta, detectors=detectors, spacing=spacing).sum(axis=1)
    whole = clipped_lengths(1, theta, offsets / size) * size  # the image as one square, scaled to unit size
    np.testing.assert_allclose(total, whole.ravel(), atol=1e-9)


def test_shepp_logan_matches_scikit_image() -> None:
    skdata = pytest.importorskip("skimage.data")
    reference = skdata.shepp_logan_phantom()
    for levels, cuts in ((2, [0.05]), (4, [0.05, 0.25, 0.5])):
        agree = np.mean(shepp_logan(reference.shape[0], levels) == np.digitize(reference, cuts))
        assert agree > 0.99


def test_phantom_classes_and_grey_levels() -> None:
    np.testing.assert_array_equal(grey_levels(4), [0, 85, 170, 255])
    for levels in (2, 3, 4):
        assert set(np.unique(shepp_logan(64, levels))) == set(range(levels))
        blobs = random_blobs(64, levels, seed=3)
        assert set(np.unique(blobs)) == set(range(levels))
        np.testing.assert_array_equal(blobs, random_blobs(64, levels, seed=3))
        assert blobs[0, 0] == 0 and blobs[-1, -1] == 0  # outside the disc
    assert not np.array_equal(random_blobs(32, 2, seed=1), random_blobs(32, 2, seed=2))
    with pytest.raises(ValueError):
        shepp_logan(16, 5)


def test_round_to_levels_is_the_nearest_level() -> None:
    grey = grey_levels(4)
    x = np.random.default_rng(0).uniform(-50, 300, 200)
    expected = grey[np.argmin(np.abs(x[:, None] - grey[None, :]), axis=1)]
    np.testing.assert_array_equal(round_to_levels(x, grey), expected)


@pytest.mark.parametrize("method", ["sart", "sirt"])
def test_sart_and_sirt_solve_an_overdetermined_consistent_system(method: str) -> None:
    truth = np.random.default_rng(2).uniform(0, 1, 36)
    A = ray_matrix(6, 12, detectors=9)
    p = A @ truth
    if method == "sart":
        x = sart(A, p, blocks=12, iterations=1000, bounds=(0, 1))
    else:
        x = sirt(A, p, iterations=3000, bounds=(0, 1))
    assert np.abs(x - truth).max() < 1e-3


def test_sart_clips_to_bounds_and_checks_blocks() -> None:
    A = ray_matrix(6, 4)
    x = sart(A, A @ np.full(36, 5.0), blocks=4, iterations=5, bounds=(0.0, 1.0))
    assert x.min() >= 0 and x.max() <= 1
    with pytest.raises(ValueError, match="angle blocks"):
        sart(A, np.zeros(A.shape[0]), blocks=5)


def test_instance_noise_is_uniform_and_bounded() -> None:
    spec = TomographySpec(size=16, angles=8, levels=2, noise=40.0, seed=5)
    inst = make_instance(spec)
    noise = inst.sinogram - inst.A @ inst.truth.ravel()
    assert np.abs(noise).max() <= 40.0 and np.abs(noise).max() > 30.0
    problem = inst.problem()
    assert problem.objective(inst.truth.ravel()) == pytest.approx(np.abs(noise).max())
    problem.check(inst.truth.ravel())
    tolerant = make_instance(TomographySpec(size=16, angles=8, noise=40.0, tolerance=40.0, seed=5)).problem()
    assert tolerant.objective(inst.truth.ravel()) == 0.0


def test_metrics_count_wrong_pixels() -> None:
    inst = make_instance(TomographySpec(size=16, angles=4, levels=2, noise=3.0))
    truth = inst.truth
    assert metrics(inst, truth)["pixel_error_rate"] == 0 and metrics(inst, truth)["mae"] == 0
    wrong = truth.copy().ravel()
    wrong[:8] = 255 - wrong[:8]
    m = metrics(inst, wrong)
    assert m["pixel_error_rate"] == pytest.approx(8 / 256)
    assert m["mae"] == pytest.approx(8 * 255 / 256)
    assert m["max_residual"] == pytest.approx(np.abs(inst.A @ wrong - inst.sinogram).max())
    if m["ssim"] is not None:
        assert m["ssim"] < 1.0 and metrics(inst, truth)["ssim"] == pytest.approx(1.0)


@pytest.mark.parametrize(("phantom", "levels"), [("shepp-logan", 2), ("blobs", 2), ("blobs", 3)])
def test_dmmv_recovers_noiseless_small_images(phantom: str, levels: int) -> None:
    inst = make_instance(TomographySpec(size=8, angles=6, levels=levels, phantom=phantom, seed=1))
    result = dopt.solve(inst.problem(), "dmmv.local", seed=0)  # stops at the proven optimum 0
    assert result.status == "optimal" and result.objective < 1e-6
    assert metrics(inst, result.x)["pixel_error_rate"] == 0.0


def test_dmmv_improves_the_max_residual_of_rounded_sart() -> None:
    inst = make_instance(TomographySpec(size=32, angles=8, levels=4, phantom="blobs", noise=60.0))
    base = sart_rounded(inst, iterations=200)
    before = metrics(inst, base)["max_residual"]
    result = dopt.solve(inst.problem(), "dmmv.local", time_limit=60, seed=0, x0=base.ravel(), max_rounds=40)
    assert result.status == "iteration_limit"
    assert result.objective == pytest.approx(metrics(inst, result.x)["max_residual"])
    assert result.objective < 0.6 * before


def test_boundary_pixels_are_those_with_a_differing_four_neighbour() -> None:
    image = np.zeros((6, 6))
    image[2:4, 2:4] = 1.0
    edge = boundary_pixels(image)
    expected = np.zeros((6, 6), dtype=bool)
    expected[1:5, 2:4] = expected[2:4, 1:5] = True  # the square and its 4-neighbours outside it
    np.testing.assert_array_equal(edge, expected)
    assert boundary_pixels(image, width=2).sum() > edge.sum()
    assert not boundary_pixels(np.ones((4, 4))).any()


def test_refine_boundaries_repairs_wrong_edge_pixels_and_keeps_the_interior() -> None:
    """From the truth with flipped edge pixels, the boundary search restores it; interior pixels never move."""
    spec = TomographySpec(size=24, angles=12, levels=2, phantom="shepp-logan", noise=5.0, tolerance=5.0, seed=3)
    inst = make_instance(spec)  # |a_i.x - p_i| <= 5 holds for the truth: the search stops there
    truth = inst.truth
    edge = np.flatnonzero(boundary_pixels(truth))
    start = truth.copy().ravel()
    flip = np.random.default_rng(0).choice(edge, size=6, replace=False)
    start[flip] = 255.0 - start[flip]
    start = start.reshape(truth.shape)
    one_round = refine_boundaries(inst, start, rounds=1, time_limit=20.0)
    interior = ~boundary_pixels(start)
    np.testing.assert_array_equal(one_round[interior], start[interior])
    repaired = refine_boundaries(inst, start, rounds=3, time_limit=30.0)
    assert metrics(inst, repaired)["pixel_error_rate"] == 0.0
    assert metrics(inst, repaired)["max_residual"] <= metrics(inst, start)["max_residual"]


def test_smooth_and_repair_removes_speckle_and_ends_within_the_noise_bound() -> None:
    """Isolated wrong pixels go with the median filter; the boundary repair then brings every ray within δ."""
    spec = TomographySpec(size=24, angles=12, levels=2, phantom="shepp-logan", noise=5.0, seed=3)
    inst = make_instance(spec)  # tolerance 0 in the spec: smooth_and_repair is given δ explicitly
    truth = inst.truth
    start = truth.copy()
    rng = np.random.default_rng(1)
    inside = np.argwhere(scipy.ndimage.binary_erosion(truth > 0, iterations=2))
    for r, c in inside[rng.choice(len(inside), size=8, replace=False)]:
        start[r, c] = 0.0  # speckle: isolated holes in the interior
    smoothed = round_to_levels(scipy.ndimage.median_filter(start, size=3), inst.grey)
    one_round = smooth_and_repair(inst, start, rounds=1, time_limit=20.0, tolerance=5.0)
    interior = ~boundary_pixels(smoothed)
    np.testing.assert_array_equal(one_round[interior], smoothed[interior])
    repaired = smooth_and_repair(inst, start, rounds=3, time_limit=30.0, tolerance=5.0)
    assert metrics(inst, repaired)["max_residual"] <= 5.0 + 1e-9
    assert metrics(inst, smoothed)["max_residual"] > 5.0  # the filter alone leaves the data unexplained
    assert metrics(inst, repaired)["pixel_error_rate"] < metrics(inst, start)["pixel_error_rate"]
    with pytest.raises(ValueError, match="tolerance"):
        smooth_and_repair(inst, start, tolerance=-1.0)


def test_total_variation_sums_neighbour_differences() -> None:
    image = np.array([[0.0, 0.0, 255.0], [0.0, 85.0, 255.0]])
    # rows: |0-0|+|0-255| + |0-85|+|85-255| ; columns: |0-0|+|0-85|+|255-255|
    assert total_variation(image) == 255 + 85 + 170 + 85
    assert total_variation(np.full((4, 5), 170.0)) == 0.0


def test_repair_cycles_return_the_least_varied_image_that_explains_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each cycle repairs the median of the previous cycle's image with its share of the time; the image kept
    is the least varied among those within the slack of the least max residual, never a smoother one that
    leaves the data unexplained."""
    inst = make_instance(TomographySpec(size=16, angles=6, levels=2, phantom="shepp-logan", noise=5.0, seed=1))
    truth = inst.truth
    blank = np.zeros_like(truth)  # no variation at all, but far from the data
    flipped = truth.copy()
    flipped[8, 8] = 255.0 - flipped[8, 8]  # one wrong pixel: rougher and further from the data
    flipped[3, 8] = 255.0 - flipped[3, 8]
    scripted = [blank, truth, flipped]
    calls = []

    def fake_refine(instance, image, *, time_limit, seed, **refine):
        calls.append((image.copy(), time_limit, seed, refine))
        return scripted[len(calls) - 1]

    monkeypatch.setattr(tomography, "refine_boundaries", fake_refine)
    start = truth.copy()
    kept = smooth_and_repair(inst, start, cycles=3, time_limit=30.0, seed=7, tolerance=5.0)
    np.testing.assert_array_equal(kept, truth)
    assert total_variation(blank) < total_variation(truth) < total_variation(flipped)
    assert [(t, seed) for _, t, seed, _ in calls] == [(10.0, 7), (10.0, 8), (10.0, 9)]
    assert all(refine == {"tolerance": 5.0} for *_, refine in calls)
    np.testing.assert_array_equal(calls[1][0], median_smoothed(inst, blank))
    np.testing.assert_array_equal(calls[2][0], median_smoothed(inst, truth))
    with pytest.raises(ValueError, match="cycles"):
        smooth_and_repair(inst, start, cycles=0, tolerance=5.0)


def test_refine_boundaries_checks_its_arguments() -> None:
    inst = make_instance(TomographySpec(size=8, angles=4, levels=2))
    with pytest.raises(ValueError, match="rounds"):
        refine_boundaries(inst, inst.truth, rounds=0)


def test_example_script_runs_and_the_boundary_search_never_raises_the_max_residual() -> None:
    path = Path(__file__).resolve().parents[1] / "examples" / "dmmv_tomography.py"
    spec = importlib.util.spec_from_file_location("dmmv_tomography_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    argv = ["--size", "16", "--angles", "8", "--levels", "2", "--noise", "20", "--time-limit", "1"]
    rows = example.main([*argv, "--sart-iterations", "100"])
    assert set(rows) == {"truth", "SART + rounding", "DART", "dmmv.local", "dmmv boundary", "median + repair"}
    assert rows["dmmv boundary"]["max_residual"] <= rows["SART + rounding"]["max_residual"] + 1e-9
    assert rows["dmmv.local"]["max_residual"] <= rows["SART + rounding"]["max_residual"] + 1e-9
