"""Exact segmentation metrics on NumPy arrays (no torch)."""

from segscope.metrics.boundary import (
    BoundaryIoU,
    boundary_iou,
    boundary_width,
    mask_to_boundary,
    semantic_boundary_iou,
)
from segscope.metrics.semantic import (
    ConfusionMatrix,
    SampleScores,
    confusion_matrix,
    per_sample_scores,
    semantic_scores,
)

__all__ = [
    "BoundaryIoU",
    "ConfusionMatrix",
    "SampleScores",
    "boundary_iou",
    "boundary_width",
    "confusion_matrix",
    "mask_to_boundary",
    "per_sample_scores",
    "semantic_boundary_iou",
    "semantic_scores",
]
