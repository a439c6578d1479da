import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from segscope.core.prediction import Prediction
from segscope.core.probs import confidence, entropy, margin, probs_to_mask, validate_probs
from segscope.errors import DataError


def _softmax(rng, shape):
    z = rng.normal(size=shape)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def test_maps_match_reference_definitions():
    rng = np.random.default_rng(1)
    p = _softmax(rng, (6, 7, 5))
    validate_probs(p)
    s = np.sort(p, axis=2)
    assert (probs_to_mask(p) == p.argmax(2)).all()
    np.testing.assert_allclose(confidence(p), s[..., -1])
    np.testing.assert_allclose(margin(p), s[..., -1] - s[..., -2])
    np.testing.assert_allclose(entropy(p), scipy_entropy(p, axis=2), rtol=1e-5)
    np.testing.assert_allclose(entropy(p, normalize=True), scipy_entropy(p, axis=2) / np.log(5), rtol=1e-5)


def test_validation_errors():
    with pytest.raises(DataError, match=r"must be \(H, W, C\)"):
        validate_probs(np.zeros((3, 3)))
    with pytest.raises(DataError, match="NaN"):
        validate_probs(np.full((2, 2, 2), np.nan, np.float32))
    with pytest.raises(DataError, match="apply softmax to logits"):
        validate_probs(np.full((2, 2, 2), 3.0, np.float32))
    with pytest.raises(DataError, match="do not sum to 1"):
        validate_probs(np.full((2, 2, 2), 0.2, np.float32))


def test_prediction_from_probs_and_shape_check():
    p = np.zeros((2, 3, 2), np.float32)
    p[..., 1] = 1
    pred = Prediction.from_probs(p)
    assert (pred.mask == 1).all()
    with pytest.raises(DataError, match="does not match mask shape"):
        Prediction(np.zeros((2, 2), np.uint8), probs=p)
