"""Evaluation runs: numbers against torchmetrics / hand computation, alignment errors, round trips."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from segscope.core import ClassMap, Dataset, Sample
from segscope.errors import DataError, FormatError, ParameterError
from segscope.evaluation import EvaluationConfig, EvaluationResults, evaluate
from segscope.formats import load_dataset
from segscope.formats.files import write_image, write_mask

NUM_CLASSES = 3


def _write_pair(root, *, n=5, shape=(24, 32), seed=0, skip_pred=(), probs=False):
    """GT and prediction folders of random 3-class label maps, predictions ~25 % wrong."""
    rng = np.random.default_rng(seed)
    gts, preds = {}, {}
    for i in range(n):
        sid = f"{i:04d}"
        gt = rng.integers(0, NUM_CLASSES, shape).astype(np.uint8)
        gt[:2, :5] = 255  # ignored pixels
        pred = gt.copy()
        flip = rng.random(shape) < 0.1 + 0.1 * i
        pred[flip] = rng.integers(0, NUM_CLASSES, int(flip.sum()))
        pred[pred == 255] = 1  # predictions never hold the ignore value
        write_mask(root / "gt" / "masks" / f"{sid}.png", gt)
        write_image(root / "gt" / "images" / f"{sid}.png", rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
        gts[sid] = gt
        if sid in skip_pred:
            continue
        write_mask(root / "pred" / "masks" / f"{sid}.png", pred)
        if probs:
            p = rng.random((*shape, NUM_CLASSES)).astype(np.float32)
            p[np.arange(shape[0])[:, None], np.arange(shape[1])[None, :], pred] += 2.0
            p /= p.sum(axis=2, keepdims=True)
            write_image(root / "pred" / "probs" / f"{sid}.npy", p)
        preds[sid] = pred
    ClassMap(("background", "cell", "debris")).save(root / "gt" / "classes.yaml")
    ClassMap(("background", "cell", "debris")).save(root / "pred" / "classes.yaml")
    return gts, preds


@pytest.fixture
def pair(tmp_path):
    gts, preds = _write_pair(tmp_path)
    return tmp_path, gts, preds


def _load(root):
    return load_dataset(root / "gt"), load_dataset(root / "pred")


@pytest.mark.slow  # importing torch takes seconds on a busy 2-core machine
def test_semantic_metrics_match_torchmetrics(pair):
    torch = pytest.importorskip("torch")
    from torchmetrics.classification import (
        MulticlassAccuracy,
        MulticlassConfusionMatrix,
        MulticlassJaccardIndex,
    )

    root, gts, preds = pair
    res = evaluate(*_load(root))
    g = torch.from_numpy(np.stack([gts[k] for k in sorted(gts)]).astype(np.int64))
    p = torch.from_numpy(np.stack([preds[k] for k in sorted(preds)]).astype(np.int64))
    miou = MulticlassJaccardIndex(NUM_CLASSES, ignore_index=255, average="macro")(p, g).item()
    per_class = MulticlassJaccardIndex(NUM_CLASSES, ignore_index=255, average="none")(p, g).numpy()
    acc = MulticlassAccuracy(NUM_CLASSES, ignore_index=255, average="micro")(p, g).item()
    cm = MulticlassConfusionMatrix(NUM_CLASSES, ignore_index=255)(p, g).numpy()

    assert res.metrics["mean_iou"] == pytest.approx(miou, abs=1e-6)
    assert [r["iou"] for r in res.per_class] == pytest.approx(per_class.tolist(), abs=1e-6)
    assert res.metrics["pixel_accuracy"] == pytest.approx(acc, abs=1e-6)
    assert res.confusion_matrix == cm.tolist()
    assert res.metrics["num_pixels"] == sum(int((g != 255).sum()) for g in gts.values())


def test_per_sample_rows_equal_hand_computation(pair):
    root, gts, preds = pair
    gt, pred = _load(root)
    res = evaluate(gt, pred, EvaluationConfig(key="first"))
    assert gt["0001"].metrics["first"]["iou"] == res.per_sample[1]["iou"]  # attached under the run key
    assert [r["id"] for r in res.per_sample] == sorted(gts)
    for row in res.per_sample:
        g, p = gts[row["id"]], preds[row["id"]]
        valid = g != 255
        ious = []
        for c in range(NUM_CLASSES):
            inter = np.sum((g == c) & (p == c) & valid)
            union = np.sum(((g == c) | (p == c)) & valid)
            ious.append(inter / union)
            assert row[f"iou/{res.classes[c]}"] == pytest.approx(inter / union)
        assert row["iou"] == pytest.approx(np.mean(ious))
        assert row["pixel_accuracy"] == pytest.approx(np.mean(g[valid] == p[valid]))
        assert row["missing"] is False
    assert res.metrics["sample_mean_iou"] == pytest.approx(np.mean([r["iou"] for r in res.per_sample]))
    # worst() sorts by per-sample IoU; the noisiest prediction (the last one) is the worst
    assert res.worst(1)[0]["id"] == "0004"


def test_boundary_iou_matches_metrics_module(pair):
    from segscope.metrics.boundary import semantic_boundary_iou

    root, gts, preds = pair
    res = evaluate(*_load(root), EvaluationConfig(boundary=True, dilation_ratio=0.05))
    ref = semantic_boundary_iou(
        np.stack([gts[k] for k in sorted(gts)]),
        np.stack([preds[k] for k in sorted(gts)]),
        NUM_CLASSES,
        dilation_ratio=0.05,
    )
    assert res.metrics["boundary_iou"] == pytest.approx(ref["mean_boundary_iou"])
    assert [r["boundary_iou"] for r in res.per_class] == pytest.approx(ref["boundary_iou"])
    one = semantic_boundary_iou(gts["0002"], preds["0002"], NUM_CLASSES, dilation_ratio=0.05)
    assert res.per_sample[2]["boundary_iou"] == pytest.approx(one["mean_boundary_iou"])


def test_region_breakdown_matches_metrics_module(pair):
    from segscope.metrics.regions import region_errors

    root, gts, preds = pair
    res = evaluate(*_load(root))
    ref = region_errors(
        np.stack([gts[k] for k in sorted(gts)]),
        np.stack([preds[k] for k in sorted(gts)]),
        NUM_CLASSES,
        classes=[1, 2],
        class_names=res.classes,
    )
    keys = ("gt_regions", "pred_regions", "detected", "missed", "false_blobs", "merges", "splits", "small")
    assert {k: res.regions["total"][k] for k in keys} == {k: ref["total"][k] for k in keys}
    assert res.regions["total"]["small"]["gt_regions"] > 0
    assert [r["name"] for r in res.regions["per_class"]] == ["cell", "debris"]  # class 0 is background
    one = region_errors(gts["0003"], preds["0003"], NUM_CLASSES, classes=[1, 2])["total"]
    row = res.per_sample[3]
    assert (row["regions_gt"], row["regions_missed"], row["regions_false"]) == (
        one["gt_regions"],
        one["missed"],
        one["false_blobs"],
    )
    assert evaluate(*_load(root), EvaluationConfig(regions=False)).regions is None


def test_missing_predictions_error_or_empty(tmp_path):
    gts, _ = _write_pair(tmp_path, skip_pred=("0001", "0003"))
    gt, pred = _load(tmp_path)
    with pytest.raises(
        DataError, match=r"2 of 5 gt samples have no prediction \(0001, 0003\).*--missing empty"
    ):
        evaluate(gt, pred)
    res = evaluate(gt, pred, EvaluationConfig(missing="empty"))
    assert res.counts["missing"] == 2 and res.counts["missing_ids"] == ["0001", "0003"]
    row = next(r for r in res.per_sample if r["id"] == "0001")
    assert row["missing"] is True
    # an empty prediction is all background: pixel accuracy = fraction of background pixels
    g = gts["0001"]
    assert row["pixel_accuracy"] == pytest.approx(np.mean(g[g != 255] == 0))
    assert any("scored as empty" in w for w in res.warnings)


def test_size_mismatch_names_both_files(pair):
    root, _, _ = pair
    write_mask(root / "pred" / "masks" / "0002.png", np.zeros((24, 30), np.uint8))
    with pytest.raises(
        DataError, match=r"pred masks/0002\.png is \(24, 30\) but gt masks/0002\.png is \(24, 32\)"
    ):
        evaluate(*_load(root))


def test_unknown_class_ids_in_prediction(pair):
    root, _, _ = pair
    bad = np.zeros((24, 32), np.uint8)
    bad[0, 0] = 7
    write_mask(root / "pred" / "masks" / "0001.png", bad)
    pred = Dataset(
        [
            Sample(s.id, load_mask=s.load_mask, mask_path=s.mask_path)
            for s in load_dataset(root / "pred", classes=ClassMap.default(8))
        ],
        ClassMap.default(8),
        root=root / "pred",
    )
    with pytest.raises(
        DataError, match=r"pred masks/0001\.png has class ids \[7\] but the gt class map has 3 classes"
    ):
        evaluate(load_dataset(root / "gt"), pred)


def test_no_common_ids(pair):
    root, _, _ = pair
    gt = load_dataset(root / "gt")
    other = Dataset([Sample("zzz", load_mask=lambda: np.zeros((24, 32), np.uint8))], gt.class_map)
    with pytest.raises(
        DataError, match="no sample ids in common: gt has 0000, 0001, 0002, 0003, 0004 but pred has zzz"
    ):
        evaluate(gt, other)


def test_extra_predictions_are_counted(pair):
    root, _, _ = pair
    write_mask(root / "pred" / "masks" / "9999.png", np.zeros((24, 32), np.uint8))
    res = evaluate(*_load(root))
    assert res.counts["extra"] == 1 and res.counts["extra_ids"] == ["9999"]
    assert len(res.per_sample) == 5


def test_ece_when_probs_present(tmp_path):
    _write_pair(tmp_path, probs=True, n=3)
    res = evaluate(*_load(tmp_path))
    assert res.calibration is not None
    assert 0.0 <= res.calibration["ece"] <= 1.0
    assert "ece" in res.per_sample[0]


def test_results_round_trip(pair, tmp_path):
    root, _, _ = pair
    res = evaluate(*_load(root), EvaluationConfig(boundary=True, key="run1"))
    again = EvaluationResults.from_dict(res.to_dict())
    assert again.to_dict() == res.to_dict()
    path = tmp_path / "out" / "eval.json"
    res.save(path)
    data = json.loads(path.read_text())  # strict JSON: NaN written as null
    assert data["schema"] == "segscope.evaluation/1" and data["key"] == "run1"
    loaded = EvaluationResults.load(path)
    assert loaded.metrics["mean_iou"] == res.metrics["mean_iou"]
    assert loaded.config == res.config
    assert loaded.per_sample == res.per_sample


def test_nan_survives_save_and_load(tmp_path):
    # class 2 never occurs: its IoU is undefined (NaN) and must come back as NaN, not None
    gt = Dataset([Sample("a", load_mask=lambda: np.array([[0, 1]], np.uint8))], ClassMap.default(3))
    res = evaluate(gt, gt)
    assert math.isnan(res.per_class[2]["iou"])
    res.save(tmp_path / "r.json")
    assert math.isnan(EvaluationResults.load(tmp_path / "r.json").per_class[2]["iou"])


def test_per_sample_csv_one_row_per_sample(pair, tmp_path):
    root, gts, _ = pair
    res = evaluate(*_load(root))
    res.write_per_sample_csv(tmp_path / "rows.csv")
    lines = (tmp_path / "rows.csv").read_text().splitlines()
    assert lines[0].startswith("id,iou,")
    assert len(lines) == 1 + len(gts)


def test_config_validation_and_round_trip():
    with pytest.raises(ParameterError, match="missing='skip' is not one of error, empty"):
        EvaluationConfig(missing="skip")
    with pytest.raises(ParameterError, match="task='panoptic' is not one of semantic, instance"):
        EvaluationConfig(task="panoptic")
    with pytest.raises(ParameterError, match=r"unknown keys \['colour'\]"):
        EvaluationConfig.from_dict({"colour": 1})
    cfg = EvaluationConfig(task="instance", boundary=True, ignore_index=0, dilation_ratio=0.01)
    assert EvaluationConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"schema": "other/1"}')
    with pytest.raises(FormatError, match="schema 'other/1'"):
        EvaluationResults.load(tmp_path / "x.json")


def test_evaluation_does_not_import_torch():
    code = "import sys, segscope.evaluation; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------- instance task
def _discs(rng, n, shape):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cy, cx = rng.uniform(4, shape[0] - 4, n), rng.uniform(4, shape[1] - 4, n)
    r = rng.uniform(2, 9, n)
    return (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2 <= r[:, None, None] ** 2


def _write_instance_pair(root, *, n=4, shape=(48, 64), seed=3):
    """COCO ground truth (``gt.json``) and a prediction folder with ``instances.json`` (scores)."""
    from segscope.core import Instances

    rng = np.random.default_rng(seed)
    images, gt_anns, dt_anns, dt_results = [], [], [], []
    for i in range(n):
        sid = f"img{i}"
        images.append({"id": i + 1, "file_name": f"{sid}.png", "height": shape[0], "width": shape[1]})
        g = _discs(rng, 6, shape)
        labels = rng.integers(1, 3, len(g))
        crowd = np.zeros(len(g), bool)
        crowd[0] = i == 1  # one crowd region
        gi = Instances.from_masks(g, labels, iscrowd=crowd)
        gt_anns += gi.to_coco(i + 1, first_id=len(gt_anns) + 1)
        # detections: shifted copies of most objects, some with the wrong class, plus false positives
        keep = g[rng.random(len(g)) < 0.8]
        shifted = np.roll(keep, rng.integers(-2, 3), axis=2)
        masks = np.concatenate([shifted, _discs(rng, 3, shape)])
        d_labels = np.concatenate([labels[: len(keep)], rng.integers(1, 3, 3)])
        scores = np.round(rng.uniform(0.05, 1.0, len(masks)), 2)
        di = Instances.from_masks(masks, d_labels, scores)
        anns = di.to_coco(i + 1, first_id=len(dt_anns) + 1)
        dt_anns += anns
        dt_results += [{k: a[k] for k in ("image_id", "category_id", "segmentation", "score")} for a in anns]
        write_mask(root / "pred" / "masks" / f"{sid}.png", di.to_semantic())
    cats = [{"id": 1, "name": "cell"}, {"id": 2, "name": "debris"}]
    gt_json = {"images": images, "annotations": gt_anns, "categories": cats}
    (root / "gt.json").write_text(json.dumps(gt_json))
    (root / "pred" / "instances.json").write_text(
        json.dumps({"images": images, "annotations": dt_anns, "categories": cats})
    )
    ClassMap(("background", "cell", "debris")).save(root / "pred" / "classes.yaml")
    return gt_json, dt_results


@pytest.fixture
def instance_pair(tmp_path):
    gt_json, results = _write_instance_pair(tmp_path)
    return tmp_path, gt_json, results


def test_instance_stats_equal_pycocotools(instance_pair):
    import contextlib
    import copy

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    root, gt_json, dt_results = instance_pair
    gt, pred = load_dataset(root / "gt.json"), load_dataset(root / "pred")
    assert gt.task == "instance" and pred.task == "instance"
    res = evaluate(gt, pred)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt_json)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dt_results))
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
    assert [res.instance["stats"][k] for k in names] == pytest.approx(ev.stats.tolist(), abs=1e-12)
    assert res.metrics["AP"] == pytest.approx(ev.stats[0], abs=1e-12)
    # per-class AP: the mean of valid precision of that class (pycocotools' array)
    for k, row in enumerate(res.instance["per_class"]):
        p = ev.eval["precision"][:, :, k, 0, -1]
        assert row["AP"] == pytest.approx(p[p > -1].mean())
    # PR curve at IoU .50 for class 'cell' is the COCO precision row
    assert res.instance["pr_curves"]["iou_0.50"]["cell"] == pytest.approx(
        ev.eval["precision"][0, :, 0, 0, -1].tolist()
    )
    assert res.worst_key == "dsb_score"


def test_instance_dsb_and_per_image(instance_pair):
    from segscope.metrics.instance import dsb_image_scores, dsb_score

    root, _, _ = instance_pair
    gt, pred = load_dataset(root / "gt.json"), load_dataset(root / "pred")
    res = evaluate(gt, pred, EvaluationConfig(boundary=True))
    gmap = {s.id: s.instances for s in gt}
    pmap = {s.id: s.instances for s in pred}
    assert res.metrics["dsb_score"] == pytest.approx(dsb_score(gmap, pmap))
    per_image = dsb_image_scores(gmap, pmap)
    for row in res.per_sample:
        assert row["dsb_score"] == pytest.approx(per_image[row["id"]].mean())
        assert row["num_pred"] == len(pmap[row["id"]])
        assert row["tp50"] + row["fn50"] == row["num_gt"]
    assert res.instance["boundary_stats"]["AP"] <= res.instance["stats"]["AP"] + 1e-12
    assert "boundary_AP" in res.metrics
    # semantic scores of the objects' label maps come along
    assert 0 < res.metrics["mean_iou"] <= 1 and len(res.confusion_matrix) == 3


def test_instance_missing_prediction_counts_as_no_objects(instance_pair):
    root, _, _ = instance_pair
    gt = load_dataset(root / "gt.json")
    pred = load_dataset(root / "pred")
    pred_less = Dataset([s for s in pred if s.id != "img2"], pred.class_map, root=pred.root)
    with pytest.raises(DataError, match=r"1 of 4 gt samples have no prediction \(img2\)"):
        evaluate(gt, pred_less)
    res = evaluate(gt, pred_less, EvaluationConfig(missing="empty"))
    row = next(r for r in res.per_sample if r["id"] == "img2")
    assert row["num_pred"] == 0 and row["dsb_score"] == 0.0 and row["missing"] is True
    assert res.metrics["AP"] < evaluate(gt, pred).metrics["AP"]
