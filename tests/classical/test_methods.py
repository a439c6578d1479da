"""Known answers for the classical methods, and every method on every kind of input."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import filters

from segscope.classical import METHODS, segment, to_bands, to_gray
from segscope.core.prediction import Prediction
from segscope.errors import DataError, ParameterError


def _two_disks(r: int = 12, gap: int = 20) -> np.ndarray:
    """Two overlapping disks (centres ``gap`` apart, radius ``r``): one connected blob."""
    yy, xx = np.mgrid[:48, :72]
    a = (yy - 24) ** 2 + (xx - 24) ** 2 < r**2
    b = (yy - 24) ** 2 + (xx - 24 - gap) ** 2 < r**2
    return a | b


@pytest.fixture
def blob_image() -> np.ndarray:
    """Gray uint8 image: a bright rectangle on a dark noisy background (seeded)."""
    rng = np.random.default_rng(0)
    img = rng.integers(10, 40, size=(40, 56)).astype(np.uint8)
    img[10:30, 15:45] = rng.integers(180, 220, size=(20, 30))
    return img


# ------------------------------------------------------------------ thresholds
def test_otsu_splits_two_levels_exactly() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random((30, 40)) > 0.6
    img = np.where(truth, 170, 60).astype(np.uint8)
    pred = segment(img, "otsu")
    np.testing.assert_array_equal(pred.mask, truth.astype(np.uint8))
    assert pred.info["threshold"] == pytest.approx(filters.threshold_otsu(img))
    assert 60 <= pred.info["threshold"] < 170
    dark = segment(img, "otsu", polarity="dark")
    np.testing.assert_array_equal(dark.mask, (~truth).astype(np.uint8))


def test_multi_otsu_three_levels() -> None:
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, size=(30, 30))
    img = np.array([20, 120, 230], np.uint8)[truth]
    pred = segment(img, "multi-otsu", classes=3)
    np.testing.assert_array_equal(pred.mask, truth)
    assert len(pred.info["thresholds"]) == 2
    np.testing.assert_array_equal(segment(img, "multi-otsu", polarity="dark").mask, 2 - truth)


def test_multi_otsu_uint16_uses_nbins_not_one_bin_per_value() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, size=(20, 20))
    img = (np.array([1000, 30000, 60000])[truth] + rng.integers(0, 50, truth.shape)).astype(np.uint16)
    np.testing.assert_array_equal(segment(img, "multi-otsu").mask, truth)


def test_fixed_threshold_and_local_thresholds(blob_image: np.ndarray) -> None:
    assert segment(blob_image, "threshold", value=100).mask[20, 30] == 1
    assert segment(blob_image, "threshold", value=100).mask[0, 0] == 0
    thr = filters.threshold_sauvola(blob_image, window_size=15)
    np.testing.assert_array_equal(segment(blob_image, "sauvola").mask, (blob_image > thr).astype(np.uint8))
    loc = filters.threshold_local(blob_image, 11, method="mean", offset=-5)
    got = segment(blob_image, "adaptive", block_size=11, local="mean", offset=-5).mask
    np.testing.assert_array_equal(got, (blob_image > loc).astype(np.uint8))


def test_constant_image_fails_with_the_fix() -> None:
    with pytest.raises(DataError, match="constant.*threshold"):
        segment(np.full((8, 8), 7, np.uint8), "otsu")


# ------------------------------------------------------------------ regions and edges
def test_watershed_splits_two_touching_disks() -> None:
    blob = _two_disks()
    from scipy import ndimage

    assert ndimage.label(blob)[1] == 1  # one connected component before the split
    pred = segment(blob.astype(np.uint8) * 200, "watershed", min_distance=5)
    assert len(pred.instances) == 2
    masks = pred.instances.to_masks()
    np.testing.assert_array_equal(masks.any(axis=0), blob)
    left, right = sorted(masks, key=lambda m: np.argwhere(m)[:, 1].mean())
    assert left[24, 14] and right[24, 54] and not left[24, 54]
    np.testing.assert_array_equal(pred.mask, blob.astype(np.uint8))


def test_watershed_with_seeds_uses_them_as_markers() -> None:
    blob = _two_disks()
    pred = segment(blob.astype(np.uint8), "watershed", seeds="24,24;24,44")
    assert len(pred.instances) == 2 and pred.info["markers"] == 2


def test_region_growing_stops_at_an_edge() -> None:
    img = np.full((20, 20), 50, np.uint8)
    img[:, 12] = 250  # a bright wall
    img[:, 13:] = 60
    pred = segment(img, "region-growing", seeds=[[5, 3]], tolerance=20)
    expected = np.zeros((20, 20), np.uint8)
    expected[:, :12] = 1
    np.testing.assert_array_equal(pred.mask, expected)
    assert len(pred.instances) == 1


def test_region_growing_seed_outside_image() -> None:
    with pytest.raises(DataError, match=r"seed \(30, 1\) lies outside the 20x20 image"):
        segment(np.zeros((20, 20)), "region-growing", seeds=[[30, 1]])


def test_canny_and_sobel_fill_find_closed_squares() -> None:
    img = np.zeros((60, 60), np.uint8)
    img[5:25, 5:25] = 200
    img[35:55, 30:55] = 200
    for name in ("canny-fill", "sobel-fill"):
        pred = segment(img, name)
        assert len(pred.instances) == 2, name
        assert pred.mask[15, 15] == 1 and pred.mask[45, 40] == 1 and pred.mask[30, 5] == 0, name


def test_random_walker_probs_are_probabilities(blob_image: np.ndarray) -> None:
    pred = segment(blob_image, "random-walker")
    assert pred.probs.shape == (*blob_image.shape, 2) and pred.probs.dtype == np.float32
    np.testing.assert_allclose(pred.probs.sum(axis=2), 1, atol=1e-5)
    truth = np.zeros(blob_image.shape, np.uint8)
    truth[10:30, 15:45] = 1
    np.testing.assert_array_equal(pred.mask, truth)


# ------------------------------------------------------------------ clustering
def test_kmeans_two_colours() -> None:
    rng = np.random.default_rng(4)
    truth = rng.random((24, 24)) > 0.5
    img = np.where(truth[..., None], [[[230, 40, 40]]], [[[20, 30, 200]]]).astype(np.uint8)
    pred = segment(img, "kmeans", k=2)
    # cluster order is by mean colour value: red (230+40+40) > blue (20+30+200)
    np.testing.assert_array_equal(pred.mask, truth.astype(np.uint8))
    np.testing.assert_allclose(pred.probs.sum(axis=2), 1, atol=1e-5)
    np.testing.assert_allclose(pred.probs[truth, 1], 1, atol=1e-4)  # exact centre hit -> membership 1


def test_kmeans_fewer_values_than_k() -> None:
    with pytest.raises(DataError, match="2 distinct values, fewer than k=3"):
        segment(np.eye(6, dtype=np.uint8), "kmeans", k=3)


def test_slic_returns_about_n_segments() -> None:
    yy, xx = np.mgrid[:96, :96] / 95
    img = np.dstack([yy, xx, (yy + xx) / 2])
    for n in (16, 36, 64):
        pred = segment(img, "slic", n_segments=n)
        assert 0.7 * n <= pred.info["segments"] <= 1.3 * n
        assert pred.info["kind"] == "segments"
        assert len(pred.instances) == len(np.unique(pred.mask)) == pred.info["segments"]


def test_felzenszwalb_and_quickshift_give_segments_covering_the_image() -> None:
    img = np.zeros((30, 30, 3), np.uint8)
    img[:, 15:] = (200, 50, 50)
    for name in ("felzenszwalb", "quickshift"):
        pred = segment(img, name)
        assert pred.mask.min() >= 1, name
        assert pred.instances.to_masks().sum(axis=0).min() == 1, name  # a partition
        assert len(np.unique(pred.mask[:, :14])) >= 1 and pred.mask[0, 0] != pred.mask[0, 29], name


# ------------------------------------------------------------------ every method, every input
def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    base = np.zeros((32, 40))
    base[8:24, 10:30] = 1
    base += 0.1 * rng.random(base.shape)
    rgb = np.dstack([base * 200, base * 150, base * 100]).astype(np.uint8)
    return {
        "gray": (base * 200).astype(np.uint8),
        "rgb": rgb,
        "rgba": np.dstack([rgb, np.full(base.shape, 255, np.uint8)]),
        "float5": np.dstack([base * k - 3 for k in (1, 10, 100, 5, 2)]).astype(np.float32),
        "uint16": (base * 60000).astype(np.uint16),
    }


INPUTS = _inputs()


@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("name", METHODS.list())
def test_every_method_on_every_input(name: str, kind: str) -> None:
    image = INPUTS[kind]
    spec = METHODS.get(name)
    pred = segment(image, name)
    assert isinstance(pred, Prediction)
    assert pred.mask.shape == image.shape[:2]
    assert np.issubdtype(pred.mask.dtype, np.integer)
    assert pred.info["method"] == name and set(pred.info["params"]) == {p.name for p in spec.params}
    assert ("probs" in spec.outputs) == (pred.probs is not None)
    assert ("instances" in spec.outputs) == (pred.instances is not None)
    if spec.kind != "segments":
        spec.class_map(pred.info["params"]).check(pred.mask)
    if name in ("threshold", "otsu", "li", "yen", "watershed", "random-walker"):
        # global thresholds find the bright rectangle on every input (local ones and the
        # one-peak triangle method also pick up background noise, by design)
        assert pred.mask[16, 20] == 1 and pred.mask[2, 2] == 0, (name, kind)


def test_rgba_alpha_is_dropped() -> None:
    rgb = INPUTS["rgb"]
    alpha = np.random.default_rng(6).integers(0, 256, rgb.shape[:2]).astype(np.uint8)
    for name in ("otsu", "kmeans", "slic"):
        a = segment(rgb, name).mask
        b = segment(np.dstack([rgb, alpha]), name).mask
        np.testing.assert_array_equal(a, b)


def test_to_gray_rules() -> None:
    f5 = INPUTS["float5"]
    np.testing.assert_array_equal(to_gray(f5, channel=2), f5[:, :, 2])
    gray = to_gray(f5)
    assert gray.shape == f5.shape[:2] and 0 <= gray.min() and gray.max() <= 1
    assert to_gray(INPUTS["uint16"]).dtype == np.uint16  # one channel stays as stored
    assert to_bands(INPUTS["rgba"]).shape == (*f5.shape[:2], 3)
    with pytest.raises(
        ParameterError, match=r"channel=7 but the image has 5 channel\(s\); use a channel in 0..4"
    ):
        segment(f5, "otsu", channel=7)


def test_nan_image_is_refused() -> None:
    img = np.zeros((4, 4), np.float32)
    img[1, 1] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        segment(img, "otsu")
