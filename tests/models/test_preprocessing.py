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
