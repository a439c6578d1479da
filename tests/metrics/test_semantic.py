import csv

import numpy as np
import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MulticlassPrecision,
    MulticlassRecall,
    MulticlassStatScores,
)

from segscope.errors import DataError, ParameterError
from segscope.metrics.semantic import (
    ConfusionMatrix,
    SampleScores,
    confusion_matrix,
    per_sample_scores,
    semantic_scores,
)

# (shape, num_classes, dtype); values are drawn from fewer classes than C sometimes, so that
# some classes are absent from gt, pred or both.
CASES = [
    ((17, 23), 2, np.uint8),
    ((40, 31), 3, np.int64),
    ((3, 32, 48), 7, np.uint8),
    ((2, 64, 64), 21, np.uint8),
    ((2, 30, 30), 21, np.int32),
    ((50, 50), 5, np.uint16),
]


def make_pair(seed: int, shape, c: int, dtype, ignore: int | None = 255):
    """Label maps with ignore pixels; depending on the seed, the last class is absent from gt,
    from pred or from both, and class 1 is never predicted."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, c - 1 if seed % 2 == 0 else c, shape).astype(dtype)
    pred = gt.copy()
    flip = rng.random(shape) < 0.35
    pred[flip] = rng.integers(0, c if seed % 3 == 0 else c - 1, int(flip.sum()))
    if seed % 2 == 1 and c > 2:
        pred[pred == 1] = 0
    if ignore is not None:
        gt[rng.random(shape) < 0.08] = ignore
    return gt, pred


def test_cases_cover_absent_classes():
    kinds = set()
    for seed, (shape, c, dtype) in enumerate(CASES):
        m = confusion_matrix(*make_pair(seed, shape, c, dtype), c)
        g, p = m.sum(1) > 0, m.sum(0) > 0
        kinds |= {"neither"} if (~g & ~p).any() else set()
        kinds |= {"gt only"} if (g & ~p).any() else set()
        kinds |= {"pred only"} if (~g & p).any() else set()
    assert kinds == {"neither", "gt only", "pred only"}


def reference_counts(gt, pred, c, ignore=255):
    """Independent float64 reference: counts from boolean masks, no bincount."""
    valid = gt != ignore if ignore is not None else np.ones(gt.shape, bool)
    m = np.zeros((c, c), np.int64)
    for i in range(c):
        for j in range(c):
            m[i, j] = np.count_nonzero(valid & (gt == i) & (pred == j))
    return m


def tm(metric_cls, c, **kw):
    return metric_cls(num_classes=c, ignore_index=255, **kw)


def run_tm(metric, gt, pred):
    metric.update(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(gt.astype(np.int64)))
    return metric.compute().numpy()


@pytest.mark.parametrize("seed,case", list(enumerate(CASES)))
def test_confusion_matrix_equals_references(seed, case):
    shape, c, dtype = case
    gt, pred = make_pair(seed, shape, c, dtype)
    ours = confusion_matrix(gt, pred, c)
    assert ours.dtype == np.int64 and ours.shape == (c, c)
    np.testing.assert_array_equal(ours, reference_counts(gt, pred, c))
    np.testing.assert_array_equal(ours, run_tm(tm(MulticlassConfusionMatrix, c), gt, pred))


@pytest.mark.parametrize("seed,case", list(enumerate(CASES)))
def test_semantic_scores_equal_torchmetrics(seed, case):
    shape, c, dtype = case
    gt, pred = make_pair(seed, shape, c, dtype)
    m = confusion_matrix(gt, pred, c)
    s = semantic_scores(m)
    present = (m.sum(0) + m.sum(1)) > 0

    # torchmetrics' integer states are the same counts, exactly.
    tp, fp, _, fn, _ = run_tm(tm(MulticlassStatScores, c, average="none"), gt, pred).T
    np.testing.assert_array_equal(tp, np.diag(m))
    np.testing.assert_array_equal(fp, m.sum(0) - np.diag(m))
    np.testing.assert_array_equal(fn, m.sum(1) - np.diag(m))

    # torchmetrics 1.9 divides in float32 (`confmat.float()`, `_safe_divide`), so its per-class
    # values equal ours rounded to float32, exactly (division is correctly rounded and float64
    # -> float32 double rounding of a quotient is innocuous). With zero_division=0 (its
    # default) undefined values are 0, as with our absent="zero"; with absent="nan" they are
    # NaN exactly where torchmetrics' denominator is 0.
    denominators = {"iou": tp + fp + fn, "dice": 2 * tp + fp + fn, "precision": tp + fp, "recall": tp + fn}
    sz = semantic_scores(m, absent="zero")
    for key, cls in [
        ("iou", MulticlassJaccardIndex),
        ("dice", MulticlassF1Score),
        ("precision", MulticlassPrecision),
        ("recall", MulticlassRecall),
    ]:
        theirs = run_tm(tm(cls, c, average="none"), gt, pred)
        np.testing.assert_array_equal(np.float32(sz[key]), theirs, err_msg=key)
        undefined = denominators[key] == 0
        np.testing.assert_array_equal(np.isnan(s[key]), undefined, err_msg=key)
        np.testing.assert_array_equal(np.float32(s[key])[~undefined], theirs[~undefined], err_msg=key)
    theirs_nan = run_tm(tm(MulticlassJaccardIndex, c, average="none", zero_division=float("nan")), gt, pred)
    np.testing.assert_array_equal(np.float32(s["iou"]), theirs_nan)

    # Macro means: IoU and Dice are undefined only for classes absent from both, which
    # torchmetrics drops from its macro mean; so they agree under both absent rules.
    # torchmetrics averages in float32: compare to float32 precision.
    for absent in ("nan", "zero"):
        sa = semantic_scores(m, absent=absent)
        for key, cls in [("mean_iou", MulticlassJaccardIndex), ("mean_dice", MulticlassF1Score)]:
            assert sa[key] == pytest.approx(
                float(run_tm(tm(cls, c, average="macro"), gt, pred)), rel=1e-6, abs=0
            )
    # Precision/recall macro: torchmetrics (zero_division=0) counts a class predicted but absent
    # from gt as recall 0; that is absent="zero".
    for key, cls in [("mean_precision", MulticlassPrecision), ("mean_recall", MulticlassRecall)]:
        assert sz[key] == pytest.approx(float(run_tm(tm(cls, c, average="macro"), gt, pred)), rel=1e-6, abs=0)
    assert sz["mean_accuracy"] == pytest.approx(
        float(run_tm(tm(MulticlassAccuracy, c, average="macro"), gt, pred)), rel=1e-6, abs=0
    )
    # absent="nan" averages torchmetrics' per-class values over the classes where they are defined.
    for key, cls in [("mean_precision", MulticlassPrecision), ("mean_recall", MulticlassRecall)]:
        per = run_tm(tm(cls, c, average="none"), gt, pred).astype(np.float64)
        defined = present & (denominators[key[5:]] > 0)
        assert s[key] == pytest.approx(per[defined].mean(), rel=1e-6, abs=0)

    assert np.float32(s["pixel_accuracy"]) == run_tm(tm(MulticlassAccuracy, c, average="micro"), gt, pred)
    assert s["fw_iou"] == pytest.approx(
        float(run_tm(tm(MulticlassJaccardIndex, c, average="weighted"), gt, pred)), rel=1e-6, abs=0
    )


@pytest.mark.parametrize("seed,case", list(enumerate(CASES)))
def test_semantic_scores_equal_float64_reference(seed, case):
    shape, c, dtype = case
    gt, pred = make_pair(seed, shape, c, dtype)
    s = semantic_scores(confusion_matrix(gt, pred, c))
    valid = gt != 255
    ious, dices, precs, recs, weighted = [], [], [], [], 0.0
    for k in range(c):
        g, p = (gt == k) & valid, (pred == k) & valid
        inter, uni = np.count_nonzero(g & p), np.count_nonzero(g | p)
        ng, npred = np.count_nonzero(g), np.count_nonzero(p)
        ious.append(inter / uni if uni else np.nan)
        dices.append(2 * inter / (ng + npred) if ng + npred else np.nan)
        precs.append(inter / npred if npred else np.nan)
        recs.append(inter / ng if ng else np.nan)
        weighted += ng * (inter / uni) if ng else 0.0
    np.testing.assert_allclose(s["iou"], ious, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s["dice"], dices, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s["precision"], precs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s["recall"], recs, rtol=0, atol=1e-12)
    assert s["mean_iou"] == pytest.approx(np.nanmean(ious), abs=1e-12)
    assert s["mean_dice"] == pytest.approx(np.nanmean(dices), abs=1e-12)
    assert s["mean_accuracy"] == pytest.approx(np.nanmean(recs), abs=1e-12)
    assert s["pixel_accuracy"] == pytest.approx(
        np.count_nonzero(valid & (gt == pred)) / valid.sum(), abs=1e-12
    )
    assert s["fw_iou"] == pytest.approx(weighted / valid.sum(), abs=1e-12)
    assert s["aggregation"] == {"pooled": True, "ignore_index": 255, "absent": "nan"}


def test_confusion_matrix_accumulator_update_merge_probs():
    c = 4
    gt, pred = make_pair(10, (4, 20, 24), c, np.uint8)
    whole = confusion_matrix(gt, pred, c)

    cm = ConfusionMatrix(c, class_names=["a", "b", "c", "d"])
    cm.update(gt[:2], pred[:2])
    other = ConfusionMatrix(c)
    other.update(gt[2], pred[2])
    rng = np.random.default_rng(0)
    probs = rng.random((20, 24, c)).astype(np.float32)
    probs[np.arange(20)[:, None], np.arange(24)[None], pred[3]] += 2  # arg-max is pred[3]
    other.update(gt[3], probs / probs.sum(-1, keepdims=True))
    cm.merge(other)
    np.testing.assert_array_equal(cm.matrix, whole)
    res = cm.compute()
    assert res["classes"] == ["a", "b", "c", "d"] and res["num_samples"] == 4
    assert res["mean_iou"] == semantic_scores(whole)["mean_iou"]
    cm.reset()
    assert cm.matrix.sum() == 0 and cm.num_samples == 0
    with pytest.raises(ParameterError, match="cannot merge a ConfusionMatrix with num_classes=5"):
        cm.merge(ConfusionMatrix(5))


def test_ignore_index_variants():
    gt = np.array([[0, 1, 2, 2]], np.uint8)
    pred = np.array([[0, 1, 1, 2]], np.uint8)
    np.testing.assert_array_equal(
        confusion_matrix(gt, pred, 3, ignore_index=2), [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    )
    np.testing.assert_array_equal(confusion_matrix(gt, pred, 3, ignore_index=None).sum(), 4)
    np.testing.assert_array_equal(
        confusion_matrix(gt.astype(np.int64), pred, 3, ignore_index=2),
        confusion_matrix(gt, pred, 3, ignore_index=2),
    )
    assert confusion_matrix(np.full((3, 3), 255, np.uint8), np.zeros((3, 3), np.uint8), 2).sum() == 0


def test_error_messages():
    gt = np.zeros((4, 4), np.uint8)
    with pytest.raises(
        DataError, match=r"pred contains value 7 outside the classes 0..2; check num_classes=3"
    ):
        confusion_matrix(gt, np.full((4, 4), 7, np.uint8), 3)
    with pytest.raises(DataError, match=r"pred contains value -1 outside"):
        confusion_matrix(gt, np.full((4, 4), -1, np.int64), 3)
    bad = gt.copy()
    bad[0, 0] = 9
    for dtype in (np.uint8, np.int64):
        with pytest.raises(
            DataError, match=r"gt contains value 9 outside the classes 0..2 and it is not ignore_index=255"
        ):
            confusion_matrix(bad.astype(dtype), gt, 3)
    with pytest.raises(DataError, match=r"gt has shape \(4, 4\) but pred has shape \(4, 5\)"):
        confusion_matrix(gt, np.zeros((4, 5), np.uint8), 3)
    with pytest.raises(DataError, match=r"probs have 2 classes in the last axis but num_classes=3"):
        confusion_matrix(gt, np.full((4, 4, 2), 0.5), 3)
    with pytest.raises(DataError, match="gt has dtype float64; pass integer class ids"):
        confusion_matrix(gt.astype(float), gt, 3)
    with pytest.raises(ParameterError, match="num_classes=0 must be a positive integer"):
        ConfusionMatrix(0)
    with pytest.raises(ParameterError, match="absent='skip' is not one of nan, zero"):
        semantic_scores(np.eye(2, dtype=np.int64), absent="skip")
    with pytest.raises(DataError, match=r"confusion matrix must be square \(C, C\), got shape \(2, 3\)"):
        semantic_scores(np.zeros((2, 3)))


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
def test_per_sample_scores_and_accumulator(tmp_path):
    c = 3
    gt, pred = make_pair(4, (5, 16, 16), c, np.uint8)
    rows = per_sample_scores(gt, pred, c)
    assert len(rows) == 5
    for i, row in enumerate(rows):
        s = semantic_scores(confusion_matrix(gt[i], pred[i], c))
        assert row["mean_iou"] == s["mean_iou"]
        np.testing.assert_array_equal(row["iou"], s["iou"])
        assert row["pixel_accuracy"] == s["pixel_accuracy"]

    acc = SampleScores(c, class_names=["bg", "a", "b"])
    acc.update(gt[:3], pred[:3], sample_id=["x", "y", "z"])
    acc.update(gt[3], pred[3], sample_id="w")
    acc.update(gt[4], pred[4])
    assert [r["id"] for r in acc.rows] == ["x", "y", "z", "w", "4"]
    res = acc.compute()
    assert res["mean_iou"] == pytest.approx(np.mean([r["mean_iou"] for r in rows]), abs=1e-15)
    per_class = np.array([r["iou"] for r in rows])
    np.testing.assert_allclose(res["iou"], np.nanmean(per_class, axis=0), atol=1e-15)
    assert res["aggregation"]["pooled"] is False
    np.testing.assert_array_equal(acc.confusion.matrix, confusion_matrix(gt, pred, c))
    worst = acc.worst(2)
    assert worst[0]["mean_iou"] == min(r["mean_iou"] for r in rows)

    out = tmp_path / "scores.csv"
    acc.to_csv(out)
    with open(out) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 5 and table[0]["id"] == "x"
    assert float(table[1]["iou/a"]) == pytest.approx(rows[1]["iou"][1])
    with pytest.raises(ParameterError, match="got 1 sample ids for 2 images"):
        acc.update(gt[:2], pred[:2], sample_id=["only"])


def test_per_image_mean_differs_from_pooled():
    # One big image done well and one small image done badly: pooled favours the big one.
    big_gt = np.zeros((20, 20), np.uint8)
    big_gt[:, 10:] = 1
    small_gt = np.array([[0, 1]], np.uint8)
    acc = SampleScores(2)
    acc.update(big_gt, big_gt)
    acc.update(small_gt, np.array([[1, 0]], np.uint8))
    assert acc.compute()["mean_iou"] == 0.5
    assert acc.confusion.compute()["mean_iou"] == pytest.approx(200 / 202)


def test_metric_registry_keys_exist_in_results():
    from segscope.metrics import METRICS, BoundaryIoU, CalibrationError, RegionErrors

    gt, pred = make_pair(7, (16, 16), 3, np.uint8)
    probs = np.full((16, 16, 3), 1 / 3)
    results = {"confusion": ConfusionMatrix(3), "boundary": BoundaryIoU(3), "regions": RegionErrors(3)}
    for acc in results.values():
        acc.update(gt, pred)
    cal = CalibrationError()
    cal.update(gt, probs)
    computed = {k: v.compute() for k, v in results.items()}
    computed["calibration"] = cal.compute()
    computed["regions"] = computed["regions"]["total"]
    assert len(METRICS) >= 7
    for name in METRICS:
        spec = METRICS.get(name)
        assert spec.key in computed[spec.source], name
        assert spec.per_class_key is None or len(computed[spec.source][spec.per_class_key]) == 3
    assert METRICS.get("mIoU").name == "iou" and METRICS.get("f1").name == "dice"
    with pytest.raises(ParameterError, match="unknown metric 'ioux' \\(did you mean 'iou'\\?\\)"):
        METRICS.get("ioux")


def test_metrics_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, segscope.metrics; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
