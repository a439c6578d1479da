import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassCalibrationError

from segscope.errors import DataError, ParameterError
from segscope.metrics.calibration import CalibrationError, expected_calibration_error


def make_data(seed: int, n: int, h: int, w: int, c: int):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, h, w, c)) * 3
    probs = np.exp(logits)
    probs /= probs.sum(-1, keepdims=True)
    probs = probs.astype(np.float32)
    probs[0, :4, :4] = 0
    probs[0, :4, :4, 1] = 1  # saturated pixels: confidence exactly 1
    gt = rng.integers(0, c, (n, h, w))
    right = rng.random(gt.shape) < 0.6
    gt[right] = probs.argmax(-1)[right]
    gt[rng.random(gt.shape) < 0.1] = 255
    return gt, probs


def reference_ece(gt, probs, n_bins=15):
    """Float64 reference with explicit per-bin loops: bins [k/n, (k+1)/n) plus {1.0}."""
    valid = gt != 255
    conf = probs.max(-1)[valid].astype(np.float64)
    correct = (probs.argmax(-1) == gt)[valid]
    total, mce = 0.0, 0.0
    for k in range(n_bins + 1):
        lo, hi = k / n_bins, (k + 1) / n_bins
        in_bin = (conf >= lo) & (conf < hi) if k < n_bins else conf == 1.0
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - conf[in_bin].mean())
            total += in_bin.sum() * gap
            mce = max(mce, gap)
    return total / valid.sum(), mce


@pytest.mark.parametrize("seed,shape", [(0, (3, 40, 50, 5)), (1, (2, 16, 16, 2)), (2, (1, 64, 48, 21))])
def test_ece_equals_torchmetrics_and_reference(seed, shape):
    gt, probs = make_data(seed, *shape)
    c = shape[-1]
    ce = CalibrationError(n_bins=15)
    ce.update(gt, probs)
    res = ce.compute()
    ref_ece, ref_mce = reference_ece(gt, probs)
    assert res["ece"] == pytest.approx(ref_ece, abs=1e-12)
    assert res["mce"] == pytest.approx(ref_mce, abs=1e-12)
    assert res["num_pixels"] == int((gt != 255).sum())

    l1 = MulticlassCalibrationError(c, n_bins=15, norm="l1", ignore_index=255)
    mx = MulticlassCalibrationError(c, n_bins=15, norm="max", ignore_index=255)
    for g, p in zip(gt, probs, strict=True):
        tp, tg = torch.from_numpy(p).permute(2, 0, 1)[None], torch.from_numpy(g)[None]
        l1.update(tp, tg)
        mx.update(tp, tg)
    # torchmetrics accumulates in float32.
    assert res["ece"] == pytest.approx(l1.compute().item(), rel=1e-5)
    assert res["mce"] == pytest.approx(mx.compute().item(), rel=1e-5)


def test_streaming_merge_and_function():
    gt, probs = make_data(3, 4, 20, 20, 3)
    whole = CalibrationError()
    whole.update(gt, probs)
    a, b = CalibrationError(), CalibrationError()
    a.update(gt[0], probs[0])
    b.update(gt[1:], probs[1:])
    a.merge(b)
    assert a.count.tolist() == whole.count.tolist()
    assert a.compute()["ece"] == pytest.approx(whole.compute()["ece"], abs=1e-15)
    assert expected_calibration_error(gt, probs) == pytest.approx(whole.compute()["ece"], abs=1e-15)
    bins = whole.compute()["bins"]
    assert len(bins["count"]) == 16 and bins["lower"][-1] == 1.0
    assert sum(bins["count"]) == whole.compute()["num_pixels"]


def test_perfectly_calibrated_and_all_ignored():
    gt = np.zeros((2, 2), np.uint8)
    probs = np.zeros((2, 2, 2))
    probs[..., 0] = 1.0
    assert expected_calibration_error(gt, probs) == 0.0
    assert np.isnan(expected_calibration_error(np.full((2, 2), 255), probs))


def test_errors():
    probs = np.full((2, 2, 2), 0.5)
    with pytest.raises(ParameterError, match="n_bins=0 must be a positive integer"):
        CalibrationError(n_bins=0)
    with pytest.raises(DataError, match=r"gt has shape \(3, 2\) and probs \(2, 2, 2\)"):
        expected_calibration_error(np.zeros((3, 2), int), probs)
    with pytest.raises(DataError, match="gt contains value 4 outside the classes 0..1 of probs"):
        expected_calibration_error(np.full((2, 2), 4), probs)
    with pytest.raises(DataError, match="outside \\[0, 1\\]; apply softmax to logits first"):
        expected_calibration_error(np.zeros((2, 2), int), probs * 4)
    with pytest.raises(ParameterError, match="cannot merge a CalibrationError with n_bins=10"):
        CalibrationError().merge(CalibrationError(n_bins=10))
