"""Uniqueness (how far a sample lies from its neighbours) and hardness (model loss or entropy).

NumPy and scikit-learn only; no torch.
"""

from __future__ import annotations

import numpy as np

from segscope.core.classes import IGNORE_INDEX
from segscope.core.probs import entropy, validate_probs
from segscope.errors import DataError, ParameterError

__all__ = ["uniqueness", "hardness"]


def uniqueness(embeddings: np.ndarray, *, k: int = 5) -> np.ndarray:
    """Mean cosine distance of each sample to its ``k`` nearest other samples, ``(N,)`` in [0, 2].

    High values mark rare samples (few look like them); near 0, a sample has near-copies.
    Neighbours come from ``sklearn.neighbors.NearestNeighbors`` (cosine metric).

    Parameters
    ----------
    embeddings : (N, D) ndarray
    k : int
        Neighbours averaged (capped at ``N - 1``).

    Examples
    --------
    >>> e = np.array([[1, 0], [0.99, 0.1], [0, 1.0]])
    >>> uniqueness(e, k=1).round(3).tolist()
    [0.005, 0.005, 0.9]
    """
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise DataError(f"embeddings must be (N, D) with N >= 2; got shape {x.shape}")
    if k < 1:
        raise ParameterError(f"k={k} must be >= 1")
    k = min(k, len(x) - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(x).kneighbors(x)
    # column 0 is the sample itself (distance 0) unless an exact duplicate took its place
    return np.sort(dist, axis=1)[:, 1:].mean(axis=1)


def hardness(probs: np.ndarray, mask: np.ndarray | None = None, *, ignore_index: int = IGNORE_INDEX) -> float:
    """How hard one image is for a model: mean cross-entropy with ``mask``, else mean entropy.

    Parameters
    ----------
    probs : (H, W, C) float
        The model's probabilities.
    mask : (H, W) int, optional
        Labels; ``ignore_index`` pixels are left out. Without it the normalised pixel entropy
        (0 certain .. 1 uniform) is averaged, which needs no labels.

    Returns
    -------
    float

    Examples
    --------
    >>> p = np.array([[[0.5, 0.5], [0.9, 0.1]]], np.float32)
    >>> round(hardness(p), 3), round(hardness(p, np.array([[0, 0]])), 3)
    (0.734, 0.399)
    """
    probs = validate_probs(probs)
    if mask is None:
        return float(entropy(probs, normalize=True).mean())
    mask = np.asarray(mask)
    if mask.shape != probs.shape[:2]:
        raise DataError(f"mask shape {mask.shape} differs from probs shape {probs.shape[:2]}")
    valid = mask != ignore_index
    if not valid.any():
        return float("nan")
    if mask[valid].max() >= probs.shape[2] or mask[valid].min() < 0:
        raise DataError(
            f"mask values outside 0..{probs.shape[2] - 1} for probs with {probs.shape[2]} classes"
        )
    p = np.take_along_axis(probs, np.where(valid, mask, 0).astype(np.intp)[..., None], axis=2)[..., 0]
    return float(-np.log(np.clip(p[valid].astype(np.float64), 1e-7, 1.0)).mean())
