import functools

import numpy as np
import pytest

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset, Sample
from segscope.core.instances import Instances
from segscope.errors import DataError


def _const(value):
    return value


def test_lazy_loading_indexing_and_splits():
    calls = []

    def load(i):
        calls.append(i)
        return np.full((2, 2), i, np.uint8)

    samples = [
        Sample(
            f"s{i}",
            load_image=functools.partial(load, i),
            load_mask=functools.partial(load, i),
            split="train" if i < 3 else "val",
        )
        for i in range(5)
    ]
    ds = Dataset(samples, ClassMap.default(5))
    assert calls == []  # nothing loaded until asked
    assert len(ds) == 5 and ds.ids[0] == "s0"
    assert int(ds["s3"].image[0, 0]) == 3 and calls == [3]
    assert ds.splits == ["train", "val"]
    assert len(ds.split("val")) == 2 and len(ds[1:3]) == 2
    with pytest.raises(DataError, match=r"no split named 'test'; splits present: \['train', 'val'\]"):
        ds.split("test")
    with pytest.raises(KeyError):
        ds["nope"]


def test_duplicate_ids_are_rejected():
    with pytest.raises(DataError, match="sample id 'a' appears twice"):
        Dataset([Sample("a"), Sample("a")], ClassMap.default(2))


def test_mask_falls_back_to_instances():
    inst = Instances.from_id_map(np.array([[0, 1], [2, 2]]), labels=[1, 3])
    s = Sample("x", load_instances=functools.partial(_const, inst))
    assert s.has_gt and s.mask.tolist() == [[0, 1], [3, 3]]
    assert Sample("y").mask is None and not Sample("y").has_gt
