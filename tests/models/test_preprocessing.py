import numpy as np
import pytest

from segscope.errors import DataError, ParameterError
from segscope.models import Preprocessing, dtype_scale


def test_from_images_matches_numpy():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (8, 9, 3), dtype=np.uint8) for _ in range(3)]
    pre = Preprocessing.from_images(images)
    stack = np.stack(images).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(pre.mean, stack.mean(0), rtol=1e-9)
    np.testing.assert_allclose(pre.std, stack.std(0), rtol=1e-6)
    x = pre.apply(images[0])
    assert x.shape == (3, 8, 9) and x.dtype == np.float32
    np.testing.assert_allclose(x[1], (images[0][:, :, 1] / 255.0 - pre.mean[1]) / pre.std[1], rtol=1e-5)


def test_float_five_channels_and_roundtrip():
    rng = np.random.default_rng(1)
    images = [rng.normal(10, 3, (6, 6, 5)).astype(np.float32) for _ in range(2)]
    pre = Preprocessing.from_images(images)
    assert pre.scale == 1.0 and pre.in_channels == 5 and pre.input_dtype == "float32"
    assert Preprocessing.from_dict(pre.to_dict()) == pre


def test_channel_adaptation_and_errors():
    pre = Preprocessing(3, (0.0,) * 3, (1.0,) * 3, scale=255.0)
    assert pre.apply(np.zeros((4, 4, 4), np.uint8)).shape == (3, 4, 4)  # RGBA drops alpha
    assert pre.apply(np.zeros((4, 4), np.uint8)).shape == (3, 4, 4)  # grey repeated
    with pytest.raises(DataError, match="has 5 channels but the model takes 3"):
        pre.apply(np.zeros((4, 4, 5), np.float32))
    with pytest.raises(ParameterError, match="one value per channel"):
        Preprocessing(2, (0.0,), (1.0,))
    with pytest.raises(DataError, match="has 1 channels but earlier ones have 3"):
        Preprocessing.from_images([np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)])
    assert dtype_scale("uint16") == 65535.0


def test_image_shift_moves_every_image_before_the_statistics_and_the_scaling():
    import scipy.ndimage as ndi

    from segscope.models.preprocessing import shift_image

    rng = np.random.default_rng(2)
    images = [ndi.gaussian_filter(rng.random((12, 10)), 2) * 255 for _ in range(2)]
    images = [im.astype(np.uint8) for im in images]
    # The reference: scipy's cubic spline on float, edges repeated, rounded back to uint8.
    moved = [
        np.clip(np.rint(ndi.shift(im.astype(np.float32), (-0.6, 0.3), order=3, mode="nearest")), 0, 255)
        for im in images
    ]
    np.testing.assert_array_equal(shift_image(images[0], (-0.6, 0.3)), moved[0])
    assert shift_image(images[0], (-0.6, 0.3)).dtype == np.uint8
    pre = Preprocessing.from_images(images, image_shift=(-0.6, 0.3))
    assert pre.image_shift == (-0.6, 0.3) and pre.scale == 255.0
    np.testing.assert_allclose(pre.mean, [np.mean(np.stack(moved), dtype=np.float64) / 255], rtol=1e-9)
    np.testing.assert_allclose(pre.channels_last(images[1])[:, :, 0], moved[1] / 255, rtol=1e-6)
    assert pre.needs_whole_image and not Preprocessing(1, (0.0,), (1.0,)).needs_whole_image
    # Saved and read back (checkpoints, ONNX metadata); a record from before the field has none.
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    old = {k: v for k, v in pre.to_dict().items() if k != "image_shift"}
    assert Preprocessing.from_dict(old).image_shift == (0.0, 0.0)
    assert Preprocessing(1, (0.0,), (1.0,), image_shift=-0.6).image_shift == (-0.6, 0.0)
    with pytest.raises(ParameterError, match=r"image shift \(1, 2, 3\) is not dy or \(dy, dx\) in pixels"):
        Preprocessing(1, (0.0,), (1.0,), image_shift=(1, 2, 3))
