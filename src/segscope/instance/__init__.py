"""Instance segmentation: Mask R-CNN and the semantic-to-instance (watershed) pipeline.

Importing this package does not import torch; the Mask R-CNN functions import it when called.
"""

from segscope.instance.pipeline import (
    PIPELINE_MODES,
    SemanticInstancePredictor,
    load_predictor,
    probs_to_instances,
)
from segscope.instance.targets import (
    BOUNDARY_CLASS,
    TARGETS,
    fg_boundary_class_map,
    fg_boundary_target,
    target_dataset,
)

__all__ = [
    "BOUNDARY_CLASS",
    "PIPELINE_MODES",
    "SemanticInstancePredictor",
    "TARGETS",
    "fg_boundary_class_map",
    "fg_boundary_target",
    "load_predictor",
    "probs_to_instances",
    "target_dataset",
]
