"""segscope: image segmentation end to end.

The NumPy core (data model, formats, classical methods, metrics) is importable without torch;
deep-learning layers import torch inside the functions that need it.

>>> import segscope
>>> segscope.ClassMap(["background", "cell"]).num_classes
2
"""

from segscope.core import (
    IGNORE_INDEX,
    ClassMap,
    Dataset,
    Instances,
    Prediction,
    Sample,
)
from segscope.errors import DataError, FormatError, ParameterError, SegscopeError
from segscope.formats import load_dataset, save_dataset

__version__ = "0.1.0"

__all__ = [
    "IGNORE_INDEX",
    "ClassMap",
    "Dataset",
    "Instances",
    "Prediction",
    "Sample",
    "DataError",
    "FormatError",
    "ParameterError",
    "SegscopeError",
    "load_dataset",
    "save_dataset",
    "__version__",
]
