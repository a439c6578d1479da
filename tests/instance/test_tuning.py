import numpy as np
import pytest
from scipy import ndimage
from skimage.segmentation import expand_labels

from segscope.core.instances import Instances
from segscope.errors import DataError, ParameterError
from segscope.instance import fg_boundary_target, grid_search, probs_to_instances, tune_postprocess
from segscope.metrics.instance import dsb_score


def _disks(seed, size=64, n=6):
    """Seeded id map of non-overlapping disks of radius 5-8 (some touching)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    ids = np.zeros((size, size), np.int32)
    for k in range(1, n + 1):
        r = int(rng.integers(5, 9))
        cy, cx = rng.integers(r, size - r, 2)
        ids[((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (ids == 0)] = k
    return ids


def _one_hot(target):
    return np.eye(3, dtype=np.float32)[target]


def _keep_large(inst, *, min_area):
    return inst[np.flatnonzero(inst.areas >= min_area)]


def test_grid_search_scores_every_combination_like_dsb_score():
    gt = {i: Instances.from_id_map(_disks(i)) for i in range(3)}
    # Predictions: the ground truth plus 2-px specks; dropping small objects removes the specks.
    noisy = {}
    for i, g in gt.items():
        ids = g.to_id_map(np.int32)
        ids[0:2, 0:2] = ids.max() + 1
        noisy[i] = Instances.from_id_map(ids)
    result = grid_search(_keep_large, noisy, gt, grid={"min_area": [1, 5, 8, 400]})
    assert [row["min_area"] for row in result.table] == [1, 5, 8, 400]
    for row in result.table:
        expected = dsb_score(gt, {i: _keep_large(x, min_area=row["min_area"]) for i, x in noisy.items()})
        assert row["score"] == pytest.approx(expected)
    # 5 and 8 both drop only the 4-px speck (the smallest object has 9 px): a tie goes to the first in grid order.
    assert result.params == {"min_area": 5} and result.score == pytest.approx(1.0)
    assert result.table[0]["score"] < 1.0 and result.table[3]["score"] < result.score
    md = result.to_markdown()
    assert md.splitlines()[0] == "| min_area | dsb | chosen |"
    assert "| 5 | 1.000 | * |" in md and md.count("*") == 1
    assert result.to_dict()["params"] == {"min_area": 5}


def test_grid_search_custom_metric_and_product_order():
    gt = {0: Instances.from_id_map(_disks(0))}
    calls = []

    def predict(x, *, a, b):
        calls.append((a, b))
        return x

    def count(g, p):
        return float(len(calls))

    result = grid_search(predict, gt, gt, grid={"a": [1, 2], "b": ["x", "y"]}, metric=count)
    assert calls == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert result.metric == "count" and result.params == {"a": 2, "b": "y"}


def test_tune_postprocess_finds_the_shrink_of_too_wide_objects():
    ids = {i: _disks(i) for i in range(4)}
    gt = {i: Instances.from_id_map(v) for i, v in ids.items()}
    exact = {i: _one_hot(fg_boundary_target(v)) for i, v in ids.items()}
    # A model whose objects come out one pixel too wide everywhere.
    wide = {i: _one_hot(fg_boundary_target(expand_labels(v, 1))) for i, v in ids.items()}
    grid = {"shrink": [0, 1, 2]}
    assert tune_postprocess(exact, gt, grid=grid).params == {"shrink": 0}
    result = tune_postprocess(wide, gt, grid=grid)
    assert result.params == {"shrink": 1}
    by_shrink = {row["shrink"]: row["score"] for row in result.table}
    assert by_shrink[1] > by_shrink[0] and by_shrink[1] > by_shrink[2]
    reference = dsb_score(gt, {i: probs_to_instances(p, shrink=1).instances for i, p in wide.items()})
    assert result.score == pytest.approx(reference)


def test_tune_postprocess_default_grid_and_thresholds():
    ids = _disks(5)
    gt = {"a": Instances.from_id_map(ids)}
    # Blurred one-hot probabilities: thresholds now matter.
    probs = _one_hot(fg_boundary_target(ids, width=2))
    probs = np.stack([ndimage.gaussian_filter(probs[..., c], 1.0) for c in range(3)], axis=-1)
    result = tune_postprocess({"a": probs}, gt, min_size=5)
    assert len(result.table) == 32
    assert set(result.params) == {"marker_threshold", "fg_threshold", "shrink"}
    assert result.score == max(row["score"] for row in result.table)
    assert result.score > 0.5


def test_errors():
    gt = {0: Instances.from_id_map(_disks(0))}
    probs = {0: _one_hot(fg_boundary_target(_disks(0)))}
    with pytest.raises(ParameterError, match="unknown post-processing option 'shrnk'.*did you mean 'shrink'"):
        tune_postprocess(probs, gt, grid={"shrnk": [0]})
    with pytest.raises(ParameterError, match=r"\['shrink'\] are both in the grid and fixed"):
        tune_postprocess(probs, gt, grid={"shrink": [0]}, shrink=1)
    with pytest.raises(ParameterError, match="at least one name and one value"):
        grid_search(_keep_large, gt, gt, grid={"min_area": []})
    with pytest.raises(DataError, match=r"same image ids; \['1'\] are in only one"):
        grid_search(_keep_large, gt, {**gt, 1: gt[0]}, grid={"min_area": [1]})
    with pytest.raises(DataError, match="returned ndarray, not Instances"):
        grid_search(lambda x, **_: np.zeros(3), gt, gt, grid={"k": [1]})
    with pytest.raises(ParameterError, match="unknown metric 'iou'"):
        grid_search(_keep_large, gt, gt, grid={"min_area": [1]}, metric="iou")
