"""Curation: duplicates and leakage, likely label errors, embeddings, uniqueness, active learning.

NumPy at the core: duplicates, label errors, uniqueness and active-learning selection never
import torch; embeddings from models import it inside the functions that need it.

>>> from segscope.curation import STRATEGIES
>>> STRATEGIES.list("*diversity")
['diversity', 'entropy-diversity', 'margin-diversity']
"""

from segscope.curation.active_learning import (
    MEASURES,
    STRATEGIES,
    Selection,
    acquisition_score,
    balanced_class_weights,
    export_batch,
    k_center_greedy,
    select,
    uncertainty_map,
)
from segscope.curation.duplicates import (
    DUPLICATE_METHODS,
    DuplicateGroups,
    content_hash,
    find_duplicates,
    find_leakage,
    perceptual_hash,
    phash_distances,
)
from segscope.curation.embeddings import (
    EMBEDDERS,
    PROJECTIONS,
    descriptor,
    embed_images,
    pool_regions,
    project_2d,
    region_embeddings,
)
from segscope.curation.label_errors import (
    LabelErrorResults,
    LabelFinding,
    class_thresholds,
    error_heatmap,
    find_label_errors,
    heatmap_image,
    label_quality,
)
from segscope.curation.uniqueness import hardness, uniqueness

__all__ = [
    "DUPLICATE_METHODS",
    "EMBEDDERS",
    "MEASURES",
    "PROJECTIONS",
    "STRATEGIES",
    "DuplicateGroups",
    "LabelErrorResults",
    "LabelFinding",
    "Selection",
    "acquisition_score",
    "balanced_class_weights",
    "class_thresholds",
    "content_hash",
    "descriptor",
    "embed_images",
    "error_heatmap",
    "export_batch",
    "find_duplicates",
    "find_leakage",
    "find_label_errors",
    "hardness",
    "heatmap_image",
    "k_center_greedy",
    "label_quality",
    "perceptual_hash",
    "phash_distances",
    "pool_regions",
    "project_2d",
    "region_embeddings",
    "select",
    "uncertainty_map",
    "uniqueness",
]
