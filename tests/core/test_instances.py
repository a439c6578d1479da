import numpy as np
import pytest
from pycocotools import mask as mask_utils

from segscope.core.instances import Instances
from segscope.errors import DataError


def _random_id_map(rng, h=40, w=50, n=6):
    ids = np.zeros((h, w), np.uint16)
    for k in range(1, n + 1):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        ids[y : y + rng.integers(3, 8), x : x + rng.integers(3, 8)] = k
    # Renumber contiguously in case an object was fully covered.
    present = np.unique(ids[ids > 0])
    lut = np.zeros(n + 1, np.uint16)
    lut[present] = np.arange(1, present.size + 1)
    return lut[ids]


def test_id_map_round_trip_and_properties_match_pycocotools():
    rng = np.random.default_rng(0)
    ids = _random_id_map(rng)
    inst = Instances.from_id_map(ids)
    assert len(inst) == ids.max()
    assert (inst.to_id_map() == ids).all()
    masks = inst.to_masks()
    assert masks.shape == (len(inst), *ids.shape)
    for k in range(len(inst)):
        m = ids == k + 1
        assert (masks[k] == m).all()
        assert inst.areas[k] == m.sum()
        ys, xs = np.nonzero(m)
        assert inst.boxes[k].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert (
            inst.boxes_xywh[k].tolist()
            == mask_utils.toBbox(mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))).tolist()
        )


def test_labels_from_semantic_majority_and_to_semantic():
    ids = np.array([[1, 1, 0], [2, 2, 2]])
    sem = np.array([[3, 3, 0], [1, 1, 255]])
    inst = Instances.from_id_map(ids, semantic=sem)
    assert inst.labels.tolist() == [3, 1]
    assert inst.to_semantic().tolist() == [[3, 3, 0], [1, 1, 1]]


def test_from_semantic_components_and_crowd_for_ignore():
    mask = np.array([[1, 0, 1], [0, 0, 0], [255, 255, 2]], np.uint8)
    inst = Instances.from_semantic(mask, connectivity=1)
    assert sorted(inst.labels.tolist()) == [1, 1, 2, 255]
    assert inst.iscrowd.sum() == 1
    assert (inst.to_semantic() == mask).all()


def test_subset_and_coco_export():
    inst = Instances.from_masks(np.eye(3, dtype=bool)[None].repeat(2, 0), [1, 2], scores=[0.9, 0.4])
    sub = inst[1:]
    assert len(sub) == 1 and sub.labels.tolist() == [2] and sub.scores.tolist() == [0.4]
    anns = inst.to_coco(image_id=7, first_id=10, category_ids={1: 5})
    assert [a["id"] for a in anns] == [10, 11]
    assert anns[0]["category_id"] == 5 and anns[1]["category_id"] == 2
    assert anns[0]["area"] == 3 and anns[0]["score"] == 0.9
    assert isinstance(anns[0]["segmentation"]["counts"], str)


def test_length_mismatch_errors():
    with pytest.raises(DataError, match="2 masks but 1 labels"):
        Instances.from_masks(np.zeros((2, 3, 3), bool), [1])
    with pytest.raises(DataError, match="2 masks but 3 scores"):
        Instances.from_masks(np.zeros((2, 3, 3), bool), [1, 1], scores=[1, 2, 3])


def test_empty():
    inst = Instances.from_id_map(np.zeros((4, 5), np.uint8))
    assert len(inst) == 0
    assert inst.to_masks().shape == (0, 4, 5)
    assert inst.boxes.shape == (0, 4)
    assert (inst.to_id_map() == 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_id_map_rles_equal_pycocotools_encode_byte_for_byte(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 60, 2)
    ids = rng.integers(0, 6, (h, w)) * rng.integers(0, 2, (h, w))
    ids[-1, -1] = 3  # an object ending on the last pixel (no trailing background run)
    inst = Instances.from_id_map(ids)
    present = np.unique(ids[ids > 0])
    ref = [mask_utils.encode(np.asfortranarray((ids == i).astype(np.uint8)))["counts"] for i in present]
    assert [r["counts"] for r in inst.rles] == ref
    # The cached id map and the decode path agree.
    sem = inst.to_semantic()
    del inst._id_map
    lut = np.zeros(ids.max() + 1, np.int64)
    lut[present] = np.arange(1, present.size + 1)
    assert (inst.to_id_map() == lut[ids]).all() and (inst.to_semantic() == sem).all()


def test_negative_ids_are_an_error():
    with pytest.raises(DataError, match="ids >= 0, found -1"):
        Instances.from_id_map(np.array([[0, -1]]))
