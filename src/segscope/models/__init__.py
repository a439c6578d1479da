"""Segmentation networks: an architecture registry over segmentation_models_pytorch and torchvision.

Importing this package does not import torch; :func:`create_model` and :func:`load_model` do.

>>> from segscope.models import list_models
>>> "unet" in list_models("u*")
True
"""

from segscope.models.checkpoint import create_model, load_model, resolve_checkpoint, save_model
from segscope.models.preprocessing import Preprocessing, dtype_scale
from segscope.models.registry import (
    ARCHITECTURES,
    ArchSpec,
    OfflineWeightsError,
    list_encoders,
    list_models,
    model_config,
)

# A model small enough for tests and CI: U-Net, ResNet-18 encoder cut to 3 stages.
TINY_MODEL = {"arch": "unet", "encoder": "resnet18", "encoder_depth": 3, "decoder_channels": (16, 8, 4)}

__all__ = [
    "ARCHITECTURES",
    "ArchSpec",
    "OfflineWeightsError",
    "Preprocessing",
    "TINY_MODEL",
    "create_model",
    "dtype_scale",
    "list_encoders",
    "list_models",
    "load_model",
    "model_config",
    "resolve_checkpoint",
    "save_model",
]
