import json

import numpy as np
import pytest

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset, Sample
from segscope.core.instances import Instances
from segscope.errors import DataError, ParameterError
from segscope.formats import load_dataset
from segscope.formats.predictions import PredictionWriter
from segscope.instance import SemanticInstancePredictor, fg_boundary_target, probs_to_instances


def _touching_disks(size=48):
    """Two disks of radius 9 whose centres are 16 px apart: they overlap in a thin lens."""
    yy, xx = np.mgrid[:size, :size]
    ids = np.zeros((size, size), np.int32)
    ids[(yy - 24) ** 2 + (xx - 15) ** 2 <= 81] = 1
    ids[((yy - 24) ** 2 + (xx - 31) ** 2 <= 81) & (ids == 0)] = 2
    return ids


def _one_hot(target, n):
    return np.eye(n, dtype=np.float32)[target]


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def _check_consistent(inst):
    masks = inst.to_masks()
    assert len(inst.labels) == len(masks) == len(inst.scores)
    assert ((inst.scores >= 0) & (inst.scores <= 1)).all()
    for m, box in zip(masks, inst.boxes, strict=True):
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        assert box.tolist() == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


@pytest.mark.parametrize("mode", ["fg-boundary", "distance"])
def test_watershed_splits_touching_objects(mode):
    ids = _touching_disks()
    assert np.unique(ids[ids > 0]).size == 2
    if mode == "fg-boundary":
        probs = _one_hot(fg_boundary_target(ids), 3)
    else:
        probs = _one_hot((ids > 0).astype(int), 2)
        # One connected foreground blob: connected components alone would give one object.
    pred = probs_to_instances(probs, mode=mode)
    inst = pred.instances
    assert len(inst) == 2
    _check_consistent(inst)
    gt = Instances.from_id_map(ids).to_masks()
    masks = inst.to_masks()
    best = sorted(max(_iou(g, m) for m in masks) for g in gt)
    assert best[0] > 0.85
    assert pred.mask.shape == ids.shape and set(np.unique(pred.mask)) == {0, 1}
    assert pred.probs.shape == (*ids.shape, 2)


def test_shapes_touching_objects_are_split():
    from scipy import ndimage

    from segscope.datasets import make_shapes_arrays

    data = make_shapes_arrays(12, size=96, seed=3)
    found = matched = total = 0
    for id_map in data.id_maps:
        n_obj = np.unique(id_map[id_map > 0]).size
        _, n_cc = ndimage.label(id_map > 0)
        if n_cc == n_obj:
            continue  # no touching objects in this sample
        found += 1
        inst = probs_to_instances(_one_hot(fg_boundary_target(id_map.astype(np.int32)), 3)).instances
        _check_consistent(inst)
        assert len(inst) > n_cc  # more objects than connected blobs: touching shapes were split
        masks = inst.to_masks()
        for g in Instances.from_id_map(id_map).to_masks():
            total += 1
            matched += max(_iou(g, m) for m in masks) > 0.5
    assert found >= 3
    # Thin triangle tips can split one interior in two, and an 18-pixel shape has too small
    # an interior for a marker; the rest are recovered one to one.
    assert matched / total > 0.85


def test_orphan_component_and_scores():
    probs = np.zeros((12, 30, 3), np.float32)
    probs[..., 0] = 1
    probs[2:10, 2:10] = [0.1, 0.8, 0.1]  # confident interior
    probs[4:6, 20:28] = [0.3, 0.2, 0.5]  # thin object, no confident interior
    inst = probs_to_instances(probs, min_size=4).instances
    assert len(inst) == 2
    np.testing.assert_allclose(sorted(inst.scores), [0.7, 0.9], atol=1e-6)
    _check_consistent(inst)
    # min_size drops the thin one (16 px)
    assert len(probs_to_instances(probs, min_size=17).instances) == 1
    empty = probs_to_instances(np.stack([np.ones((5, 5)), np.zeros((5, 5))], -1))
    assert len(empty.instances) == 0 and empty.instances.scores is not None


def test_errors():
    with pytest.raises(DataError, match=r"got shape \(4, 4, 4\); train with --target fg-boundary"):
        probs_to_instances(np.zeros((4, 4, 4)))
    with pytest.raises(DataError, match="mode 'fg-boundary' needs"):
        probs_to_instances(np.zeros((4, 4, 2)), mode="fg-boundary")
    with pytest.raises(ParameterError, match=r"fg_threshold=1.5 must be in \(0, 1\)"):
        probs_to_instances(np.zeros((4, 4, 3)), fg_threshold=1.5)
    with pytest.raises(ParameterError, match="unknown mode 'peaks'"):
        probs_to_instances(np.zeros((4, 4, 3)), mode="peaks")


class _FakeSemantic:
    """A stand-in semantic predictor returning fixed probabilities."""

    backend = "torch"
    info = {"model_config": {"arch": "fake"}}

    def __init__(self, probs):
        self.probs = probs
        self.num_classes = probs.shape[2]
        self.class_map = ClassMap(["background", "cell", "boundary"])

    def predict_probs(self, image, **kwargs):
        return self.probs


def test_predictor_writes_coco_that_evaluate_reads(tmp_path):
    from segscope.evaluation import evaluate

    ids = _touching_disks()
    probs = _one_hot(fg_boundary_target(ids), 3)
    predictor = SemanticInstancePredictor(_FakeSemantic(probs), min_size=3)
    assert predictor.class_map.names == ("background", "cell")
    image = np.zeros((48, 48, 3), np.uint8)
    with PredictionWriter(tmp_path / "pred", predictor.class_map) as w:
        w.write("a", predictor.predict(image), image=image)
    coco = json.loads((tmp_path / "pred" / "instances.json").read_text())
    assert len(coco["annotations"]) == 2
    assert all(0 <= a["score"] <= 1 and a["category_id"] == 1 for a in coco["annotations"])
    overlay = (tmp_path / "pred" / "overlays" / "a.png").is_file()
    assert overlay
    pred_ds = load_dataset(tmp_path / "pred")
    got = pred_ds["a"].instances
    np.testing.assert_array_equal(got.to_id_map(), predictor.predict(image).instances.to_id_map())

    gt = Dataset(
        [Sample("a", load_image=lambda: image, load_instances=lambda: Instances.from_id_map(ids))],
        ClassMap(["background", "cell"]),
        task="instance",
    )
    results = evaluate(gt, pred_ds)
    assert results.metrics["AP"] > 0.6 and results.metrics["dsb_score"] > 0.5


def test_predictor_needs_two_or_three_classes():
    fake = _FakeSemantic(np.zeros((2, 2, 4), np.float32))
    with pytest.raises(ParameterError, match="this one has 4; train with --target fg-boundary"):
        SemanticInstancePredictor(fake)


def test_shrink_peels_outlines_like_per_object_erosion():
    from scipy import ndimage

    ids = _touching_disks()
    probs = _one_hot(fg_boundary_target(ids), 3)
    base = probs_to_instances(probs, min_size=3).instances.to_id_map()
    for k in (1, 2):
        got = probs_to_instances(probs, min_size=3, shrink=k)
        _check_consistent(got.instances)
        expected = np.zeros_like(base)
        for obj in range(1, int(base.max()) + 1):
            expected[ndimage.binary_erosion(base == obj, iterations=k)] = obj
        np.testing.assert_array_equal(got.instances.to_id_map(), expected)
    with pytest.raises(ParameterError, match="shrink=-1 must be >= 0"):
        probs_to_instances(probs, shrink=-1)


def test_unknown_pipeline_option_lists_the_valid_ones():
    fake = _FakeSemantic(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(
        ParameterError, match=r"unknown instance option 'shrnk' \(did you mean 'shrink'\?\); valid"
    ):
        SemanticInstancePredictor(fake, shrnk=1)
