"""The result of segmenting one image, the same for classical methods and deep models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segscope.core.instances import Instances
from segscope.core.probs import probs_to_mask
from segscope.errors import DataError

__all__ = ["Prediction"]


@dataclass
class Prediction:
    """What a segmentation method returns for one image.

    Parameters
    ----------
    mask : (H, W) int array
        Label map of class ids.
    probs : (H, W, C) float32 array, optional
        Class probabilities, where the method has meaningful ones.
    instances : Instances, optional
        One mask, label and score per object, where the method separates objects.
    info : dict
        Method-specific extras (thresholds chosen, number of segments, ...), JSON-serialisable.

    Examples
    --------
    >>> p = Prediction.from_probs(np.array([[[0.2, 0.8]]], np.float32))
    >>> p.mask.tolist()
    [[1]]
    """

    mask: np.ndarray
    probs: np.ndarray | None = None
    instances: Instances | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mask = np.asarray(self.mask)
        if self.mask.ndim != 2:
            raise DataError(f"prediction mask must be (H, W), got shape {self.mask.shape}")
        if self.probs is not None and self.probs.shape[:2] != self.mask.shape:
            raise DataError(f"probs shape {self.probs.shape} does not match mask shape {self.mask.shape}")
        if self.instances is not None and (self.instances.height, self.instances.width) != self.mask.shape:
            raise DataError("instances size does not match mask shape")

    @classmethod
    def from_probs(cls, probs: np.ndarray, **kwargs: Any) -> Prediction:
        """Label map from the arg-max of ``probs``."""
        return cls(probs_to_mask(probs), probs=probs, **kwargs)
