"""Region-level error breakdown of semantic predictions: missed, false, merged and split blobs.

Pixel metrics say how many pixels are wrong, not what kind of mistake a model makes. Here
each class's ground truth and prediction are cut into connected regions and matched, which
counts the mistakes a person sees: an object missed entirely, a blob where there is nothing,
two objects fused into one, one object broken in pieces, and how recall depends on object
size. No library provides this for semantic masks, so it is written here on top of OpenCV's
connected-component labelling.

Rules, per image and class ``c`` (regions are connected components of ``gt == c`` and of
``pred == c`` restricted to pixels whose ground truth is not ``ignore_index``):

* a gt region is **detected** if some pred region has IoU >= ``iou_threshold`` (0.5) with it,
  otherwise it is **missed**;
* a pred region is a **false blob** if it overlaps no gt region of class ``c`` at all;
* region A is **part of** region B when at least ``part`` (0.5) of A's pixels lie in B;
* a pred region is a **merge** if >= 2 gt regions are part of it;
* a gt region is **split** if >= 2 pred regions are part of it.

Merges and splits overlap with the other counts on purpose: a gt region fused with its
neighbour is usually also missed at IoU 0.5, and the breakdown says why.
Size bins follow COCO: small < 32², medium < 96², large otherwise (gt region area in pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from segscope.errors import DataError, ParameterError

__all__ = ["RegionErrors", "region_errors"]

_COUNTS = ("gt_regions", "pred_regions", "detected", "missed", "false_blobs", "merges", "splits")
_SIZES = ("small", "medium", "large")


def _components(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S)
    return labels, n - 1


def _match(
    gt_mask: np.ndarray, pred_mask: np.ndarray, *, connectivity: int, iou_threshold: float, part: float
) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """Counts for one class in one image, plus gt region areas and their detected flags."""
    g_lab, ng = _components(gt_mask, connectivity)
    p_lab, npred = _components(pred_mask, connectivity)
    g_area = np.bincount(g_lab.ravel(), minlength=ng + 1)[1:]
    p_area = np.bincount(p_lab.ravel(), minlength=npred + 1)[1:]
    both = (g_lab > 0) & (p_lab > 0)
    # Overlap table (ng x npred) from the pixel pairs: regions overlap sparsely, but the
    # dense table is small for the region counts of real masks.
    code = (g_lab[both].astype(np.int64) - 1) * max(npred, 1) + (p_lab[both] - 1)
    inter = np.bincount(code, minlength=ng * npred).reshape(ng, npred).astype(np.int64)
    union = g_area[:, None] + p_area[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    detected = (iou >= iou_threshold).any(axis=1) if npred else np.zeros(ng, bool)
    gt_part_of_pred = inter >= part * g_area[:, None]  # gt region i is part of pred region j
    pred_part_of_gt = inter >= part * p_area[None, :]  # pred region j is part of gt region i
    gt_part_of_pred &= inter > 0
    pred_part_of_gt &= inter > 0
    counts = {
        "gt_regions": ng,
        "pred_regions": npred,
        "detected": int(detected.sum()),
        "missed": int(ng - detected.sum()),
        "false_blobs": int((inter.sum(axis=0) == 0).sum()) if npred else 0,
        "merges": int((gt_part_of_pred.sum(axis=0) >= 2).sum()) if npred else 0,
        "splits": int((pred_part_of_gt.sum(axis=1) >= 2).sum()) if ng else 0,
    }
    return counts, g_area, detected


class RegionErrors:
    """Streaming region-level error breakdown per class (see the module docstring for the rules).

    Parameters
    ----------
    num_classes : int
        Number of classes ``C``.
    ignore_index : int or None, optional
        Ground-truth value to leave out (default 255): predicted pixels there are dropped.
    classes : sequence of int, optional
        Classes to analyse (default all; pass ``range(1, C)`` to skip a background class 0).
    class_names : sequence of str, optional
        ``C`` class names for the result.
    iou_threshold : float, optional
        IoU at which a gt region counts as detected (default 0.5).
    part : float, optional
        Fraction of a region inside another for it to count as part of it (default 0.5).
    connectivity : {4, 8}, optional
        Pixel connectivity of regions (default 8).
    size_bins : (int, int), optional
        Area limits of small and medium gt regions (default ``(32**2, 96**2)``, as COCO).

    Examples
    --------
    >>> gt = np.zeros((20, 20), np.uint8); gt[2:6, 2:6] = 1; gt[12:16, 12:16] = 1
    >>> pred = np.zeros_like(gt); pred[2:6, 2:6] = 1
    >>> r = RegionErrors(2, classes=[1]); r.update(gt, pred)
    >>> c = r.compute()["per_class"][0]
    >>> c["gt_regions"], c["detected"], c["missed"], c["false_blobs"]
    (2, 1, 1, 0)
    """

    def __init__(
        self,
        num_classes: int,
        *,
        ignore_index: int | None = 255,
        classes: Sequence[int] | None = None,
        class_names: Sequence[str] | None = None,
        iou_threshold: float = 0.5,
        part: float = 0.5,
        connectivity: int = 8,
        size_bins: tuple[int, int] = (32**2, 96**2),
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
            raise ParameterError(f"num_classes={num_classes!r} must be a positive integer")
        self.num_classes = int(num_classes)
        self.classes = list(range(self.num_classes)) if classes is None else [int(c) for c in classes]
        bad = [c for c in self.classes if not 0 <= c < self.num_classes]
        if bad:
            raise ParameterError(f"classes {bad} are outside 0..{self.num_classes - 1}; pass valid class ids")
        names = (
            [str(i) for i in range(self.num_classes)]
            if class_names is None
            else [str(n) for n in class_names]
        )
        if len(names) != self.num_classes:
            raise ParameterError(
                f"got {len(names)} class_names for num_classes={self.num_classes}; pass one per class"
            )
        if connectivity not in (4, 8):
            raise ParameterError(f"connectivity={connectivity!r} must be 4 or 8")
        if not (0 < iou_threshold <= 1 and 0 < part <= 1):
            raise ParameterError(
                f"iou_threshold={iou_threshold!r} and part={part!r} must lie in (0, 1]; 0.5 is usual"
            )
        if not (len(size_bins) == 2 and 0 < size_bins[0] <= size_bins[1]):
            raise ParameterError(f"size_bins={size_bins!r} must be two increasing areas, e.g. (1024, 9216)")
        self.class_names = names
        self.ignore_index = ignore_index
        self.iou_threshold = float(iou_threshold)
        self.part = float(part)
        self.connectivity = int(connectivity)
        self.size_bins = (int(size_bins[0]), int(size_bins[1]))
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        k = len(self.classes)
        self.counts = {key: np.zeros(k, np.int64) for key in _COUNTS}
        self.size_gt = np.zeros((k, 3), np.int64)
        self.size_detected = np.zeros((k, 3), np.int64)
        self.num_samples = 0

    def update(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add label maps ``(H, W)`` or a batch ``(N, H, W)``."""
        gt = np.asarray(gt)
        pred = np.asarray(pred)
        if gt.shape != pred.shape:
            raise DataError(f"gt has shape {gt.shape} but pred has shape {pred.shape}; they must match")
        if gt.ndim == 3:
            for g, p in zip(gt, pred, strict=True):
                self.update(g, p)
            return
        if gt.ndim != 2:
            raise DataError(f"gt must be (H, W) or (N, H, W) label maps, got shape {gt.shape}")
        for name, arr in (("gt", gt), ("pred", pred)):
            if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
                raise DataError(f"{name} has dtype {arr.dtype}; pass integer class ids")
        valid = None if self.ignore_index is None else gt != self.ignore_index
        for k, c in enumerate(self.classes):
            gt_mask = gt == c
            pred_mask = pred == c
            if valid is not None:
                pred_mask &= valid
            if not (gt_mask.any() or pred_mask.any()):
                continue
            counts, areas, detected = _match(
                gt_mask,
                pred_mask,
                connectivity=self.connectivity,
                iou_threshold=self.iou_threshold,
                part=self.part,
            )
            for key in _COUNTS:
                self.counts[key][k] += counts[key]
            size = np.searchsorted(np.array(self.size_bins), areas, side="right")
            self.size_gt[k] += np.bincount(size, minlength=3)
            self.size_detected[k] += np.bincount(size[detected], minlength=3)
        self.num_samples += 1

    def merge(self, other: RegionErrors) -> None:
        """Add the counts of another accumulator with the same settings."""
        keys = (
            "num_classes",
            "classes",
            "ignore_index",
            "iou_threshold",
            "part",
            "connectivity",
            "size_bins",
        )
        if any(getattr(self, k) != getattr(other, k) for k in keys):
            raise ParameterError("cannot merge RegionErrors accumulators with different settings")
        for key in _COUNTS:
            self.counts[key] += other.counts[key]
        self.size_gt += other.size_gt
        self.size_detected += other.size_detected
        self.num_samples += other.num_samples

    @staticmethod
    def _summary(counts: dict[str, int], size_gt: np.ndarray, size_det: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = dict(counts)
        out["recall"] = counts["detected"] / counts["gt_regions"] if counts["gt_regions"] else float("nan")
        for i, name in enumerate(_SIZES):
            n, d = int(size_gt[i]), int(size_det[i])
            out[name] = {"gt_regions": n, "detected": d, "recall": d / n if n else float("nan")}
        return out

    def compute(self) -> dict[str, Any]:
        """Return ``per_class`` (one dict per analysed class) and ``total`` (summed over them).

        Each dict has ``gt_regions``, ``pred_regions``, ``detected``, ``missed``,
        ``false_blobs``, ``merges``, ``splits``, ``recall`` (detected / gt regions, NaN if
        none) and ``small`` / ``medium`` / ``large`` with ``gt_regions``, ``detected``, ``recall``.
        """
        per_class = []
        for k, c in enumerate(self.classes):
            row = {"class": c, "name": self.class_names[c]}
            row.update(
                self._summary(
                    {key: int(v[k]) for key, v in self.counts.items()}, self.size_gt[k], self.size_detected[k]
                )
            )
            per_class.append(row)
        total = self._summary(
            {key: int(v.sum()) for key, v in self.counts.items()},
            self.size_gt.sum(axis=0),
            self.size_detected.sum(axis=0),
        )
        return {
            "per_class": per_class,
            "total": total,
            "num_samples": self.num_samples,
            "aggregation": {
                "pooled": True,
                "ignore_index": self.ignore_index,
                "iou_threshold": self.iou_threshold,
                "part": self.part,
                "connectivity": self.connectivity,
                "size_bins": list(self.size_bins),
            },
        }


def region_errors(gt: np.ndarray, pred: np.ndarray, num_classes: int, **options: Any) -> dict[str, Any]:
    """Region-level error breakdown of label maps ``(H, W)`` or ``(N, H, W)``.

    Options are those of :class:`RegionErrors`.

    Examples
    --------
    >>> gt = np.zeros((20, 20), np.uint8); gt[2:6, 2:6] = 1
    >>> pred = np.zeros_like(gt); pred[10:14, 10:14] = 1
    >>> t = region_errors(gt, pred, 2, classes=[1])["total"]
    >>> t["missed"], t["false_blobs"]
    (1, 1)
    """
    acc = RegionErrors(num_classes, **options)
    acc.update(gt, pred)
    return acc.compute()
