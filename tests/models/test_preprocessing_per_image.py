"""Per-image normalisation in Preprocessing (``per_image="grey-percentile"`` and ``"percentile"``)."""

import warnings

import numpy as np
import pytest

from segscope.errors import ParameterError
from segscope.models.preprocessing import Preprocessing, normalize_per_image


def _blobs(bright_background: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 20, (32, 40, 3)).astype(np.uint8)
    img[8:16, 8:16] = 200
    return 255 - img if bright_background else img


def test_grey_percentile_matches_reference_and_inverts_bright_background():
    dark = _blobs(False)
    grey = dark.astype(np.float64).mean(2)
    lo, hi = np.percentile(grey, [1, 99.8])
    ref = np.clip((grey - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(normalize_per_image(dark), ref, atol=1e-5)
    # H&E-like: dark objects on a bright background come out inverted, objects bright.
    grey = _blobs(True).astype(np.float64).mean(2)
    lo, hi = np.percentile(grey, [1, 99.8])
    ref = 1 - np.clip((grey - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(normalize_per_image(_blobs(True)), ref, atol=1e-5)
    out = normalize_per_image(_blobs(True))
    assert out.dtype == np.float32 and out.shape == (32, 40)
    assert out[8:16, 8:16].min() > 0.9 and np.median(out) < 0.2


def test_rgba_and_constant_images():
    rgba = np.dstack([_blobs(False), np.full((32, 40), 255, np.uint8)])
    np.testing.assert_allclose(normalize_per_image(rgba), normalize_per_image(_blobs(False)))
    assert np.all(normalize_per_image(np.full((5, 5), 7, np.uint8)) == 0)


def test_preprocessing_per_image_round_trip_and_apply():
    images = [_blobs(False), _blobs(True)]
    pre = Preprocessing.from_images(images, in_channels=1, per_image="grey-percentile")
    assert pre.in_channels == 1 and pre.scale == 1.0 and pre.per_image == "grey-percentile"
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    x = pre.apply(images[1])
    expected = (normalize_per_image(images[1]) - pre.mean[0]) / pre.std[0]
    assert x.shape == (1, 32, 40)
    np.testing.assert_allclose(x[0], expected, rtol=1e-5, atol=1e-5)
    # Old records without the key still load, without per-image normalisation.
    record = pre.to_dict()
    del record["per_image"]
    assert Preprocessing.from_dict(record).per_image is None


def test_percentile_stretches_each_channel_and_never_inverts():
    bright = _blobs(True).astype(np.float64)
    lo, hi = np.percentile(bright, [1, 99.8], axis=(0, 1))
    ref = np.clip((bright - lo) / (hi - lo), 0, 1)
    out = normalize_per_image(_blobs(True), "percentile")
    assert out.dtype == np.float32 and out.shape == (32, 40, 3)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert np.median(out) > 0.8  # the bright background stays bright
    grey = bright[:, :, 0]
    lo, hi = np.percentile(grey, [1, 99.8])
    np.testing.assert_allclose(
        normalize_per_image(grey, "percentile", low=1, high=99.8),
        np.clip((grey - lo) / (hi - lo), 0, 1),
        atol=1e-5,
    )
    pre = Preprocessing.from_images([_blobs(True), _blobs(False)], per_image="percentile")
    assert pre.in_channels == 3 and pre.scale == 1.0 and len(pre.mean) == 3
    x = pre.apply(_blobs(True))
    np.testing.assert_allclose(x, ((out - pre.mean) / pre.std).transpose(2, 0, 1), rtol=1e-5, atol=1e-5)


def _mid_grey(median_shift: float) -> np.ndarray:
    """Uniform noise whose stretched median sits about ``median_shift`` above 0.5 (ISBI-like)."""
    rng = np.random.default_rng(1)
    u = rng.random((64, 64))
    return np.clip(u + median_shift, 0, 1) * 200 + 20


def test_warns_when_some_images_sit_at_the_inversion_cut():
    medians = [float(np.median(normalize_per_image(_mid_grey(d), "percentile"))) for d in (0.03, -0.02)]
    assert medians[0] > 0.5 > medians[1] and all(abs(m - 0.5) < 0.05 for m in medians)
    with pytest.warns(
        UserWarning, match=r"inverted 1 of 2 training images .* images 0 \(0\.5\d\), 1 \(0\.4\d\)"
    ):
        Preprocessing.from_images([_mid_grey(0.03), _mid_grey(-0.02)], per_image="grey-percentile")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Clear polarities (dark-field and bright-field), or one polarity only: no warning.
        Preprocessing.from_images([_blobs(False), _blobs(True)], per_image="grey-percentile")
        Preprocessing.from_images([_mid_grey(0.03), _mid_grey(0.04)], per_image="grey-percentile")
        Preprocessing.from_images([_mid_grey(0.03), _mid_grey(-0.02)], per_image="percentile")


def test_unknown_mode_errors():
    with pytest.raises(ParameterError, match="unknown per-image normalisation 'zscore'"):
        normalize_per_image(_blobs(False), "zscore")
    with pytest.raises(ParameterError, match="use one of grey-percentile"):
        Preprocessing(1, (0.0,), (1.0,), per_image="zscore")
    with pytest.raises(ParameterError, match="percentiles low=50"):
        normalize_per_image(_blobs(False), low=50, high=10)
