"""Prediction with trained models: torch and ONNX Runtime predictors, tiled inference, TTA, export.

Importing this package does not import torch or onnxruntime; loading a predictor does.
"""

from segscope.inference.export import ExportReport, export_onnx
from segscope.inference.predict import predict_dataset
from segscope.inference.predictor import BACKENDS, Predictor
from segscope.inference.tiling import gaussian_window, sliding_window, tile_starts

__all__ = [
    "BACKENDS",
    "ExportReport",
    "Predictor",
    "export_onnx",
    "gaussian_window",
    "predict_dataset",
    "sliding_window",
    "tile_starts",
]
