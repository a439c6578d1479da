"""Instance segmentation metrics: exact COCO mask AP/AR, Boundary AP, and the DSB 2018 score.

:func:`coco_evaluate` gives the same numbers as pycocotools' ``COCOeval(iouType="segm")``
(to the last bit on the tests' random sets, crowd regions and ties included) several times
faster: IoUs still come from ``pycocotools.mask.iou``, the matching and accumulation are
vectorised in NumPy (see ``_coco_eval.py``). With ``iou_type="boundary"`` the matching IoU of
non-crowd objects is ``min(mask IoU, boundary IoU)``, as in the Boundary IoU authors' COCO
evaluation. :func:`dsb_score` is the Kaggle Data Science Bowl 2018 metric.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from segscope.core.instances import Instances, rle_areas
from segscope.errors import DataError, FormatError, ParameterError
from segscope.metrics._coco_eval import Params, Table, evaluate_table, summarize

__all__ = ["COCO_AREA_RANGES", "STAT_NAMES", "coco_evaluate", "dsb_score", "dsb_image_scores"]

COCO_AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
"""COCO's area ranges in pixels, by label (pycocotools ``Params.areaRng``)."""

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
"""Keys of the 12 COCO stats, in ``COCOeval.stats`` order (AR1/AR10/AR100 use ``max_dets[0..2]``)."""

_IOU_TYPES = ("segm", "boundary")

GtLike = Mapping[Any, Instances] | Mapping[str, Any] | str | os.PathLike
DtLike = Mapping[Any, Instances] | Sequence[Mapping[str, Any]] | str | os.PathLike


# ------------------------------------------------------------------------------ helpers
def _areas(rles: list[dict[str, Any]]) -> np.ndarray:
    """Pixel areas of RLEs as float64, as pycocotools stores them."""
    return rle_areas(rles).astype(np.float64)


def _load_json(path: str | os.PathLike, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: {what} file not found; pass an existing COCO JSON path")
    try:
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{p}: not valid JSON ({exc.msg} at line {exc.lineno}); fix or regenerate the file"
        ) from exc


def _is_instances_map(obj: Any) -> bool:
    return isinstance(obj, Mapping) and all(isinstance(v, Instances) for v in obj.values())


def _sorted_ids(ids: Iterable[Any]) -> list[Any]:
    ids = list(dict.fromkeys(ids))
    try:
        return sorted(ids)
    except TypeError:
        return sorted(ids, key=lambda x: (type(x).__name__, str(x)))


def _ann_rle(ann: Mapping[str, Any], h: int, w: int, where: str) -> dict[str, Any]:
    """COCO segmentation (polygons, uncompressed or compressed RLE) -> compressed RLE."""
    segm = ann.get("segmentation")
    if isinstance(segm, list):
        if not segm:
            raise FormatError(f"{where}: empty polygon list; give at least one polygon or an RLE")
        return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    if isinstance(segm, Mapping) and "counts" in segm and "size" in segm:
        if list(segm["size"]) != [h, w]:
            raise DataError(
                f"{where}: RLE size {list(segm['size'])} but the image is {[h, w]}; "
                "encode masks at the image size"
            )
        if isinstance(segm["counts"], list):
            return mask_utils.frPyObjects(dict(segm), h, w)
        return dict(segm)
    raise FormatError(f"{where}: 'segmentation' must be polygons or an RLE dict with 'counts' and 'size'")


class _GtSide:
    """Ground truth normalised to image ids, sizes, categories and flat object lists."""

    def __init__(self, gt: GtLike, categories: Sequence[Any] | None):
        self.from_coco = False
        if isinstance(gt, str | os.PathLike):
            gt = _load_json(gt, "ground-truth")
        if _is_instances_map(gt):
            self._from_instances(gt)  # type: ignore[arg-type]
        elif isinstance(gt, Mapping) and "annotations" in gt and "images" in gt:
            self._from_coco(gt)
        else:
            raise FormatError(
                "gt must be a mapping image_id -> Instances, a COCO dict with 'images' and "
                "'annotations', or a path to a COCO JSON file"
            )
        if categories is not None:
            self.cat_ids = _sorted_ids(categories)

    def _from_instances(self, gt: Mapping[Any, Instances]) -> None:
        self.image_ids = _sorted_ids(gt.keys())
        self.sizes = {i: (gt[i].height, gt[i].width) for i in self.image_ids}
        img, cat, crowd, rles = [], [], [], []
        for k, i in enumerate(self.image_ids):
            inst = gt[i]
            img.append(np.full(len(inst), k, np.int64))
            cat.append(inst.labels)
            crowd.append(inst.iscrowd)
            rles.extend(inst.rles)
        self.img = np.concatenate(img) if img else np.zeros(0, np.int64)
        self.cat_raw: list[Any] = np.concatenate(cat).tolist() if cat else []
        self.crowd = np.concatenate(crowd) if crowd else np.zeros(0, bool)
        self.rles = rles
        self.area = _areas(rles)
        self.ids = np.arange(1, len(rles) + 1, dtype=np.int64)
        self.cat_ids = _sorted_ids(self.cat_raw)

    def _from_coco(self, gt: Mapping[str, Any]) -> None:
        self.from_coco = True
        self.image_ids = _sorted_ids(im["id"] for im in gt["images"])
        self.sizes = {im["id"]: (int(im["height"]), int(im["width"])) for im in gt["images"]}
        index = {i: k for k, i in enumerate(self.image_ids)}
        img, cat, crowd, rles, area, ids = [], [], [], [], [], []
        for n, ann in enumerate(gt["annotations"]):
            i = ann.get("image_id")
            if i not in index:
                continue  # pycocotools evaluates only the listed images
            h, w = self.sizes[i]
            rle = _ann_rle(ann, h, w, f"gt annotation {ann.get('id', n)} (image {i})")
            img.append(index[i])
            cat.append(ann["category_id"])
            crowd.append(bool(ann.get("iscrowd", 0)))
            rles.append(rle)
            area.append(ann.get("area"))
            ids.append(ann.get("id", n + 1))
        self.img = np.asarray(img, np.int64)
        self.cat_raw = cat
        self.crowd = np.asarray(crowd, bool)
        self.rles = rles
        missing = [k for k, a in enumerate(area) if a is None]
        if missing:
            fill = _areas([rles[k] for k in missing])
            for k, a in zip(missing, fill, strict=True):
                area[k] = a
        self.area = np.asarray(area, np.float64)
        self.ids = np.asarray(ids, np.int64)
        if "categories" in gt:
            self.cat_ids = _sorted_ids(c["id"] for c in gt["categories"])
        else:
            self.cat_ids = _sorted_ids(cat)


class _DtSide:
    """Detections normalised against the ground truth's images."""

    def __init__(self, dt: DtLike, gt: _GtSide):
        if isinstance(dt, str | os.PathLike):
            dt = _load_json(dt, "results")
        if isinstance(dt, Mapping) and "annotations" in dt and not _is_instances_map(dt):
            dt = dt["annotations"]
        index = {i: k for k, i in enumerate(gt.image_ids)}
        if _is_instances_map(dt):
            self._from_instances(dt, gt, index)  # type: ignore[arg-type]
        elif isinstance(dt, Sequence) and not isinstance(dt, str):
            self._from_results(dt, gt, index)
        else:
            raise FormatError(
                "dt must be a mapping image_id -> Instances (with scores), a COCO results list, "
                "or a path to a results JSON file"
            )
        if self.score.size and not np.isfinite(self.score).all():
            raise DataError("dt has NaN or infinite scores; give every detection a finite score")

    def _from_instances(self, dt: Mapping[Any, Instances], gt: _GtSide, index: dict[Any, int]) -> None:
        img, cat, score, rles = [], [], [], []
        for i, inst in dt.items():
            if i not in index:
                raise DataError(
                    f"dt has image {i!r} that gt does not have; evaluate only images with ground truth"
                )
            if (inst.height, inst.width) != gt.sizes[i]:
                raise DataError(
                    f"dt image {i!r} is {inst.height}x{inst.width} but gt is "
                    f"{gt.sizes[i][0]}x{gt.sizes[i][1]}; predict at the ground-truth size"
                )
            if inst.scores is None and len(inst):
                raise DataError(f"dt image {i!r} has no scores; detections need a score each for AP")
            img.append(np.full(len(inst), index[i], np.int64))
            cat.append(inst.labels)
            score.append(inst.scores if inst.scores is not None else np.zeros(0))
            rles.extend(inst.rles)
        self.img = np.concatenate(img) if img else np.zeros(0, np.int64)
        self.cat_raw: list[Any] = np.concatenate(cat).tolist() if cat else []
        self.score = np.concatenate(score).astype(np.float64) if score else np.zeros(0)
        self.rles = rles
        self.area = _areas(rles)

    def _from_results(self, dt: Sequence[Mapping[str, Any]], gt: _GtSide, index: dict[Any, int]) -> None:
        n = len(dt)
        # Fast path: list comprehensions over the (often 100k+) results; the careful loop
        # below only runs to convert non-RLE masks or to name the first bad result.
        try:
            img = np.array([index.get(a["image_id"], -1) for a in dt], np.int64).reshape(n)
            score = np.array([a["score"] for a in dt], np.float64).reshape(n)
            rles = [a["segmentation"] for a in dt]
            sizes = np.array([r["size"] if type(r) is dict else (-1, -1) for r in rles], np.int64).reshape(
                n, 2
            )
            plain = all(type(r) is dict and type(r["counts"]) is not list for r in rles)
        except (KeyError, TypeError, ValueError):
            img, plain = np.full(n, -1, np.int64), False
        cat: list[Any] = [a.get("category_id") for a in dt]
        h_w = np.array([gt.sizes[i] for i in gt.image_ids], np.int64).reshape(-1, 2)
        if not plain or (img < 0).any() or (sizes != h_w[img]).any():
            img = np.empty(n, np.int64)
            score = np.empty(n, np.float64)
            rles = [None] * n  # type: ignore[list-item]
            for k, ann in enumerate(dt):
                i = ann.get("image_id")
                if i not in index:
                    raise DataError(
                        f"result {k} has image_id {i!r} that gt does not have; drop it or fix the id"
                    )
                if "score" not in ann:
                    raise DataError(
                        f"result {k} (image {i!r}) has no 'score'; detections need a score each for AP"
                    )
                h, w = gt.sizes[i]
                rles[k] = _ann_rle(ann, h, w, f"result {k} (image {i!r})")
                img[k] = index[i]
                score[k] = ann["score"]
        self.img, self.score, self.cat_raw, self.rles = img, score, cat, rles
        if n and dt[0].get("bbox"):
            # pycocotools' loadRes takes the box branch when the first result has a box and
            # then uses the *box* area for the area ranges; we do the same to stay identical.
            try:
                self.area = np.array([float(a["bbox"][2]) * float(a["bbox"][3]) for a in dt])
            except (KeyError, IndexError, TypeError) as exc:
                raise FormatError(
                    "results: the first result has a 'bbox' but another lacks one; give all or none"
                ) from exc
        else:
            self.area = _areas(rles)


def _params(
    max_dets: Sequence[int],
    area_ranges: Mapping[str, tuple[float, float]],
    iou_thresholds: Sequence[float] | None,
    rec_thresholds: Sequence[float] | None,
) -> Params:
    max_dets = sorted(int(m) for m in max_dets)
    if len(max_dets) < 3 or max_dets[0] < 1:
        raise ParameterError(
            f"max_dets={max_dets} must hold at least 3 positive limits (COCO uses (1, 10, 100))"
        )
    if not area_ranges:
        raise ParameterError("area_ranges is empty; pass e.g. COCO_AREA_RANGES")
    iou = np.linspace(0.5, 0.95, 10) if iou_thresholds is None else np.asarray(iou_thresholds, np.float64)
    rec = np.linspace(0.0, 1.0, 101) if rec_thresholds is None else np.asarray(rec_thresholds, np.float64)
    if iou.ndim != 1 or iou.size == 0 or rec.ndim != 1 or rec.size == 0:
        raise ParameterError("iou_thresholds and rec_thresholds must be non-empty 1-D sequences")
    return Params(
        iou_thrs=iou,
        rec_thrs=rec,
        max_dets=max_dets,
        area_rng=np.asarray([area_ranges[k] for k in area_ranges], np.float64).reshape(-1, 2),
        area_lbl=list(area_ranges),
    )


class _IouFn:
    """IoU matrices through ``pycocotools.mask.iou``; boundary IoU mixed in when asked."""

    def __init__(self, tab: Table, *, boundary: bool, dilation_ratio: float, thr_min: float):
        self.tab = tab
        self.boundary = boundary
        self.thr_min = thr_min
        self.dilation_ratio = dilation_ratio
        self.g_b: dict[int, dict[str, Any]] = {}
        self.d_b: dict[int, dict[str, Any]] = {}

    def _boundaries(
        self, idx: list[int], rles: list[dict[str, Any]], cache: dict[int, dict[str, Any]]
    ) -> list:
        from segscope.metrics.boundary import mask_to_boundary

        todo = [i for i in idx if i not in cache]
        if todo:
            masks = mask_utils.decode([rles[i] for i in todo])  # (H, W, N)
            b = np.zeros(masks.shape, np.uint8, order="F")
            for j in range(len(todo)):
                b[:, :, j] = mask_to_boundary(masks[:, :, j], dilation_ratio=self.dilation_ratio)
            for i, r in zip(todo, mask_utils.encode(b), strict=True):
                cache[i] = r
        return [cache[i] for i in idx]

    def __call__(self, d_idx: list[int], g_idx: list[int], crowd: np.ndarray) -> np.ndarray:
        tab = self.tab
        d = [tab.d_rles[i] for i in d_idx]
        g = [tab.g_rles[i] for i in g_idx]
        iscrowd = crowd.astype(np.uint8).tolist()
        ious = np.asarray(mask_utils.iou(d, g, iscrowd), np.float64).reshape(len(d), len(g))
        if self.boundary:
            reg = ~crowd
            # min(mask, boundary) >= t needs mask IoU >= t, so boundaries are only computed for
            # detections that can match at the lowest threshold; the other rows keep their
            # mask IoU, which is below every threshold either way (the matcher skips them).
            rows = np.flatnonzero((ious[:, reg] >= self.thr_min).any(1))
            if rows.size:
                gi = [i for i, c in zip(g_idx, crowd, strict=True) if not c]
                db = self._boundaries([d_idx[r] for r in rows], tab.d_rles, self.d_b)
                gb = self._boundaries(gi, tab.g_rles, self.g_b)
                b = np.asarray(mask_utils.iou(db, gb, [0] * len(gb)), np.float64).reshape(len(db), len(gb))
                sub = ious[np.ix_(rows, np.flatnonzero(reg))]
                ious[np.ix_(rows, np.flatnonzero(reg))] = np.minimum(sub, b)
        return ious


# ------------------------------------------------------------------------------ COCO AP
def coco_evaluate(
    gt: GtLike,
    dt: DtLike,
    *,
    iou_type: str = "segm",
    max_dets: Sequence[int] = (1, 10, 100),
    area_ranges: Mapping[str, tuple[float, float]] = COCO_AREA_RANGES,
    iou_thresholds: Sequence[float] | None = None,
    rec_thresholds: Sequence[float] | None = None,
    categories: Sequence[Any] | None = None,
    dilation_ratio: float = 0.02,
) -> dict[str, Any]:
    """COCO mask AP/AR (or Boundary AP), identical to pycocotools ``COCOeval``.

    Parameters
    ----------
    gt : mapping image_id -> Instances, COCO dict, or path
        Ground truth. ``Instances.iscrowd`` marks crowd regions (matched crowd regions are
        ignored, their IoU divides by the detection area). From a COCO dict, every listed
        image is evaluated, ``area`` is taken from the annotations as pycocotools does, and
        the categories are those of ``"categories"``.
    dt : mapping image_id -> Instances with scores, COCO results list, or path
        Detections. Images missing here have no detections; images missing from ``gt`` are
        an error. From a results list, the area used for the area ranges is the mask area,
        or the box area when the first result has a ``bbox`` (pycocotools' ``loadRes`` rule).
    iou_type : {"segm", "boundary"}, optional
        ``"boundary"``: the matching IoU of non-crowd objects is ``min(mask IoU, boundary
        IoU)``, boundaries from :func:`segscope.metrics.boundary.mask_to_boundary`.
    max_dets : sequence of int, optional
        Detection limits per image and category, sorted; at least three. As in
        pycocotools, "AP" reads the column for exactly 100 detections (so it is -1 when 100
        is not listed), AP50..APl and AR100..ARl read ``max_dets[2]``, AR1/AR10 read
        ``max_dets[0]``/``max_dets[1]``; for images with more than 100 objects use e.g.
        ``(1, 100, 1000)`` and read AP50/AP75/AR100 or ``precision``.
    area_ranges : mapping label -> (min, max), optional
        Area ranges in pixels; the stats use the labels all/small/medium/large (-1 if absent).
    iou_thresholds, rec_thresholds : sequence of float, optional
        Default ``0.50:0.05:0.95`` and ``0:0.01:1``.
    categories : sequence, optional
        Category ids to evaluate (default: the gt's categories, for in-memory inputs the
        union of gt and dt labels). Detections of other categories are dropped.
    dilation_ratio : float, optional
        Boundary width as a fraction of the image diagonal, for ``iou_type="boundary"``.

    Returns
    -------
    dict
        ``"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm",
        "ARl"`` (floats, -1 when undefined, as in pycocotools), ``"stats"`` (the 12 in order),
        ``"per_class"`` ({category: {"AP", "AP50", "AP75", "AR", "num_gt", "num_dt"}}),
        ``"per_image"`` ({image_id: {"num_gt", "num_dt", "tp", "fp", "fn"}}, counts per IoU
        threshold at area "all" and the largest ``max_dets``), ``"precision"`` (T, R, K, A, M),
        ``"recall"`` (T, K, A, M) and ``"scores"`` (T, R, K, A, M) arrays as in
        ``COCOeval.eval``, and ``"params"``.

    Raises
    ------
    DataError
        Detections without scores, images or sizes that disagree with the ground truth.
    FormatError
        Inputs that are not Instances mappings or COCO JSON.
    ParameterError
        Unknown ``iou_type`` or bad limits.

    Examples
    --------
    >>> m = np.zeros((1, 8, 8), bool); m[0, 2:6, 2:6] = True
    >>> gt = {1: Instances.from_masks(m)}
    >>> dt = {1: Instances.from_masks(m, scores=[0.9])}
    >>> round(coco_evaluate(gt, dt)["AP"], 6)  # pycocotools' tp / (tp + eps) is just below 1
    1.0
    """
    if iou_type not in _IOU_TYPES:
        raise ParameterError(f"iou_type={iou_type!r} is not supported; use one of {', '.join(_IOU_TYPES)}")
    p = _params(max_dets, area_ranges, iou_thresholds, rec_thresholds)
    g = _GtSide(gt, categories)
    d = _DtSide(dt, g)
    if categories is None and not g.from_coco:
        g.cat_ids = _sorted_ids([*g.cat_ids, *d.cat_raw])
    cat_index = {c: k for k, c in enumerate(g.cat_ids)}
    g_cat = np.array([cat_index.get(c, -1) for c in g.cat_raw], np.int64)
    d_cat = np.array([cat_index.get(c, -1) for c in d.cat_raw], np.int64)
    gk = np.flatnonzero(g_cat >= 0)
    dk = np.flatnonzero(d_cat >= 0)
    tab = Table(
        image_ids=g.image_ids,
        cat_ids=g.cat_ids,
        g_img=g.img[gk],
        g_cat=g_cat[gk],
        g_area=g.area[gk],
        g_crowd=g.crowd[gk],
        g_id=g.ids[gk],
        g_rles=[g.rles[i] for i in gk],
        d_img=d.img[dk],
        d_cat=d_cat[dk],
        d_score=d.score[dk],
        d_area=d.area[dk],
        d_id=dk + 1,
        d_rles=[d.rles[i] for i in dk],
    )
    iou_fn = _IouFn(
        tab,
        boundary=iou_type == "boundary",
        dilation_ratio=dilation_ratio,
        thr_min=float(np.minimum(p.iou_thrs, 1 - 1e-10).min()),
    )
    if iou_type == "boundary":
        from segscope.metrics.boundary import boundary_width

        boundary_width((1, 1), dilation_ratio=dilation_ratio)  # validates the ratio
    ev = evaluate_table(tab, p, iou_fn)
    stats = summarize(p, ev["precision"], ev["recall"])
    out: dict[str, Any] = {name: float(v) for name, v in zip(STAT_NAMES, stats, strict=True)}
    out["stats"] = stats.tolist()
    out["iou_type"] = iou_type
    out.update(_breakdowns(tab, p, ev))
    out["precision"] = ev["precision"]
    out["recall"] = ev["recall"]
    out["scores"] = ev["scores"]
    out["params"] = {
        "iou_thresholds": p.iou_thrs.tolist(),
        "rec_thresholds": p.rec_thrs.tolist(),
        "max_dets": list(p.max_dets),
        "area_ranges": {k: list(map(float, v)) for k, v in area_ranges.items()},
        "categories": list(g.cat_ids),
        "dilation_ratio": dilation_ratio if iou_type == "boundary" else None,
    }
    return out


def _mean_valid(x: np.ndarray) -> float:
    v = x[x > -1]
    return float(v.mean()) if v.size else -1.0


def _breakdowns(tab: Table, p: Params, ev: dict[str, Any]) -> dict[str, Any]:
    """Per-class AP/AR and per-image match counts (area "all", largest max_dets)."""
    a = p.area_lbl.index("all") if "all" in p.area_lbl else 0
    T = p.iou_thrs.size
    prec, rec = ev["precision"], ev["recall"]
    t50 = np.flatnonzero(p.iou_thrs == 0.5)
    t75 = np.flatnonzero(p.iou_thrs == 0.75)
    K, n_img = len(tab.cat_ids), len(tab.image_ids)
    num_gt_k = ev["npig"][:, a]
    num_dt_k = np.bincount(ev["d_cat"], minlength=K)
    per_class = {}
    for k, c in enumerate(tab.cat_ids):
        pk = prec[:, :, k, a, -1]
        per_class[c] = {
            "AP": _mean_valid(pk),
            "AP50": _mean_valid(pk[t50]),
            "AP75": _mean_valid(pk[t75]),
            "AR": _mean_valid(rec[:, k, a, -1]),
            "num_gt": int(num_gt_k[k]),
            "num_dt": int(num_dt_k[k]),
        }
    d_img = ev["d_img"]
    tp = np.stack([np.bincount(d_img, weights=ev["tps"][a, t], minlength=n_img) for t in range(T)], 1)
    fp = np.stack([np.bincount(d_img, weights=ev["fps"][a, t], minlength=n_img) for t in range(T)], 1)
    num_gt = np.bincount(ev["g_img"], weights=~ev["g_ig"][a], minlength=n_img).astype(np.int64)
    num_dt = np.bincount(d_img, minlength=n_img)
    tp, fp = tp.astype(np.int64), fp.astype(np.int64)
    per_image = {
        i: {
            "num_gt": int(num_gt[n]),
            "num_dt": int(num_dt[n]),
            "tp": tp[n].tolist(),
            "fp": fp[n].tolist(),
            "fn": (num_gt[n] - tp[n]).tolist(),
        }
        for n, i in enumerate(tab.image_ids)
    }
    return {"per_class": per_class, "per_image": per_image}


# ------------------------------------------------------------------------------ DSB 2018
_DSB_THRESHOLDS = np.arange(0.5, 1.0, 0.05)


def _dsb_one(gt: Instances, pred: Instances, thresholds: np.ndarray) -> np.ndarray:
    if (gt.height, gt.width) != (pred.height, pred.width):
        raise DataError(
            f"pred is {pred.height}x{pred.width} but gt is {gt.height}x{gt.width}; predict at the ground-truth size"
        )
    g = [r for r, c in zip(gt.rles, gt.iscrowd, strict=True) if not c]
    ng, npred = len(g), len(pred)
    if ng == 0 and npred == 0:
        return np.ones(thresholds.size)
    if ng == 0 or npred == 0:
        return np.zeros(thresholds.size)
    iou = np.asarray(mask_utils.iou(list(pred.rles), g, [0] * ng), np.float64).reshape(npred, ng)
    out = np.empty(thresholds.size)
    for j, t in enumerate(thresholds):
        hit = iou > t
        if (hit.sum(0) <= 1).all() and (hit.sum(1) <= 1).all():
            tp = int(hit.sum())  # unique pairs: always the case for non-overlapping objects
        else:
            from scipy.sparse import csr_matrix
            from scipy.sparse.csgraph import maximum_bipartite_matching

            tp = int((maximum_bipartite_matching(csr_matrix(hit), perm_type="column") >= 0).sum())
        out[j] = tp / (tp + (npred - tp) + (ng - tp))
    return out


def dsb_image_scores(
    gt: Mapping[Any, Instances], pred: Mapping[Any, Instances], *, thresholds: Sequence[float] | None = None
) -> dict[Any, np.ndarray]:
    """Per-image, per-threshold DSB 2018 scores ``{image_id: (T,) array}`` (see :func:`dsb_score`)."""
    th = _DSB_THRESHOLDS if thresholds is None else np.asarray(thresholds, np.float64)
    out = {}
    for i, g in gt.items():
        p = pred.get(i)
        if p is None:
            p = Instances.empty(g.height, g.width)
        out[i] = _dsb_one(g, p, th)
    extra = [i for i in pred if i not in gt]
    if extra:
        raise DataError(
            f"pred has image {extra[0]!r} that gt does not have; evaluate only images with ground truth"
        )
    return out


def dsb_score(
    gt: Instances | Mapping[Any, Instances],
    pred: Instances | Mapping[Any, Instances],
    *,
    thresholds: Sequence[float] | None = None,
) -> float:
    """Kaggle Data Science Bowl 2018 score of one image, or the mean over a dataset.

    For each IoU threshold ``t`` in 0.50:0.05:0.95, objects are matched one-to-one with
    IoU > t (with non-overlapping objects such matches are unique), and
    ``score_t = TP / (TP + FP + FN)``; an image scores the mean over ``t``, a dataset the
    mean over images. Conventions: an image with neither ground truth nor predictions scores
    1.0 (nothing to find, nothing claimed, as in Kaggle's later instance competitions); with
    only one of them it scores 0.0. Crowd ground truth is left out; scores are not used.

    Parameters
    ----------
    gt, pred : Instances, or mappings image_id -> Instances
        One image, or a dataset (images missing from ``pred`` have no predictions).
    thresholds : sequence of float, optional
        IoU thresholds (default 0.50:0.05:0.95).

    Returns
    -------
    float

    Examples
    --------
    >>> ids = np.zeros((8, 8), np.int32); ids[1:4, 1:4] = 1; ids[5:8, 5:8] = 2
    >>> dsb_score(Instances.from_id_map(ids), Instances.from_id_map(ids))
    1.0
    """
    if isinstance(gt, Instances) and isinstance(pred, Instances):
        th = _DSB_THRESHOLDS if thresholds is None else np.asarray(thresholds, np.float64)
        return float(_dsb_one(gt, pred, th).mean())
    if isinstance(gt, Mapping) and isinstance(pred, Mapping):
        scores = dsb_image_scores(gt, pred, thresholds=thresholds)
        if not scores:
            return math.nan
        return float(np.mean([s.mean() for s in scores.values()]))
    raise ParameterError("dsb_score takes two Instances (one image) or two mappings image_id -> Instances")
