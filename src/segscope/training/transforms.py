"""Albumentations transforms that Albumentations lacks: ``VerticalFlipKeepOffset``, an up-down flip
for masks drawn a fixed distance off their images.

This module imports Albumentations at the top (a transform class must exist at import time to
be picklable and nameable in a YAML pipeline); ``segscope.training.augment`` imports it only
when it loads a pipeline file, so ``import segscope.training`` stays light.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # see augment._albumentations

import albumentations as A  # noqa: E402
from albumentations.core.transforms_interface import BaseTransformInitSchema  # noqa: E402

__all__ = ["VerticalFlipKeepOffset"]


class VerticalFlipKeepOffset(A.VerticalFlip):
    """An up-down flip whose mask then moves ``mask_shift`` rows (negative: up).

    ISBI 2012's membrane masks sit about 0.6 pixels above the membranes in their images. A
    plain up-down flip puts them below, so a model trained with it sees both and learns
    neither; moving the flipped mask one row up (``mask_shift=-1``) puts it about 0.4 pixels
    above again, close to the offset that the unflipped slices teach. The uncovered row of the
    mask is ``fill_mask`` (the ignore index). Images flip as usual; ``mask`` and ``masks``
    targets move; bounding boxes and keypoints are not moved.

    Parameters
    ----------
    mask_shift : int
        Rows the flipped mask moves; negative moves it up.
    fill_mask : float
        Value of the mask rows that the move uncovers.
    p : float
        Probability of the flip.

    Examples
    --------
    >>> flip = VerticalFlipKeepOffset(mask_shift=-1, p=1.0)
    >>> flip(image=np.zeros((3, 1, 1), np.float32), mask=np.arange(3, dtype=np.uint8)[:, None])["mask"][:, 0]
    array([  1,   0, 255], dtype=uint8)
    """

    class InitSchema(BaseTransformInitSchema):
        mask_shift: int
        fill_mask: float

    def __init__(self, mask_shift: int = -1, fill_mask: float = 255, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.mask_shift = mask_shift
        self.fill_mask = fill_mask

    def apply_to_mask(self, mask: np.ndarray, **params: Any) -> np.ndarray:
        flipped = super().apply_to_mask(mask, **params)
        k = self.mask_shift
        if k == 0:
            return flipped
        out = np.full_like(flipped, self.fill_mask)
        if abs(k) < flipped.shape[0]:
            if k < 0:
                out[:k] = flipped[-k:]
            else:
                out[k:] = flipped[:-k]
        return out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("mask_shift", "fill_mask")
