import numpy as np
import pytest

from segscope.core.image import num_channels, overlay, to_display, validate_image
from segscope.errors import DataError


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((8, 9), np.uint8),
        np.zeros((8, 9, 3), np.uint8),
        np.zeros((8, 9, 4), np.uint8),
        np.arange(8 * 9 * 5, dtype=np.float32).reshape(8, 9, 5),
        np.full((8, 9), 40000, np.uint16),
    ],
)
def test_any_channel_count_and_dtype_is_an_image_and_displays(image):
    assert validate_image(image) is not None
    shown = to_display(image)
    assert shown.shape == (8, 9, 3) and shown.dtype == np.uint8
    assert num_channels(image) == (1 if image.ndim == 2 else image.shape[2])


def test_nan_and_bad_shapes_are_errors():
    img = np.zeros((4, 4), np.float32)
    img[1, 1] = np.nan
    with pytest.raises(DataError, match=r"radar.npy: 1 values are NaN or infinite; replace them"):
        validate_image(img, source="radar.npy")
    with pytest.raises(DataError, match=r"must be \(H, W\) or \(H, W, C\)"):
        validate_image(np.zeros((2, 2, 2, 2)))


def test_float_display_stretches_percentiles_and_overlay_blends():
    img = np.linspace(-5, 5, 100, dtype=np.float32).reshape(10, 10)
    shown = to_display(img, percentiles=(0, 100))
    assert shown.min() == 0 and shown.max() == 255
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 255
    where = np.zeros((10, 10), bool)
    where[0, 0] = True
    out = overlay(np.zeros((10, 10), np.uint8), red, where=where, alpha=0.5)
    assert out[0, 0].tolist() == [127, 0, 0] and out[1, 1].tolist() == [0, 0, 0]
