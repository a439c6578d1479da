"""Datasets segscope can make: the synthetic ``shapes`` set (no download, exact ground truth)."""

from segscope.datasets.shapes import (
    SHAPE_CLASSES,
    ShapesArrays,
    generate_sample,
    make_shapes,
    make_shapes_arrays,
    shape_ids,
    shapes_class_map,
    shapes_splits,
    summarize_shapes,
)

__all__ = [
    "SHAPE_CLASSES",
    "ShapesArrays",
    "generate_sample",
    "make_shapes",
    "make_shapes_arrays",
    "shape_ids",
    "shapes_class_map",
    "shapes_splits",
    "summarize_shapes",
]
