"""Dataset formats: mask folders, palette/RGB masks, COCO JSON, instance-id maps, NumPy arrays.

>>> from segscope.formats import FORMATS
>>> FORMATS.list()
['mask-folder', 'palette', 'rgb', 'instance-folder', 'coco', 'numpy']
"""

from segscope.formats._api import FORMATS, Format, detect_format, load_dataset, save_dataset
from segscope.formats._classes import read_classes, write_classes
from segscope.formats.files import (
    list_files,
    read_image,
    read_mask,
    read_palette_mask,
    write_image,
    write_mask,
    write_palette_mask,
)
from segscope.formats.info import dataset_info
from segscope.formats.validate import Problem, ValidationReport, validate_dataset

__all__ = [
    "FORMATS",
    "Format",
    "Problem",
    "ValidationReport",
    "dataset_info",
    "detect_format",
    "list_files",
    "load_dataset",
    "read_classes",
    "read_image",
    "read_mask",
    "read_palette_mask",
    "save_dataset",
    "validate_dataset",
    "write_classes",
    "write_image",
    "write_mask",
    "write_palette_mask",
]
