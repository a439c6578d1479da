"""Shared data for the curation tests: shapes arrays and a simulated good model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segscope.datasets.shapes import ShapesArrays, make_shapes_arrays


def simulated_probs(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    num_classes: int,
    noise: float = 1.0,
    strength: float = 5.0,
    blur: float = 1.5,
) -> np.ndarray:
    """Probabilities of a simulated good model, derived from the TRUE (uncorrupted) mask.

    Training a model in a unit test is slow, so the "model" is the one-hot true mask turned
    into logits, with Gaussian noise and a blur (soft, uncertain boundaries), then softmax.
    """
    onehot = np.eye(num_classes, dtype=np.float32)[mask]
    logits = strength * onehot + rng.normal(0.0, noise, onehot.shape).astype(np.float32)
    logits = cv2.GaussianBlur(logits, (0, 0), blur)
    if logits.ndim == 2:
        logits = logits[..., None]
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return (e / e.sum(axis=2, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="session")
def shapes40() -> ShapesArrays:
    return make_shapes_arrays(40, size=96, seed=1)
