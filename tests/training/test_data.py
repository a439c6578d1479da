import numpy as np
import pytest

from segscope.errors import ParameterError
from segscope.models import Preprocessing

from .conftest import disks

pytest.importorskip("torch")


def test_repeat_lists_each_sample_that_many_times():
    from segscope.training.data import SegmentationDataset

    ds = disks(n=3, size=16)
    pre = Preprocessing(1, (0.5,), (0.25,), scale=255.0)
    once = SegmentationDataset(ds, pre)
    thrice = SegmentationDataset(ds, pre, repeat=3)
    assert len(once) == 3 and len(thrice) == 9
    for i in range(9):
        np.testing.assert_array_equal(thrice[i][0].numpy(), once[i % 3][0].numpy())
        np.testing.assert_array_equal(thrice[i][1].numpy(), once[i % 3][1].numpy())
    with pytest.raises(ParameterError, match="repeat 0 must be >= 1"):
        SegmentationDataset(ds, pre, repeat=0)
