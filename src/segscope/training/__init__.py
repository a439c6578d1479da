"""Training with Lightning: losses, augmentation presets, data module, MLflow tracking.

Importing this package does not import torch; :func:`train` does.
"""

from segscope.training.augment import AUGMENT_PRESETS, check_augmentation, make_augmentation
from segscope.training.losses import LOSSES, make_loss
from segscope.training.train import TrainConfig, TrainResult, default_tracking_uri, open_dataset, train

__all__ = [
    "AUGMENT_PRESETS",
    "LOSSES",
    "TrainConfig",
    "TrainResult",
    "check_augmentation",
    "default_tracking_uri",
    "make_augmentation",
    "make_loss",
    "open_dataset",
    "train",
]
