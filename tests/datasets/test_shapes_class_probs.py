"""shapes: the ``class_probs`` option (long-tailed class mixes) of generate_sample / make_shapes_arrays."""

from __future__ import annotations

import numpy as np
import pytest

from segscope.datasets.shapes import generate_sample, make_shapes_arrays
from segscope.errors import ParameterError


def test_default_class_probs_keep_the_original_samples():
    a = generate_sample(5, size=48)
    b = generate_sample(5, size=48, class_probs=None)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_class_probs_set_the_object_class_mix():
    data = make_shapes_arrays(60, size=48, seed=3, class_probs=(0.0, 1.0, 3.0))
    labels = np.concatenate(data.labels)
    assert 1 not in labels  # a zero weight never draws that class
    share = np.mean(labels == 3)
    assert 0.6 < share < 0.9  # 3:1 triangles to rectangles, with the visible-object filter
    for mask, id_map, lab in zip(data.masks, data.id_maps, data.labels, strict=True):
        np.testing.assert_array_equal(np.r_[0, lab][id_map], mask)


def test_class_probs_errors():
    with pytest.raises(ParameterError, match="3 non-negative weights"):
        generate_sample(0, size=48, class_probs=(0.5, 0.5))
    with pytest.raises(ParameterError, match="3 non-negative weights"):
        make_shapes_arrays(2, size=48, class_probs=(1.0, -1.0, 1.0))
