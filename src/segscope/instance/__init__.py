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
from segscope.instance.tuning import (
    DEFAULT_POSTPROCESS_GRID,
    GridSearchResult,
    grid_search,
    tune_postprocess,
)

__all__ = [
    "BOUNDARY_CLASS",
    "DEFAULT_POSTPROCESS_GRID",
    "GridSearchResult",
    "PIPELINE_MODES",
    "SemanticInstancePredictor",
    "TARGETS",
    "fg_boundary_class_map",
    "fg_boundary_target",
    "grid_search",
    "load_predictor",
    "probs_to_instances",
    "target_dataset",
    "tune_postprocess",
]
