import numpy as np
import pytest

from segscope.errors import DataError, ParameterError
from segscope.metrics.regions import RegionErrors, region_errors


def canvas(h=64, w=64):
    return np.zeros((h, w), np.uint8)


def total(gt, pred, **kw):
    return region_errors(gt, pred, 2, classes=[1], **kw)["total"]


def test_perfect_prediction():
    gt = canvas()
    gt[5:15, 5:15] = 1
    gt[30:40, 30:50] = 1
    t = total(gt, gt)
    assert (t["gt_regions"], t["pred_regions"], t["detected"], t["missed"]) == (2, 2, 2, 0)
    assert (t["false_blobs"], t["merges"], t["splits"], t["recall"]) == (0, 0, 0, 1.0)


def test_one_missed_blob_and_one_false_blob():
    gt = canvas()
    gt[5:15, 5:15] = 1
    gt[30:40, 30:40] = 1
    pred = canvas()
    pred[5:15, 5:15] = 1
    pred[50:55, 2:8] = 1  # nowhere near any gt region
    t = total(gt, pred)
    assert (t["detected"], t["missed"], t["false_blobs"], t["merges"], t["splits"]) == (1, 1, 1, 0, 0)
    assert t["recall"] == 0.5


def test_merge_two_objects_fused():
    gt = canvas()
    gt[10:20, 10:20] = 1
    gt[10:20, 22:32] = 1  # two squares two pixels apart
    pred = canvas()
    pred[10:20, 10:32] = 1  # one blob covering both and the gap
    t = total(gt, pred)
    assert (t["gt_regions"], t["pred_regions"], t["merges"], t["splits"], t["false_blobs"]) == (2, 1, 1, 0, 0)
    # each square has IoU 100/220 < 0.5 with the fused blob: both missed
    assert (t["detected"], t["missed"]) == (0, 2)


def test_split_one_object_in_two():
    gt = canvas()
    gt[10:20, 10:40] = 1
    pred = canvas()
    pred[10:20, 10:24] = 1
    pred[10:20, 26:40] = 1
    t = total(gt, pred)
    assert (t["gt_regions"], t["pred_regions"], t["splits"], t["merges"]) == (1, 2, 1, 0)
    assert (t["detected"], t["missed"]) == (0, 1)  # best piece has IoU 140/300


def test_detection_threshold_and_part_rule():
    gt = canvas()
    gt[10:20, 10:20] = 1  # 100 px
    pred = canvas()
    pred[10:20, 10:15] = 1  # 50 px inside: IoU exactly 0.5 -> detected
    assert total(gt, pred)["detected"] == 1
    assert total(gt, pred, iou_threshold=0.6)["detected"] == 0
    pred[10:20, 15:16] = 0
    pred[30:33, 30:33] = 1
    assert total(gt, pred)["false_blobs"] == 1


def test_recall_by_size_and_per_class():
    gt = np.zeros((300, 300), np.uint8)
    gt[0:10, 0:10] = 1  # small (100)
    gt[20:60, 20:60] = 1  # medium (1600)
    gt[100:200, 100:200] = 1  # large (10000)
    gt[250:260, 250:260] = 2  # small, class 2
    pred = gt.copy()
    pred[20:60, 20:60] = 0  # medium missed
    res = region_errors(gt, pred, 3, classes=[1, 2], class_names=["bg", "a", "b"])
    a, b = res["per_class"]
    assert a["name"] == "a" and b["class"] == 2
    assert a["small"] == {"gt_regions": 1, "detected": 1, "recall": 1.0}
    assert a["medium"]["gt_regions"] == 1 and a["medium"]["detected"] == 0 and a["medium"]["recall"] == 0.0
    assert a["large"]["recall"] == 1.0
    assert b["gt_regions"] == 1 and b["detected"] == 1 and np.isnan(b["medium"]["recall"])
    assert res["total"]["small"]["gt_regions"] == 2
    assert res["aggregation"]["size_bins"] == [1024, 9216]


def test_size_bin_edges_follow_coco():
    gt = np.zeros((200, 200), np.uint8)
    gt[0:32, 0:32] = 1  # area exactly 32**2 -> medium
    gt[100:196, 100:196] = 1  # area exactly 96**2 -> large
    t = total(gt, gt)
    assert (t["small"]["gt_regions"], t["medium"]["gt_regions"], t["large"]["gt_regions"]) == (0, 1, 1)


def test_ignore_and_connectivity_and_streaming():
    gt = canvas()
    gt[40:50, 40:50] = 255
    pred = canvas()
    pred[40:50, 40:50] = 1  # predicted only on ignored pixels: not a false blob
    assert total(gt, pred)["pred_regions"] == 0

    diag = canvas(8, 8)
    diag[2, 2] = diag[3, 3] = 1
    assert total(diag, diag)["gt_regions"] == 1
    assert total(diag, diag, connectivity=4)["gt_regions"] == 2

    a, b = RegionErrors(2, classes=[1]), RegionErrors(2, classes=[1])
    batch_gt = np.stack([diag, diag])
    a.update(batch_gt[0], batch_gt[0])
    b.update(batch_gt[1], batch_gt[1])
    a.merge(b)
    whole = RegionErrors(2, classes=[1])
    whole.update(batch_gt, batch_gt)
    for key in whole.counts:
        np.testing.assert_array_equal(a.counts[key], whole.counts[key])
    np.testing.assert_array_equal(a.size_gt, whole.size_gt)
    assert whole.compute()["total"]["gt_regions"] == 2 and whole.num_samples == 2


def test_errors():
    with pytest.raises(ParameterError, match=r"classes \[5\] are outside 0..1"):
        RegionErrors(2, classes=[5])
    with pytest.raises(ParameterError, match="connectivity=6 must be 4 or 8"):
        RegionErrors(2, connectivity=6)
    with pytest.raises(DataError, match=r"gt has shape \(4, 4\) but pred has shape \(4, 5\)"):
        RegionErrors(2).update(np.zeros((4, 4), int), np.zeros((4, 5), int))
    with pytest.raises(ParameterError, match="cannot merge RegionErrors"):
        RegionErrors(2).merge(RegionErrors(2, connectivity=4))
