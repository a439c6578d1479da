"""COCO AP/AR against pycocotools (to 1e-12), Boundary AP, and the DSB 2018 score."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from segscope.core.instances import Instances
from segscope.errors import DataError, FormatError, ParameterError
from segscope.metrics._coco_synth import synthetic_instances, to_coco_json
from segscope.metrics.instance import COCO_AREA_RANGES, STAT_NAMES, coco_evaluate, dsb_image_scores, dsb_score


# ----------------------------------------------------------------------------- references
def _pycoco(gt_json: dict, results: list, *, cls: type = COCOeval, max_dets=None, area_rng=None) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(gt_json)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(results))
        ev = cls(gt, dt, "segm")
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        if area_rng is not None:
            ev.params.areaRng = [list(v) for v in area_rng.values()]
            ev.params.areaRngLbl = list(area_rng)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _assert_same(ours: dict, ev: COCOeval) -> None:
    np.testing.assert_allclose(ours["stats"], ev.stats, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["precision"], ev.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["recall"], ev.eval["recall"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["scores"], ev.eval["scores"], rtol=0, atol=1e-12)
    assert [ours[k] for k in STAT_NAMES] == ours["stats"]


# Reference boundary: the Boundary IoU authors' OpenCV construction, kept here on purpose so
# the test does not depend on segscope's implementation.
def _ref_boundary(mask: np.ndarray, dilation_ratio: float = 0.02) -> np.ndarray:
    h, w = mask.shape
    d = max(1, int(round(dilation_ratio * np.sqrt(h**2 + w**2))))
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1 : h + 1, 1 : w + 1]
    return mask.astype(np.uint8) - eroded


class _BoundaryCOCOeval(COCOeval):
    """pycocotools with the authors' computeBoundaryIoU: min(mask, boundary) for non-crowd."""

    def computeIoU(self, imgId, catId):  # noqa: N802 - pycocotools' name
        gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
        if len(gt) == 0 and len(dt) == 0:
            return []
        dt = [dt[i] for i in np.argsort([-d["score"] for d in dt], kind="mergesort")][
            : self.params.maxDets[-1]
        ]
        crowd = [int(o["iscrowd"]) for o in gt]
        ious = np.array(
            mask_utils.iou([d["segmentation"] for d in dt], [g["segmentation"] for g in gt], crowd)
        )
        if len(gt) and len(dt):

            def b(rle):
                return mask_utils.encode(np.asfortranarray(_ref_boundary(mask_utils.decode(rle))))

            bi = np.array(
                mask_utils.iou([b(d["segmentation"]) for d in dt], [b(g["segmentation"]) for g in gt], crowd)
            )
            reg = np.array(crowd) == 0
            ious[:, reg] = np.minimum(ious[:, reg], bi[:, reg])
        return ious


# ----------------------------------------------------------------------------- COCO AP
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pycocotools_on_random_sets(seed):
    # 64x64 ellipses of all sizes, ~5% crowd gt, 5% images without gt / without detections,
    # 75-125 detections per image (so > 100 happen), 3 categories of which 3 has no gt,
    # scores rounded to 2 decimals (many ties).
    gt, dt = synthetic_instances(25, height=64, width=64, seed=seed)
    gt_json, results = to_coco_json(gt, dt)
    assert any(len(d) > 100 for d in dt.values())
    assert any(len(g) == 0 for g in gt.values()) or any(len(d) == 0 for d in dt.values())
    assert any(g.iscrowd.any() for g in gt.values())
    ev = _pycoco(gt_json, results)
    _assert_same(coco_evaluate(gt_json, results), ev)
    _assert_same(coco_evaluate(gt, dt, categories=[1, 2, 3]), ev)


def test_matches_pycocotools_with_custom_limits_and_area_ranges():
    gt, dt = synthetic_instances(15, height=48, width=64, seed=5)
    gt_json, results = to_coco_json(gt, dt)
    areas = {"all": (0.0, 1e10), "small": (0.0, 64.0), "medium": (64.0, 400.0), "large": (400.0, 1e10)}
    ev = _pycoco(gt_json, results, max_dets=(5, 20, 50), area_rng=areas)
    ours = coco_evaluate(gt_json, results, max_dets=(5, 20, 50), area_ranges=areas)
    _assert_same(ours, ev)


def test_matches_pycocotools_quirks_box_area_and_gt_id_zero(tmp_path):
    gt, dt = synthetic_instances(12, height=64, width=64, seed=7)
    gt_json, results = to_coco_json(gt, dt)
    gt_json["annotations"][0]["id"] = 0  # pycocotools treats a match to gt id 0 as no match
    for r in results:  # with a 'bbox', loadRes uses the box area for the area ranges
        r["bbox"] = [float(v) for v in mask_utils.toBbox(r["segmentation"])]
    ev = _pycoco(gt_json, results)
    gt_path, res_path = tmp_path / "gt.json", tmp_path / "res.json"
    gt_path.write_text(json.dumps(gt_json))
    res_path.write_text(json.dumps(results))
    _assert_same(coco_evaluate(gt_path, res_path), ev)


def test_polygon_ground_truth_matches_pycocotools():
    poly = [[2.0, 2.0, 30.0, 4.0, 28.0, 30.0, 4.0, 26.0]]
    gt_json = {
        "images": [{"id": 3, "height": 40, "width": 40}, {"id": 9, "height": 40, "width": 40}],
        "annotations": [
            {"id": 1, "image_id": 3, "category_id": 1, "segmentation": poly, "area": 700.0, "iscrowd": 0}
        ],
        "categories": [{"id": 1}, {"id": 2}],
    }
    rle = mask_utils.merge(mask_utils.frPyObjects(poly, 40, 40))
    rle["counts"] = rle["counts"].decode()
    results = [
        {"image_id": 3, "category_id": 1, "segmentation": rle, "score": 0.5},
        {"image_id": 9, "category_id": 2, "segmentation": rle, "score": 0.9},
    ]
    _assert_same(coco_evaluate(gt_json, results), _pycoco(gt_json, results))


def test_perfect_predictions_score_one_and_breakdowns():
    gt, _ = synthetic_instances(6, height=64, width=64, crowd_fraction=0.0, seed=3)
    dt = {
        i: Instances(g.rles, g.labels, g.height, g.width, np.linspace(1, 0.5, len(g))) for i, g in gt.items()
    }
    res = coco_evaluate(gt, dt)
    assert res["AP"] == 1.0 and res["AP50"] == 1.0 and res["AR100"] == 1.0
    for c, row in res["per_class"].items():
        assert row["AP"] == 1.0 and row["num_gt"] == sum(int((g.labels == c).sum()) for g in gt.values())
    for i, row in res["per_image"].items():
        assert row["tp"] == [len(gt[i])] * 10 and row["fp"] == [0] * 10 and row["fn"] == [0] * 10


def test_per_image_counts_match_pycocotools_eval_imgs():
    gt, dt = synthetic_instances(10, height=64, width=64, num_classes=2, seed=11)
    gt_json, results = to_coco_json(gt, dt, num_classes=2)
    ev = _pycoco(gt_json, results)
    ours = coco_evaluate(gt_json, results)
    tp = {i: np.zeros(10, int) for i in gt}
    fp = {i: np.zeros(10, int) for i in gt}
    for e in ev.evalImgs:
        if e is None or list(e["aRng"]) != list(COCO_AREA_RANGES["all"]):
            continue
        m, ig = e["dtMatches"] > 0, e["dtIgnore"].astype(bool)
        tp[e["image_id"]] += (m & ~ig).sum(1)
        fp[e["image_id"]] += (~m & ~ig).sum(1)
    for i in gt:
        assert ours["per_image"][i]["tp"] == tp[i].tolist()
        assert ours["per_image"][i]["fp"] == fp[i].tolist()
    # A single category's AP in the breakdown equals a one-category evaluation.
    only1 = coco_evaluate(gt_json, results, categories=[1])
    assert ours["per_class"][1]["AP"] == pytest.approx(only1["AP"], abs=1e-12)


def test_empty_inputs():
    gt = {1: Instances.empty(16, 16), 2: Instances.empty(16, 16)}
    dt = {1: Instances.empty(16, 16, with_scores=True)}
    res = coco_evaluate(gt, dt)
    assert res["AP"] == -1.0 and res["per_image"][2]["num_gt"] == 0


# ----------------------------------------------------------------------------- Boundary AP
def test_boundary_ap_matches_authors_construction():
    gt, dt = synthetic_instances(8, height=64, width=64, seed=4)
    gt_json, results = to_coco_json(gt, dt)
    ev = _pycoco(gt_json, results, cls=_BoundaryCOCOeval)
    ours = coco_evaluate(gt_json, results, iou_type="boundary")
    _assert_same(ours, ev)
    assert ours["params"]["dilation_ratio"] == 0.02


def test_boundary_ap_perfect_and_shift_penalised_more_than_mask_ap():
    yy, xx = np.mgrid[:96, :96]
    masks = np.stack([(yy - 30) ** 2 + (xx - 30) ** 2 < 20**2, (yy - 65) ** 2 + (xx - 62) ** 2 < 25**2])
    gt = {1: Instances.from_masks(masks)}
    perfect = {1: Instances.from_masks(masks, scores=[0.9, 0.8])}
    assert coco_evaluate(gt, perfect, iou_type="boundary")["AP"] == 1.0
    shifted = {1: Instances.from_masks(np.roll(masks, 3, axis=2), scores=[0.9, 0.8])}
    mask_ap = coco_evaluate(gt, shifted)["AP"]
    boundary_ap = coco_evaluate(gt, shifted, iou_type="boundary")["AP"]
    assert boundary_ap < mask_ap - 0.1


# ----------------------------------------------------------------------------- DSB 2018
def _kaggle_dsb(labels: np.ndarray, pred: np.ndarray) -> float:
    """The widely used Kaggle kernel: IoU matrix from a 2-D histogram of label pairs."""
    true_objects, pred_objects = len(np.unique(labels)), len(np.unique(pred))
    inter = np.histogram2d(labels.ravel(), pred.ravel(), bins=(true_objects, pred_objects))[0]
    area_true = np.histogram(labels, bins=true_objects)[0][:, None]
    area_pred = np.histogram(pred, bins=pred_objects)[0][None, :]
    iou = (inter / (area_true + area_pred - inter))[1:, 1:]
    prec = []
    for t in np.arange(0.5, 1.0, 0.05):
        matches = iou > t
        tp = np.sum(np.sum(matches, axis=1) == 1)
        fp = np.sum(np.sum(matches, axis=0) == 0)
        fn = np.sum(np.sum(matches, axis=1) == 0)
        prec.append(tp / (tp + fp + fn))
    return float(np.mean(prec))


def _random_id_map(rng: np.random.Generator, n: int, size: int = 48) -> np.ndarray:
    ids = np.zeros((size, size), np.int32)
    yy, xx = np.mgrid[:size, :size]
    for k in range(1, n + 1):
        cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(2, 9)
        ids[((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & (ids == 0)] = k
    # Relabel consecutively so every label present is an object.
    _, inv = np.unique(ids, return_inverse=True)
    return inv.reshape(ids.shape).astype(np.int32)


@pytest.mark.parametrize("seed", range(6))
def test_dsb_score_matches_kaggle_kernel(seed):
    rng = np.random.default_rng(seed)
    gt_ids = _random_id_map(rng, int(rng.integers(3, 12)))
    # Prediction: the gt shifted a little, one object dropped, plus some new blobs.
    pred_ids = np.roll(gt_ids, int(rng.integers(-2, 3)), axis=int(rng.integers(0, 2)))
    pred_ids[pred_ids == pred_ids.max()] = 0
    extra = _random_id_map(rng, 3)
    pred_ids = np.where((pred_ids == 0) & (extra > 0), extra + pred_ids.max(), pred_ids)
    _, inv = np.unique(pred_ids, return_inverse=True)
    pred_ids = inv.reshape(pred_ids.shape).astype(np.int32)
    ours = dsb_score(Instances.from_id_map(gt_ids), Instances.from_id_map(pred_ids))
    assert ours == pytest.approx(_kaggle_dsb(gt_ids, pred_ids), abs=1e-12)
    assert 0.0 < ours < 1.0


def test_dsb_score_conventions_and_dataset_mean():
    ids = np.zeros((16, 16), np.int32)
    ids[2:6, 2:6] = 1
    full, empty = Instances.from_id_map(ids), Instances.empty(16, 16)
    assert dsb_score(empty, empty) == 1.0
    assert dsb_score(full, empty) == 0.0 and dsb_score(empty, full) == 0.0
    assert dsb_score(full, full) == 1.0
    per = dsb_image_scores({"a": full, "b": full}, {"a": full})
    assert per["a"].tolist() == [1.0] * 10 and per["b"].tolist() == [0.0] * 10
    assert dsb_score({"a": full, "b": full}, {"a": full}) == 0.5


def test_dsb_score_overlapping_objects_are_matched_one_to_one():
    m = np.zeros((2, 10, 10), bool)
    m[0, :, :6] = True
    m[1, :, :5] = True  # gt objects overlap each other heavily
    gt = Instances.from_masks(m[:2])
    pred = Instances.from_masks(m[[0]])  # IoU 1.0 with gt 0 and 5/6 with gt 1
    # One prediction matches one gt: TP=1, FN=1 at every threshold (counting gt rows with a
    # match, as the Kaggle kernel does, would find both for t < 5/6 and give 0.85).
    assert dsb_score(gt, pred) == 0.5


# ----------------------------------------------------------------------------- errors
def _one(h=16, w=16, scores=(0.5,)):
    m = np.zeros((1, h, w), bool)
    m[0, 2:8, 2:8] = True
    return Instances.from_masks(m, scores=None if scores is None else list(scores))


def test_errors():
    gt = {1: _one(scores=None)}
    with pytest.raises(DataError, match="is 16x20 but gt is 16x16"):
        coco_evaluate(gt, {1: _one(16, 20)})
    with pytest.raises(DataError, match="has no scores"):
        coco_evaluate(gt, {1: _one(scores=None)})
    with pytest.raises(DataError, match="image 7 that gt does not have"):
        coco_evaluate(gt, {7: _one()})
    with pytest.raises(ParameterError, match="iou_type='bbox' is not supported"):
        coco_evaluate(gt, {1: _one()}, iou_type="bbox")
    with pytest.raises(ParameterError, match="at least 3"):
        coco_evaluate(gt, {1: _one()}, max_dets=(100,))
    gt_json, results = to_coco_json(gt, {1: _one()}, num_classes=1)
    del results[0]["score"]
    with pytest.raises(DataError, match="result 0 .* has no 'score'"):
        coco_evaluate(gt_json, results)
    results[0]["score"] = 0.3
    results[0]["segmentation"]["size"] = [8, 8]
    with pytest.raises(DataError, match=r"RLE size \[8, 8\] but the image is \[16, 16\]"):
        coco_evaluate(gt_json, results)
    with pytest.raises(FormatError, match="gt must be"):
        coco_evaluate([1, 2], results)
    with pytest.raises(DataError, match="missing.json: ground-truth file not found"):
        coco_evaluate("missing.json", results)
    with pytest.raises(DataError, match="pred is 16x20 but gt is 16x16"):
        dsb_score(_one(), _one(16, 20))
