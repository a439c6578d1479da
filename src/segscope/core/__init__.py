"""The data model, NumPy only: images, label maps, class maps, probabilities, instances, datasets."""

from segscope.core.classes import IGNORE_INDEX, ClassMap, voc_palette
from segscope.core.dataset import Dataset, Sample
from segscope.core.image import num_channels, overlay, to_display, validate_image
from segscope.core.instances import Instances
from segscope.core.prediction import Prediction
from segscope.core.probs import confidence, entropy, margin, probs_to_mask, validate_probs

__all__ = [
    "IGNORE_INDEX",
    "ClassMap",
    "Dataset",
    "Instances",
    "Prediction",
    "Sample",
    "confidence",
    "entropy",
    "margin",
    "num_channels",
    "overlay",
    "probs_to_mask",
    "to_display",
    "validate_image",
    "validate_probs",
    "voc_palette",
]
