"""Likely label errors in segmentation masks, by confident learning on a model's probabilities.

Confident learning (Northcutt et al., *Confident Learning: Estimating Uncertainty in Dataset
Labels*, JAIR 2021) applied per pixel, written here because the reference implementation
(cleanlab) is AGPL-3.0:

1. per-class thresholds ``t_c`` = mean self-confidence ``p_c`` of the pixels labelled ``c``
   (over the whole dataset);
2. a pixel is a likely error when the probability of its given label is below that label's
   threshold and another class ``j`` is confident (``p_j >= t_j``); the most probable such
   ``j`` is the suggested label;
3. connected regions of likely-error pixels with the same (given, suggested) pair become
   **findings**: ``wrong_class`` (a labelled region the model confidently calls another
   class), ``missing`` (a confident object where the mask says background: a missing
   annotation) and ``spurious`` (a labelled object the model confidently calls background);
4. findings are ranked by their mass (the sum over their pixels of ``p_suggested - p_given``),
   images by the sum of their findings' masses per pixel.

The heatmap is ``max(0, max_{j != given} p_j - p_given)`` per pixel: how strongly the model
prefers another label. NumPy and SciPy only; no torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from segscope.core.classes import IGNORE_INDEX
from segscope.core.probs import validate_probs
from segscope.errors import DataError, ParameterError

__all__ = [
    "LabelFinding",
    "LabelErrorResults",
    "ThresholdAccumulator",
    "class_thresholds",
    "label_quality",
    "error_heatmap",
    "pixel_issues",
    "region_findings",
    "find_label_errors",
    "heatmap_image",
]


def _check_pair(probs: np.ndarray, mask: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    probs = validate_probs(probs, source=f"{source} probs")
    mask = np.asarray(mask)
    if mask.shape != probs.shape[:2]:
        raise DataError(
            f"{source}: mask shape {mask.shape} differs from probs shape {probs.shape[:2]}; "
            "predict at the mask's size"
        )
    return probs, mask


def _valid(mask: np.ndarray, num_classes: int, ignore_index: int, source: str) -> np.ndarray:
    valid = mask != ignore_index
    bad = valid & ((mask < 0) | (mask >= num_classes))
    if bad.any():
        raise DataError(
            f"{source}: mask values {sorted(np.unique(mask[bad]).tolist())[:5]} are not classes "
            f"0..{num_classes - 1}; the probs have {num_classes} classes"
        )
    return valid


def _given_prob(probs: np.ndarray, mask: np.ndarray, valid: np.ndarray) -> np.ndarray:
    idx = np.where(valid, mask, 0).astype(np.intp)
    return np.take_along_axis(probs, idx[..., None], axis=2)[..., 0]


class ThresholdAccumulator:
    """Streams per-class sums of self-confidence, so thresholds need one image at a time.

    Examples
    --------
    >>> acc = ThresholdAccumulator(2)
    >>> acc.add(np.array([[[0.9, 0.1], [0.3, 0.7]]], np.float32), np.array([[0, 1]]))
    >>> acc.thresholds().round(2).tolist()
    [0.9, 0.7]
    """

    def __init__(self, num_classes: int, *, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.sums = np.zeros(self.num_classes, np.float64)
        self.counts = np.zeros(self.num_classes, np.int64)

    def add(self, probs: np.ndarray, mask: np.ndarray, *, source: str = "sample") -> None:
        probs, mask = _check_pair(probs, mask, source)
        if probs.shape[2] != self.num_classes:
            raise DataError(f"{source}: probs have {probs.shape[2]} classes, expected {self.num_classes}")
        valid = _valid(mask, self.num_classes, self.ignore_index, source)
        given = mask[valid].astype(np.intp)
        self.sums += np.bincount(
            given, weights=_given_prob(probs, mask, valid)[valid], minlength=self.num_classes
        )
        self.counts += np.bincount(given, minlength=self.num_classes)

    def thresholds(self) -> np.ndarray:
        """``(C,)`` mean self-confidence per class; 0.5 for classes with no labelled pixel."""
        with np.errstate(invalid="ignore", divide="ignore"):
            t = self.sums / self.counts
        return np.where(self.counts > 0, t, 0.5)


def class_thresholds(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]], *, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """Per-class confident-learning thresholds from ``(probs, mask)`` pairs.

    Parameters
    ----------
    pairs : iterable of ((H, W, C) float, (H, W) int)
        Model probabilities and given masks.
    num_classes : int
    ignore_index : int

    Returns
    -------
    (C,) float64 ndarray
        ``t_c`` = mean of ``p_c`` over pixels labelled ``c`` (0.5 where no pixel has label ``c``).

    Examples
    --------
    >>> p = np.array([[[0.8, 0.2], [0.4, 0.6]]], np.float32)
    >>> class_thresholds([(p, np.array([[0, 1]]))], num_classes=2).round(2).tolist()
    [0.8, 0.6]
    """
    acc = ThresholdAccumulator(num_classes, ignore_index=ignore_index)
    for i, (probs, mask) in enumerate(pairs):
        acc.add(probs, mask, source=f"sample {i}")
    return acc.thresholds()


def label_quality(probs: np.ndarray, mask: np.ndarray, *, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Per-pixel label quality: the model's probability of the given label (self-confidence).

    Returns ``(H, W) float32``, NaN at ignored pixels.

    Examples
    --------
    >>> label_quality(np.array([[[0.9, 0.1], [0.3, 0.7]]]), np.array([[0, 0]])).astype(float).round(2).tolist()
    [[0.9, 0.3]]
    """
    probs, mask = _check_pair(probs, mask, "label_quality")
    valid = _valid(mask, probs.shape[2], ignore_index, "label_quality")
    return np.where(valid, _given_prob(probs, mask, valid), np.nan).astype(np.float32)


def error_heatmap(probs: np.ndarray, mask: np.ndarray, *, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``(H, W) float32`` in [0, 1]: ``max(0, max_{j != given} p_j - p_given)``, 0 at ignored pixels.

    Examples
    --------
    >>> error_heatmap(np.array([[[0.9, 0.1], [0.2, 0.8]]]), np.array([[0, 0]])).astype(float).round(2).tolist()
    [[0.0, 0.6]]
    """
    probs, mask = _check_pair(probs, mask, "error_heatmap")
    valid = _valid(mask, probs.shape[2], ignore_index, "error_heatmap")
    given = _given_prob(probs, mask, valid)
    other = probs.copy()
    np.put_along_axis(other, np.where(valid, mask, 0).astype(np.intp)[..., None], -1.0, axis=2)
    heat = np.clip(other.max(axis=2) - given, 0.0, 1.0)
    return np.where(valid, heat, 0.0).astype(np.float32)


def pixel_issues(
    probs: np.ndarray, mask: np.ndarray, thresholds: np.ndarray, *, ignore_index: int = IGNORE_INDEX
) -> tuple[np.ndarray, np.ndarray]:
    """Likely-error pixels and the label the model suggests for them.

    Returns
    -------
    issues : (H, W) bool
        ``p_given < t_given`` and some other class ``j`` has ``p_j >= t_j``.
    suggested : (H, W) int64
        The most probable confident other class at issue pixels, -1 elsewhere.

    Examples
    --------
    >>> p = np.array([[[0.9, 0.1], [0.1, 0.9]]], np.float32)
    >>> issues, sug = pixel_issues(p, np.array([[0, 0]]), np.array([0.8, 0.8]))
    >>> issues.tolist(), sug.tolist()
    ([[False, True]], [[-1, 1]])
    """
    probs, mask = _check_pair(probs, mask, "pixel_issues")
    c = probs.shape[2]
    t = np.asarray(thresholds, dtype=np.float64)
    if t.shape != (c,):
        raise DataError(f"thresholds have shape {t.shape}; expected ({c},), one per class")
    valid = _valid(mask, c, ignore_index, "pixel_issues")
    idx = np.where(valid, mask, 0).astype(np.intp)
    given = _given_prob(probs, mask, valid)
    confident = probs >= t[None, None, :]
    np.put_along_axis(confident, idx[..., None], False, axis=2)
    scored = np.where(confident, probs, -1.0)
    suggested = scored.argmax(axis=2)
    issues = valid & (given < t[idx]) & confident.any(axis=2)
    return issues, np.where(issues, suggested, -1).astype(np.int64)


@dataclass
class LabelFinding:
    """One region whose label the model confidently disputes.

    ``kind`` is ``wrong_class``, ``missing`` (mask says background, model sees an object) or
    ``spurious`` (mask has an object, model sees background). ``bbox`` is ``[x0, y0, x1, y1]``
    (exclusive end); ``score`` the mean of ``p_suggested - p_given`` over the region; ``mass``
    its sum.
    """

    sample_id: str
    kind: str
    given: int
    suggested: int
    area: int
    score: float
    mass: float
    bbox: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def region_findings(
    probs: np.ndarray,
    mask: np.ndarray,
    thresholds: np.ndarray,
    *,
    sample_id: str = "",
    background: int | None = 0,
    min_area: int = 16,
    ignore_index: int = IGNORE_INDEX,
) -> list[LabelFinding]:
    """Findings of one image: connected regions of likely-error pixels per (given, suggested) pair.

    Parameters
    ----------
    probs : (H, W, C) float
    mask : (H, W) int
    thresholds : (C,) float
        From :func:`class_thresholds`.
    sample_id : str
    background : int or None
        Class that means "no object", to tell ``missing`` and ``spurious`` from ``wrong_class``.
    min_area : int
        Smaller regions (thin boundary disagreements) are dropped.
    ignore_index : int

    Returns
    -------
    list of LabelFinding
        Sorted by mass, largest first.

    Examples
    --------
    >>> mask = np.zeros((8, 8), np.uint8); mask[2:6, 2:6] = 1
    >>> probs = np.dstack([np.full((8, 8), 0.9), np.full((8, 8), 0.1)]).astype(np.float32)
    >>> [(f.kind, f.area) for f in region_findings(probs, mask, np.array([0.5, 0.5]), min_area=4)]
    [('spurious', 16)]
    """
    issues, suggested = pixel_issues(probs, mask, thresholds, ignore_index=ignore_index)
    if not issues.any():
        return []
    given = np.where(issues, mask, 0).astype(np.int64)
    c = probs.shape[2]
    pair = np.where(issues, given * c + suggested + 1, 0)
    heat = error_heatmap(probs, mask, ignore_index=ignore_index)
    findings: list[LabelFinding] = []
    for code in np.unique(pair[pair > 0]):
        g, s = divmod(int(code) - 1, c)
        comps, n = ndimage.label(pair == code, structure=np.ones((3, 3), bool))
        if n == 0:
            continue
        areas = np.bincount(comps.ravel(), minlength=n + 1)
        sums = np.bincount(comps.ravel(), weights=heat.ravel(), minlength=n + 1)
        for k, box in enumerate(ndimage.find_objects(comps), start=1):
            if box is None or areas[k] < min_area:
                continue
            kind = "wrong_class"
            if background is not None and g == background:
                kind = "missing"
            elif background is not None and s == background:
                kind = "spurious"
            findings.append(
                LabelFinding(
                    sample_id=sample_id,
                    kind=kind,
                    given=g,
                    suggested=s,
                    area=int(areas[k]),
                    score=float(sums[k] / areas[k]),
                    mass=float(sums[k]),
                    bbox=[int(box[1].start), int(box[0].start), int(box[1].stop), int(box[0].stop)],
                )
            )
    return sorted(findings, key=lambda f: -f.mass)


@dataclass
class LabelErrorResults:
    """Ranked likely label errors of a dataset (see :func:`find_label_errors`).

    Parameters
    ----------
    thresholds : list of float
        Per-class thresholds ``t_c``.
    images : list of dict
        Per sample: ``id``, ``score`` (finding mass per pixel), ``quality`` (mean label
        quality), ``issue_fraction`` (share of likely-error pixels) and ``findings`` (count);
        sorted by score, worst first.
    findings : list of LabelFinding
        All findings, largest mass first.
    params : dict
        ``background``, ``min_area``, ``ignore_index``, ``class_names``.
    """

    thresholds: list[float]
    images: list[dict[str, Any]]
    findings: list[LabelFinding]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ranking(self) -> list[str]:
        """Sample ids, most likely mislabelled first."""
        return [row["id"] for row in self.images]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "label-errors",
            "thresholds": [float(t) for t in self.thresholds],
            "images": self.images,
            "findings": [f.to_dict() for f in self.findings],
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelErrorResults:
        return cls(
            thresholds=[float(t) for t in data["thresholds"]],
            images=[dict(r) for r in data["images"]],
            findings=[LabelFinding(**f) for f in data["findings"]],
            params=dict(data.get("params", {})),
        )


def find_label_errors(
    pairs: Iterable[tuple[str, np.ndarray, np.ndarray]] | Any,
    *,
    num_classes: int | None = None,
    thresholds: np.ndarray | None = None,
    background: int | None = 0,
    min_area: int = 16,
    ignore_index: int = IGNORE_INDEX,
    heatmap_dir: str | os.PathLike[str] | None = None,
    images: Mapping[str, Any] | None = None,
) -> LabelErrorResults:
    """Rank images and regions by how likely their labels are wrong, from model probabilities.

    Parameters
    ----------
    pairs : sequence of (id, probs, mask) or callable returning such an iterable
        ``probs`` ``(H, W, C)`` from a model, ``mask`` ``(H, W)`` the given labels. Thresholds
        need a first pass over the data, so pass a re-iterable sequence or a zero-argument
        callable returning a fresh iterator (to stream a large dataset twice).
    num_classes : int, optional
        Defaults to the probs' channel count.
    thresholds : (C,) ndarray, optional
        Per-class thresholds; computed from the data when omitted.
    background : int or None
        The "no object" class (tells missing and spurious findings apart); ``None`` if none.
    min_area : int
        Smallest finding region in pixels.
    ignore_index : int
    heatmap_dir : path, optional
        Write ``<id>.png`` heatmaps here (over the image when ``images`` has it).
    images : mapping id -> image or zero-argument loader, optional
        Backgrounds for the heatmaps.

    Returns
    -------
    LabelErrorResults

    Examples
    --------
    >>> mask = np.zeros((8, 8), np.uint8); mask[2:6, 2:6] = 1
    >>> good = np.dstack([1.0 - 0.9 * mask, 0.9 * mask + 0.05]).astype(np.float32)
    >>> good /= good.sum(2, keepdims=True)
    >>> bad = np.zeros_like(mask)  # the object was not annotated
    >>> res = find_label_errors([("ok", good, mask), ("bad", good, bad)], min_area=4)
    >>> res.ranking[0], res.findings[0].kind
    ('bad', 'missing')
    """
    if min_area < 1:
        raise ParameterError(f"min_area={min_area} must be >= 1 pixel")

    def fresh() -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
        return pairs() if callable(pairs) else pairs

    if thresholds is None:
        acc: ThresholdAccumulator | None = None
        for sid, probs, mask in fresh():
            if acc is None:
                acc = ThresholdAccumulator(
                    num_classes or np.asarray(probs).shape[2], ignore_index=ignore_index
                )
            acc.add(probs, mask, source=f"sample {sid}")
        if acc is None:
            raise DataError("no (id, probs, mask) pairs were given; nothing to check")
        thr = acc.thresholds()
    else:
        thr = np.asarray(thresholds, dtype=np.float64)
    rows: list[dict[str, Any]] = []
    findings: list[LabelFinding] = []
    for sid, probs, mask in fresh():
        probs, mask = _check_pair(probs, mask, f"sample {sid}")
        found = region_findings(
            probs, mask, thr, sample_id=str(sid), background=background, min_area=min_area,
            ignore_index=ignore_index,
        )  # fmt: skip
        issues, _ = pixel_issues(probs, mask, thr, ignore_index=ignore_index)
        quality = label_quality(probs, mask, ignore_index=ignore_index)
        n = max(int(np.isfinite(quality).sum()), 1)
        rows.append(
            {
                "id": str(sid),
                "score": float(sum(f.mass for f in found) / n),
                "quality": float(np.nanmean(quality)) if np.isfinite(quality).any() else float("nan"),
                "issue_fraction": float(issues.sum() / n),
                "findings": len(found),
                "kinds": sorted({f.kind for f in found}),
            }
        )
        findings.extend(found)
        if heatmap_dir is not None:
            from segscope.formats.files import write_image

            image = None
            if images is not None and str(sid) in images:
                image = images[str(sid)]
                image = image() if callable(image) else image
            heat = error_heatmap(probs, mask, ignore_index=ignore_index)
            write_image(Path(heatmap_dir) / f"{sid}.png", heatmap_image(heat, image=image))
    rows.sort(key=lambda r: (-r["score"], r["id"]))
    findings.sort(key=lambda f: -f.mass)
    return LabelErrorResults(
        thresholds=thr.tolist(),
        images=rows,
        findings=findings,
        params={"background": background, "min_area": min_area, "ignore_index": ignore_index},
    )


def heatmap_image(heat: np.ndarray, *, image: np.ndarray | None = None, alpha: float = 0.7) -> np.ndarray:
    """``(H, W, 3) uint8``: ``heat`` in [0, 1] through the ``inferno`` colour map, over ``image``.

    Where ``image`` is given, each pixel blends the image with the colour by ``alpha * heat``,
    so clean pixels show the image and disputed ones glow.

    Examples
    --------
    >>> heatmap_image(np.array([[0.0, 1.0]], np.float32)).shape
    (1, 2, 3)
    """
    from matplotlib import colormaps

    from segscope.core.image import to_display

    heat = np.clip(np.nan_to_num(np.asarray(heat, np.float32)), 0.0, 1.0)
    colours = colormaps["inferno"](heat)[..., :3].astype(np.float32) * 255.0
    if image is None:
        return colours.round().astype(np.uint8)
    base = to_display(np.asarray(image)).astype(np.float32)
    if base.shape[:2] != heat.shape:
        raise DataError(f"image shape {base.shape[:2]} differs from heatmap shape {heat.shape}")
    w = (alpha * heat)[..., None]
    return (base * (1 - w) + colours * w).round().astype(np.uint8)
