"""Exact segmentation metrics on NumPy arrays (no torch).

Semantic metrics come from an integer confusion matrix (:mod:`.semantic`), Boundary IoU from
:mod:`.boundary`, calibration from :mod:`.calibration` and the region-level error breakdown
from :mod:`.regions`. Every accumulator has ``update``/``merge``/``compute`` and writes how
it aggregated into ``result["aggregation"]``.

:data:`METRICS` names the metrics for the CLI and the app: each :class:`MetricSpec` says which
accumulator produces it and under which key of its ``compute()`` result.

>>> METRICS.get("miou").key
'mean_iou'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from segscope.metrics.boundary import (
    BoundaryIoU,
    boundary_iou,
    boundary_width,
    mask_to_boundary,
    semantic_boundary_iou,
)
from segscope.metrics.calibration import CalibrationError, expected_calibration_error
from segscope.metrics.regions import RegionErrors, region_errors
from segscope.metrics.semantic import (
    ConfusionMatrix,
    SampleScores,
    confusion_matrix,
    per_sample_scores,
    semantic_scores,
)
from segscope.registry import Registry

__all__ = [
    "METRICS",
    "MetricSpec",
    "BoundaryIoU",
    "CalibrationError",
    "ConfusionMatrix",
    "RegionErrors",
    "SampleScores",
    "boundary_iou",
    "boundary_width",
    "confusion_matrix",
    "expected_calibration_error",
    "mask_to_boundary",
    "per_sample_scores",
    "region_errors",
    "semantic_boundary_iou",
    "semantic_scores",
]


@dataclass(frozen=True)
class MetricSpec:
    """What a named metric is and where to find it.

    Attributes
    ----------
    name : str
        Registry name (CLI choice, app menu entry).
    source : {"confusion", "boundary", "calibration", "regions"}
        Accumulator that computes it: :class:`ConfusionMatrix`, :class:`BoundaryIoU`,
        :class:`CalibrationError` or :class:`RegionErrors`.
    key : str
        Key of the dataset-level value in the accumulator's ``compute()`` result.
    per_class_key : str or None
        Key of the per-class list, if there is one.
    needs : {"mask", "probs"}
        Whether predicted label maps suffice or probabilities are needed.
    higher_is_better : bool
        Direction, for sorting and colouring.
    description : str
        One line for help texts.
    """

    name: str
    source: Literal["confusion", "boundary", "calibration", "regions"]
    key: str
    per_class_key: str | None
    needs: Literal["mask", "probs"]
    higher_is_better: bool
    description: str


METRICS: Registry[MetricSpec] = Registry("metric")

for _spec, _aliases in [
    (MetricSpec("iou", "confusion", "mean_iou", "iou", "mask", True, "intersection over union, mean over classes"), ("miou", "jaccard")),
    (MetricSpec("dice", "confusion", "mean_dice", "dice", "mask", True, "Dice coefficient (F1), mean over classes"), ("f1",)),
    (MetricSpec("precision", "confusion", "mean_precision", "precision", "mask", True, "TP / predicted pixels, mean over classes"), ()),
    (MetricSpec("recall", "confusion", "mean_recall", "recall", "mask", True, "TP / ground-truth pixels (class accuracy), mean over classes"), ("mean_accuracy",)),
    (MetricSpec("pixel_accuracy", "confusion", "pixel_accuracy", None, "mask", True, "fraction of valid pixels labelled right"), ("accuracy",)),
    (MetricSpec("fw_iou", "confusion", "fw_iou", None, "mask", True, "IoU weighted by class frequency in the ground truth"), ()),
    (MetricSpec("boundary_iou", "boundary", "mean_boundary_iou", "boundary_iou", "mask", True, "IoU of the contour bands (Cheng et al. 2021), mean over classes"), ("biou",)),
    (MetricSpec("ece", "calibration", "ece", None, "probs", False, "expected calibration error of top-1 confidence (15 bins)"), ()),
    (MetricSpec("mce", "calibration", "mce", None, "probs", False, "largest calibration gap over confidence bins"), ()),
    (MetricSpec("region_recall", "regions", "recall", None, "mask", True, "fraction of ground-truth regions detected at IoU >= 0.5"), ()),
]:  # fmt: skip
    METRICS.add(_spec.name, _spec, aliases=_aliases)
