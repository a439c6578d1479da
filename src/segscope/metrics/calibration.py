"""Calibration of per-pixel probabilities: expected calibration error and reliability bins.

A model is calibrated when, among the pixels it predicts with confidence ``p``, a fraction
``p`` is right. Pixels are grouped by their top-1 confidence into equal-width bins; the
expected calibration error (ECE, Guo et al., ICML 2017) is the pixel-weighted mean gap
between the accuracy and the mean confidence of each bin. Counts are kept per bin, so ECE
streams over a dataset of any size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segscope.core.probs import validate_probs
from segscope.errors import DataError, ParameterError

__all__ = ["CalibrationError", "expected_calibration_error"]


class CalibrationError:
    """Streaming expected (ECE) and maximum (MCE) calibration error of top-1 confidence.

    Bins: bin ``k`` (``0 <= k < n_bins``) holds confidences in ``[k / n_bins, (k + 1) / n_bins)``
    (bounds exact, computed as ``floor(confidence * n_bins)`` in float64), and an extra bin
    holds confidences of exactly 1, which saturated softmax outputs often are. This is the
    binning of torchmetrics 1.9 ``MulticlassCalibrationError(norm="l1")`` (``bucketize(...,
    right=True)`` over ``linspace(0, 1, n_bins + 1)``), whose float32 bin edges can differ from
    the exact ones by one float32 step; Guo et al.'s code uses bins ``(lo, hi]`` instead, so
    confidence 1 shares the last bin there.

    ``ece = sum_b |correct_b - confidence_sum_b| / N`` over all bins, with ``N`` the number of
    pixels whose ground truth is not ``ignore_index``; ``mce`` is the largest
    ``|accuracy_b - confidence_b|`` over non-empty bins.

    Parameters
    ----------
    n_bins : int, optional
        Number of equal-width bins (default 15).
    ignore_index : int or None, optional
        Ground-truth value to leave out (default 255).

    Examples
    --------
    >>> gt = np.array([[0, 1]])
    >>> probs = np.array([[[0.9, 0.1], [0.8, 0.2]]])
    >>> ce = CalibrationError()
    >>> ce.update(gt, probs)
    >>> round(ce.compute()["ece"], 6)  # bins: (0.9, right), (0.8, wrong)
    0.45
    """

    def __init__(self, *, n_bins: int = 15, ignore_index: int | None = 255) -> None:
        if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
            raise ParameterError(f"n_bins={n_bins!r} must be a positive integer; 15 is usual")
        self.n_bins = int(n_bins)
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        self.count = np.zeros(self.n_bins + 1, np.int64)
        self.correct = np.zeros(self.n_bins + 1, np.int64)
        self.confidence_sum = np.zeros(self.n_bins + 1, np.float64)

    def update(self, gt: np.ndarray, probs: np.ndarray) -> None:
        """Add ``gt`` ``(H, W)`` with ``probs`` ``(H, W, C)``, or a batch ``(N, H, W)`` / ``(N, H, W, C)``."""
        gt = np.asarray(gt)
        probs = np.asarray(probs)
        if gt.ndim == 3 and probs.ndim == 4:
            for g, p in zip(gt, probs, strict=True):
                self.update(g, p)
            return
        if gt.ndim != 2 or probs.shape[:2] != gt.shape:
            raise DataError(
                f"gt has shape {gt.shape} and probs {probs.shape}; pass gt (H, W) with probs (H, W, C), "
                "or (N, H, W) with (N, H, W, C)"
            )
        if not np.issubdtype(gt.dtype, np.integer) and gt.dtype != bool:
            raise DataError(f"gt has dtype {gt.dtype}; pass integer class ids")
        validate_probs(probs)  # checks only: keep float64 input in float64
        num_classes = probs.shape[2]
        if self.ignore_index is not None:
            valid = gt != self.ignore_index
            if not valid.all():
                gt, probs = gt[valid], probs[valid]
        gt = gt.reshape(-1)
        probs = probs.reshape(-1, num_classes)
        if gt.size and (gt.min() < 0 or gt.max() >= num_classes):
            bad = int(gt.min() if gt.min() < 0 else gt.max())
            raise DataError(
                f"gt contains value {bad} outside the classes 0..{num_classes - 1} of probs and it is not "
                f"ignore_index={self.ignore_index}; check ignore_index or the number of classes in probs"
            )
        pred = probs.argmax(axis=1)
        conf = probs[np.arange(len(pred)), pred].astype(np.float64)
        idx = np.minimum(np.floor(conf * self.n_bins).astype(np.int64), self.n_bins)
        n = self.n_bins + 1
        self.count += np.bincount(idx, minlength=n)
        self.correct += np.bincount(idx[pred == gt], minlength=n)
        self.confidence_sum += np.bincount(idx, weights=conf, minlength=n)

    def merge(self, other: CalibrationError) -> None:
        """Add the counts of another accumulator with the same bins."""
        if (other.n_bins, other.ignore_index) != (self.n_bins, self.ignore_index):
            raise ParameterError(
                f"cannot merge a CalibrationError with n_bins={other.n_bins}, ignore_index={other.ignore_index} "
                f"into one with n_bins={self.n_bins}, ignore_index={self.ignore_index}"
            )
        self.count += other.count
        self.correct += other.correct
        self.confidence_sum += other.confidence_sum

    def compute(self) -> dict[str, Any]:
        """Return ``ece``, ``mce``, ``num_pixels`` and ``bins`` (per bin: lower, upper, count, accuracy, confidence)."""
        total = int(self.count.sum())
        nonempty = self.count > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = np.where(nonempty, self.correct / np.maximum(self.count, 1), np.nan)
            conf = np.where(nonempty, self.confidence_sum / np.maximum(self.count, 1), np.nan)
        gaps = np.abs(self.correct - self.confidence_sum)
        lower = np.append(np.arange(self.n_bins) / self.n_bins, 1.0)
        upper = np.append(np.arange(1, self.n_bins + 1) / self.n_bins, 1.0)
        return {
            "ece": float(gaps.sum() / total) if total else float("nan"),
            "mce": float(np.abs(acc - conf)[nonempty].max()) if total else float("nan"),
            "num_pixels": total,
            "n_bins": self.n_bins,
            "bins": {
                "lower": lower.tolist(),
                "upper": upper.tolist(),
                "count": self.count.tolist(),
                "accuracy": acc.tolist(),
                "confidence": conf.tolist(),
            },
            "aggregation": {"pooled": True, "ignore_index": self.ignore_index, "binning": "[lo, hi) + {1.0}"},
        }


def expected_calibration_error(
    gt: np.ndarray, probs: np.ndarray, *, n_bins: int = 15, ignore_index: int | None = 255
) -> float:
    """Expected calibration error of top-1 confidence; see :class:`CalibrationError`.

    Parameters
    ----------
    gt : (H, W) or (N, H, W) ndarray of int
        Ground-truth class ids.
    probs : (H, W, C) or (N, H, W, C) ndarray of float
        Class probabilities (softmax already applied).
    n_bins : int, optional
        Number of equal-width confidence bins (default 15).
    ignore_index : int or None, optional
        Ground-truth value to leave out (default 255).

    Returns
    -------
    float
        ECE in [0, 1]; NaN if no pixel is valid.

    Examples
    --------
    >>> gt = np.zeros((2, 2), np.uint8)
    >>> probs = np.zeros((2, 2, 2)); probs[..., 0] = 1.0
    >>> expected_calibration_error(gt, probs)
    0.0
    """
    acc = CalibrationError(n_bins=n_bins, ignore_index=ignore_index)
    acc.update(gt, probs)
    return acc.compute()["ece"]
