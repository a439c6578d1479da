import cv2
import numpy as np
import pytest

from segscope.errors import DataError, ParameterError
from segscope.metrics.boundary import (
    BoundaryIoU,
    boundary_iou,
    boundary_width,
    mask_to_boundary,
    semantic_boundary_iou,
)


def reference_mask_to_boundary(mask: np.ndarray, dilation_ratio: float = 0.02) -> np.ndarray:
    """The construction of the Boundary IoU authors' code (boundary_iou/utils/boundary_utils.py)."""
    h, w = mask.shape
    img_diag = np.sqrt(h**2 + w**2)
    dilation = int(round(dilation_ratio * img_diag))
    if dilation < 1:
        dilation = 1
    new_mask = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    kernel = np.ones((3, 3), dtype=np.uint8)
    new_mask_erode = cv2.erode(new_mask, kernel, iterations=dilation)
    mask_erode = new_mask_erode[1 : h + 1, 1 : w + 1]
    return mask - mask_erode


def reference_boundary_iou(gt: np.ndarray, dt: np.ndarray, dilation_ratio: float = 0.02) -> float:
    gb = reference_mask_to_boundary(gt, dilation_ratio)
    db = reference_mask_to_boundary(dt, dilation_ratio)
    return ((gb * db) > 0).sum() / ((gb + db) > 0).sum()


def random_mask(rng: np.random.Generator, h: int, w: int, kind: int) -> np.ndarray:
    if kind == 0:  # salt and pepper
        return (rng.random((h, w)) < 0.7).astype(np.uint8)
    if kind == 1:  # a rectangle, often touching the border
        m = np.zeros((h, w), np.uint8)
        r0, c0 = rng.integers(0, h), rng.integers(0, w)
        m[r0 : r0 + rng.integers(1, h + 1), c0 : c0 + rng.integers(1, w + 1)] = 1
        return m
    if kind == 2:
        return np.ones((h, w), np.uint8)
    if kind == 3:
        return np.zeros((h, w), np.uint8)
    blurred = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 3)
    return (blurred > np.median(blurred)).astype(np.uint8)


def test_mask_to_boundary_equals_reference_on_many_masks():
    rng = np.random.default_rng(0)
    for i in range(1500):
        h, w = (int(v) for v in rng.integers(1, 100, 2))
        m = random_mask(rng, h, w, i % 5)
        ratio = (0.02, 0.05, 0.1, 0.005)[i % 4]
        expected = reference_mask_to_boundary(m, ratio) != 0
        got = mask_to_boundary(m, dilation_ratio=ratio)
        assert got.dtype == bool
        np.testing.assert_array_equal(got, expected, err_msg=f"mask {i} ({h}x{w}, ratio {ratio})")


def test_mask_to_boundary_large_mask_and_dtypes():
    rng = np.random.default_rng(1)
    m = random_mask(rng, 300, 257, 4)
    expected = reference_mask_to_boundary(m) != 0
    for variant in (m, m.astype(bool), m * 255, m.astype(np.int32)):
        np.testing.assert_array_equal(mask_to_boundary(variant), expected)


def test_mask_to_boundary_border_and_extremes():
    full = np.ones((40, 40), np.uint8)
    b = mask_to_boundary(full)
    d = boundary_width(full.shape)
    assert d == 1
    # Outside the image counts as background: a full mask has a frame of width d.
    assert b[0].all() and b[:, 0].all() and not b[d:-d, d:-d].any()
    assert not mask_to_boundary(np.zeros((40, 40), np.uint8)).any()


def test_repeated_3x3_erosion_equals_square_erosion():
    rng = np.random.default_rng(2)
    m = random_mask(rng, 64, 64, 4)
    for d in (1, 2, 5):
        repeated = cv2.erode(
            m, np.ones((3, 3), np.uint8), iterations=d, borderType=cv2.BORDER_CONSTANT, borderValue=0
        )
        square = cv2.erode(
            m, np.ones((2 * d + 1, 2 * d + 1), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
        )
        np.testing.assert_array_equal(repeated, square)


def test_boundary_width():
    assert boundary_width((512, 512)) == round(0.02 * np.hypot(512, 512))
    assert boundary_width((10, 10)) == 1
    with pytest.raises(ParameterError, match="dilation_ratio=-1 must be a positive number"):
        boundary_width((10, 10), dilation_ratio=-1)


def test_boundary_iou_equals_reference():
    rng = np.random.default_rng(3)
    for i in range(200):
        h, w = (int(v) for v in rng.integers(5, 80, 2))
        g = random_mask(rng, h, w, (1, 4)[i % 2])
        p = random_mask(rng, h, w, (4, 1, 0)[i % 3])
        ref = reference_boundary_iou(g, p)
        assert boundary_iou(g, p) == pytest.approx(ref, abs=1e-15)


def test_boundary_iou_empty_is_nan_and_errors():
    z = np.zeros((8, 8), bool)
    assert np.isnan(boundary_iou(z, z))
    with pytest.raises(DataError, match=r"gt has shape \(8, 8\) but pred has shape \(8, 9\)"):
        boundary_iou(z, np.zeros((8, 9), bool))
    with pytest.raises(DataError, match=r"mask must be a 2-D \(H, W\) mask, got shape \(2, 8, 8\)"):
        mask_to_boundary(np.zeros((2, 8, 8)))


def test_semantic_boundary_iou_matches_per_class_reference():
    rng = np.random.default_rng(4)
    c = 4
    gts, preds = [], []
    inter = np.zeros(c)
    union = np.zeros(c)
    for _ in range(5):
        gt = cv2.resize(
            rng.integers(0, c, (6, 6)).astype(np.uint8), (48, 40), interpolation=cv2.INTER_NEAREST
        )
        pred = gt.copy()
        pred[rng.random(gt.shape) < 0.1] = rng.integers(0, c)
        gt[rng.random(gt.shape) < 0.05] = 255
        gts.append(gt)
        preds.append(pred)
        valid = gt != 255
        for k in range(c):
            gb = reference_mask_to_boundary((gt == k).astype(np.uint8)) != 0
            pb = reference_mask_to_boundary((pred == k).astype(np.uint8)) != 0
            inter[k] += (gb & pb & valid).sum()
            union[k] += ((gb | pb) & valid).sum()
    res = semantic_boundary_iou(np.stack(gts), np.stack(preds), c)
    np.testing.assert_allclose(res["boundary_iou"], inter / union, rtol=0, atol=1e-15)
    assert res["mean_boundary_iou"] == pytest.approx(np.mean(inter / union), abs=1e-15)
    assert res["num_samples"] == 5

    a, b = BoundaryIoU(c), BoundaryIoU(c)
    for i, (g, p) in enumerate(zip(gts, preds, strict=True)):
        (a if i % 2 else b).update(g, p)
    a.merge(b)
    assert a.compute()["boundary_iou"] == res["boundary_iou"]


def test_semantic_boundary_iou_absent_class_and_errors():
    gt = np.zeros((16, 16), np.uint8)
    gt[4:12, 4:12] = 1
    res = semantic_boundary_iou(gt, gt, 3)
    assert res["boundary_iou"][:2] == [1.0, 1.0] and np.isnan(res["boundary_iou"][2])
    assert res["mean_boundary_iou"] == 1.0
    with pytest.raises(DataError, match="pred contains class 3 outside 0..2"):
        semantic_boundary_iou(gt, gt + 2, 3)
    with pytest.raises(ParameterError, match="num_classes=0 must be a positive integer"):
        BoundaryIoU(0)
