"""dataset_info: counts, class frequency and streaming channel statistics against plain NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from _format_data import DSB, ISBI, needs_dsb, needs_isbi

from segscope.formats import dataset_info, load_dataset
from segscope.formats.files import read_image, read_mask


def test_info_matches_numpy(shapes):
    ds = load_dataset(shapes)
    info = dataset_info(ds)
    assert info["samples"] == 4 and info["splits"] == {"train": 3, "val": 1}
    assert info["with_gt"] == 4 and info["without_gt"] == 0
    masks = np.stack([read_mask(p) for p in sorted((shapes / "masks").iterdir())])
    ids = [read_mask(p) for p in sorted((shapes / "instances").iterdir())]
    assert info["instances"] == sum(int(m.max()) for m in ids)
    for c in info["classes"]:
        assert c["pixels"] == int((masks == c["id"]).sum())
        assert c["percent"] == pytest.approx(100 * (masks == c["id"]).mean(), abs=1e-3)
    images = np.stack([read_image(p) for p in sorted((shapes / "images").iterdir())]).astype(np.float64)
    flat = images.reshape(-1, 3)
    stats = info["channel_stats"]
    assert [s["channel"] for s in stats] == [0, 1, 2]
    np.testing.assert_allclose([s["mean"] for s in stats], flat.mean(0), rtol=1e-12)
    np.testing.assert_allclose([s["std"] for s in stats], flat.std(0), rtol=1e-12)
    assert [s["min"] for s in stats] == flat.min(0).tolist() and [s["max"] for s in stats] == flat.max(
        0
    ).tolist()
    assert (
        info["image_sizes"] == {"24x32": 4}
        and info["dtypes"] == {"uint8": 4}
        and info["channels"] == {"3": 4}
    )


@needs_isbi
def test_isbi_info():
    info = dataset_info(load_dataset(ISBI))
    assert info["samples"] == 30 and info["num_classes"] == 2
    assert info["classes"][0]["percent"] == pytest.approx(21.963, abs=0.01)  # membrane (value 0)
    assert info["image_sizes"] == {"512x512": 30}


@needs_dsb
def test_dsb_info():
    info = dataset_info(load_dataset(DSB))
    assert info["samples"] == 65 and info["instances"] == 4152
    assert info["channels"] == {"4": 37, "3": 28}
    assert info["instances_per_image"]["min"] == 3 and info["instances_per_image"]["max"] == 329
    assert (
        info["channel_stats"][3]["pixels"] < info["channel_stats"][0]["pixels"]
    )  # alpha only in RGBA images
