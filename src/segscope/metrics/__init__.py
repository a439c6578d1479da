"""Exact segmentation metrics on NumPy arrays (no torch)."""

from segscope.metrics.boundary import (
    BoundaryIoU,
    boundary_iou,
    boundary_width,
    mask_to_boundary,
    semantic_boundary_iou,
)

__all__ = [
    "BoundaryIoU",
    "boundary_iou",
    "boundary_width",
    "mask_to_boundary",
    "semantic_boundary_iou",
]
