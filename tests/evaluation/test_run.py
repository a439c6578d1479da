"""Evaluation runs: numbers against torchmetrics / hand computation, alignment errors, round trips."""

from __future__ import annotations

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
    res = evaluate(*_load(root))
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
