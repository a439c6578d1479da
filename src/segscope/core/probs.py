"""Probability maps: ``(H, W, C) float32`` per-pixel class probabilities."""

from __future__ import annotations

import numpy as np

from segscope.errors import DataError

__all__ = ["validate_probs", "probs_to_mask", "confidence", "margin", "entropy"]


def validate_probs(probs: np.ndarray, *, atol: float = 1e-3, source: str = "probs") -> np.ndarray:
    """Check that ``probs`` is ``(H, W, C)``, finite, in [0, 1] and sums to 1 over classes.

    Returns the array as float32.

    Raises
    ------
    DataError
        With the number of offending pixels and how to fix them.

    Examples
    --------
    >>> validate_probs(np.full((2, 2, 4), 0.25)).dtype
    dtype('float32')
    """
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[2] < 1:
        raise DataError(f"{source}: probabilities must be (H, W, C), got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating):
        raise DataError(f"{source}: probabilities must be float, got {probs.dtype}")
    if not np.isfinite(probs).all():
        raise DataError(f"{source}: {int((~np.isfinite(probs)).sum())} values are NaN or infinite")
    if probs.min() < -atol or probs.max() > 1 + atol:
        raise DataError(
            f"{source}: values lie in [{probs.min():.4g}, {probs.max():.4g}], outside [0, 1]; "
            "apply softmax to logits first"
        )
    sums = probs.sum(axis=2, dtype=np.float64)
    bad = np.abs(sums - 1) > atol * max(1, probs.shape[2] ** 0.5)
    if bad.any():
        raise DataError(
            f"{source}: {int(bad.sum())} pixels have probabilities that do not sum to 1 "
            f"(e.g. {sums[bad].flat[0]:.4g}); apply softmax over the class axis"
        )
    return probs.astype(np.float32, copy=False)


def probs_to_mask(probs: np.ndarray) -> np.ndarray:
    """Arg-max over classes -> ``(H, W)`` label map (uint8 when C <= 255)."""
    dtype = np.uint8 if probs.shape[2] <= 255 else np.uint16
    return np.argmax(probs, axis=2).astype(dtype)


def confidence(probs: np.ndarray) -> np.ndarray:
    """Probability of the top class per pixel, ``(H, W)``."""
    return probs.max(axis=2)


def margin(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per pixel, ``(H, W)``; 1 for a single class."""
    if probs.shape[2] == 1:
        return np.ones(probs.shape[:2], probs.dtype)
    top2 = np.partition(probs, -2, axis=2)[:, :, -2:]
    return top2[:, :, 1] - top2[:, :, 0]


def entropy(probs: np.ndarray, *, normalize: bool = False) -> np.ndarray:
    """Shannon entropy (nats) per pixel, ``(H, W)``; divided by ``log(C)`` if ``normalize``."""
    p = probs.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=2)
    if normalize and probs.shape[2] > 1:
        h /= np.log(probs.shape[2])
    return h.astype(np.float32)
