import numpy as np
import pytest

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset
from segscope.errors import DataError, ParameterError
from segscope.instance import fg_boundary_class_map, fg_boundary_target, target_dataset

from .conftest import shapes_dataset


def test_touching_objects_are_separated_by_boundary():
    ids = np.zeros((6, 10), np.int32)
    ids[1:5, 1:5] = 1
    ids[1:5, 5:9] = 2
    t = fg_boundary_target(ids)
    # Objects keep an interior (class 1) and meet at a 2-pixel boundary (one pixel of each).
    assert t[2].tolist() == [0, 2, 1, 1, 2, 2, 1, 1, 2, 0]
    assert t[1].tolist() == [0, 2, 2, 2, 2, 2, 2, 2, 2, 0]
    assert set(np.unique(t[ids == 0])) == {0}
    # Independent reference: a boundary pixel has a 4-neighbour with another id.
    pad = np.pad(ids, 1, mode="edge")
    diff = np.zeros_like(ids, bool)
    for dy, dx in ((0, 1), (1, 0), (1, 2), (2, 1)):
        diff |= pad[dy : dy + 6, dx : dx + 10] != ids
    np.testing.assert_array_equal(t == 2, diff & (ids > 0))


def test_width_and_ignore():
    ids = np.zeros((9, 9), np.int32)
    ids[1:8, 1:8] = 1
    t = fg_boundary_target(ids, width=2, ignore=ids == 0)
    assert (t[ids == 0] == 255).all()
    assert t[4, 4] == 1 and t[2, 4] == 2 and t[1, 4] == 2 and t[3, 4] == 1


def test_errors():
    with pytest.raises(DataError, match="2-D integer array"):
        fg_boundary_target(np.zeros((4, 4), float))
    with pytest.raises(ParameterError, match="width 0 must be >= 1"):
        fg_boundary_target(np.zeros((4, 4), int), width=0)
    with pytest.raises(ParameterError, match="unknown target 'edges'; use one of mask, fg-boundary"):
        target_dataset(Dataset([], ClassMap(["bg", "cell"])), "edges")


def test_target_dataset_from_instances():
    ds = shapes_dataset(3, size=64)
    tds = target_dataset(ds)
    assert tds.class_map.names == ("background", "foreground", "boundary")
    assert tds.ids == ds.ids
    for s, t in zip(ds, tds, strict=True):
        ids = s.instances.to_id_map(np.int32)
        np.testing.assert_array_equal(t.mask, fg_boundary_target(ids))
    assert target_dataset(ds, "mask") is ds
    assert fg_boundary_class_map(ClassMap(["bg", "nucleus"])).names == ("background", "nucleus", "boundary")
