"""Tests for the synthetic shapes dataset (segscope.datasets.shapes)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from segscope.core.classes import ClassMap
from segscope.core.instances import Instances
from segscope.datasets.shapes import (
    _layout,
    _sample_rngs,
    generate_sample,
    make_shapes,
    make_shapes_arrays,
    shape_ids,
    shapes_class_map,
    shapes_splits,
    summarize_shapes,
)
from segscope.errors import DataError, ParameterError
from segscope.formats.files import read_image, read_mask


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _adjacent(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two boolean masks share a pixel edge (4-neighbours), written with plain shifts."""
    return bool(
        (a[1:] & b[:-1]).any()
        or (a[:-1] & b[1:]).any()
        or (a[:, 1:] & b[:, :-1]).any()
        or (a[:, :-1] & b[:, 1:]).any()
    )


@pytest.fixture(scope="module")
def arrays():
    return make_shapes_arrays(20, size=96, seed=3)


def test_mask_equals_labels_painted_through_id_map(arrays):
    for mask, id_map, labels in zip(arrays.masks, arrays.id_maps, arrays.labels, strict=True):
        assert mask.dtype == np.uint8 and id_map.dtype == np.uint8
        np.testing.assert_array_equal(mask, np.r_[0, labels][id_map])
        # ids are contiguous 1..K, every instance visible, labels are object classes
        np.testing.assert_array_equal(np.unique(id_map[id_map > 0]), np.arange(1, len(labels) + 1))
        assert set(labels.tolist()) <= {1, 2, 3}


def test_instances_from_id_map_agree_with_mask(arrays):
    inst = Instances.from_id_map(arrays.id_maps[0], arrays.labels[0])
    np.testing.assert_array_equal(inst.to_semantic(), arrays.masks[0])


def test_object_counts_and_classes(arrays):
    counts = np.array([len(lab) for lab in arrays.labels])
    assert counts.min() >= 2 and counts.max() <= 8
    assert len(set(counts.tolist())) >= 4  # the count varies
    all_labels = np.concatenate(arrays.labels)
    assert set(all_labels.tolist()) == {1, 2, 3}


def test_counts_hold_on_the_smallest_size():
    for seed in range(40):
        _, mask, id_map, labels = generate_sample(seed, size=32)
        assert 2 <= len(labels) <= 8
        np.testing.assert_array_equal(mask, np.r_[0, labels][id_map])


def test_touching_overlapping_and_border_objects_occur():
    overlaps = touches = 0
    for rng in _sample_rngs(20, seed=0):
        layout = _layout(rng, 96)
        full = layout.masks
        for a, b in combinations(full, 2):
            if (a & b).any():
                overlaps += 1
            elif _adjacent(a, b):
                touches += 1
        # later objects hide earlier ones, but each keeps >= 40 % of its in-image area
        for i, m in enumerate(full, start=1):
            assert (layout.occ == i).sum() >= 0.4 * m.sum()
    assert overlaps >= 5 and touches >= 5
    # in the written data: instances that share an edge, and instances cut by the border
    data = make_shapes_arrays(20, size=96, seed=0)
    neighbours = border = 0
    for id_map in data.id_maps:
        for i, j in combinations(range(1, int(id_map.max()) + 1), 2):
            neighbours += _adjacent(id_map == i, id_map == j)
        edge = np.concatenate([id_map[0], id_map[-1], id_map[:, 0], id_map[:, -1]])
        border += len(set(edge[edge > 0].tolist()))
    assert neighbours >= 10 and border >= 5


def test_classes_distinguishable_but_not_by_one_pixel_value(arrays):
    pixels = arrays.images.reshape(-1, 3).astype(np.float64)
    mask = arrays.masks.reshape(-1)
    means = np.array([pixels[mask == c].mean(0) for c in range(4)])
    assert np.argmax(means[1]) == 0 and np.argmax(means[2]) == 1 and np.argmax(means[3]) == 2
    nearest = np.argmin(((pixels[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    accuracy = (nearest == mask).mean()
    assert 0.6 < accuracy < 0.97
    for c in range(1, 4):  # objects are textured, not flat
        assert pixels[mask == c].std(0).min() > 8


def test_sample_does_not_depend_on_n_channels_or_dtype():
    small, big = make_shapes_arrays(2, size=48, seed=5), make_shapes_arrays(4, size=48, seed=5)
    np.testing.assert_array_equal(small.images, big.images[:2])
    np.testing.assert_array_equal(small.id_maps, big.id_maps[:2])
    grey = make_shapes_arrays(2, size=48, seed=5, channels=1, dtype="uint16")
    np.testing.assert_array_equal(grey.masks, small.masks)
    assert grey.images.shape == (2, 48, 48) and grey.images.dtype == np.uint16
    bands = make_shapes_arrays(2, size=48, seed=5, channels=6)
    np.testing.assert_array_equal(bands.id_maps, small.id_maps)
    assert bands.images.shape == (2, 48, 48, 6) and bands.images.dtype == np.float32
    assert 0.0 <= bands.images.min() and bands.images.max() <= 1.0
    assert not np.array_equal(make_shapes_arrays(1, size=48, seed=6).masks, small.masks[:1])


def test_make_shapes_is_byte_identical_and_matches_arrays(tmp_path):
    a = make_shapes(tmp_path / "a", n=6, size=64, seed=1)
    b = make_shapes(tmp_path / "b", n=6, size=64, seed=1)
    files_a, files_b = _files(a), _files(b)
    assert files_a == files_b
    assert len([k for k in files_a if k.startswith("images/")]) == 6
    assert (a / "images" / "shape_0005.png").is_file()
    mem = make_shapes_arrays(6, size=64, seed=1)
    for k, sample_id in enumerate(mem.ids):
        np.testing.assert_array_equal(read_image(a / "images" / f"{sample_id}.png"), mem.images[k])
        np.testing.assert_array_equal(read_mask(a / "masks" / f"{sample_id}.png"), mem.masks[k])
        np.testing.assert_array_equal(read_mask(a / "instances" / f"{sample_id}.png"), mem.id_maps[k])
    assert ClassMap.load(a / "classes.yaml") == shapes_class_map()
    c = make_shapes(tmp_path / "c", n=6, size=64, seed=2)
    assert _files(c)["masks/shape_0000.png"] != files_a["masks/shape_0000.png"]


def test_split_files_partition_the_ids(tmp_path):
    root = make_shapes(tmp_path / "s", n=20, size=48, seed=0)
    splits = {
        name: (root / "splits" / f"{name}.txt").read_text().split() for name in ("train", "val", "test")
    }
    assert {k: len(v) for k, v in splits.items()} == {"train": 14, "val": 3, "test": 3}
    everything = splits["train"] + splits["val"] + splits["test"]
    assert sorted(everything) == shape_ids(20) and len(set(everything)) == 20
    assert splits == shapes_splits(shape_ids(20), seed=0)
    assert shapes_splits(shape_ids(20), seed=1) != splits
    sizes = {k: len(v) for k, v in shapes_splits(shape_ids(200)).items()}
    assert sizes == {"train": 140, "val": 30, "test": 30}


def test_summary_counts_instances_per_class(tmp_path):
    root = make_shapes(tmp_path / "s", n=5, size=64, seed=4)
    info = summarize_shapes(root)
    labels = np.concatenate(make_shapes_arrays(5, size=64, seed=4).labels)
    assert info["samples"] == 5 and info["instances"] == labels.size
    assert info["per_class"] == {
        name: int((labels == c).sum()) for c, name in enumerate(shapes_class_map().names) if c
    }
    assert info["splits"] == {"train": 4, "val": 1, "test": 0}
    with pytest.raises(DataError, match="no instances/ folder"):
        summarize_shapes(tmp_path)


def test_non_png_images_are_written_as_npy(tmp_path):
    root = make_shapes(tmp_path / "bands", n=2, size=40, channels=5)
    image = read_image(root / "images" / "shape_0001.npy")
    assert image.shape == (40, 40, 5) and image.dtype == np.float32
    assert not list((root / "images").glob("*.png"))
    grey = make_shapes(tmp_path / "grey", n=1, size=40, channels=1, dtype="uint16")
    assert read_image(grey / "images" / "shape_0000.png").dtype == np.uint16


def test_refuses_non_empty_folder_unless_overwrite(tmp_path):
    root = make_shapes(tmp_path / "s", n=5, size=40)
    (root / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match=r"folder is not empty.*--overwrite"):
        make_shapes(root, n=3, size=40)
    make_shapes(root, n=3, size=40, overwrite=True)
    assert sorted(p.name for p in (root / "masks").iterdir()) == [f"shape_000{i}.png" for i in range(3)]
    assert len(list((root / "images").iterdir())) == 3
    assert (root / "notes.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        make_shapes(tmp_path / "file", n=1, size=40)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 16}, r"size=16 .* size >= 32"),
        ({"channels": 0}, r"channels=0"),
        ({"dtype": "int8"}, r"dtype='int8' is not supported"),
        ({"dtype": "nonsense"}, r"not a NumPy dtype"),
        ({"n": 0}, r"n=0 samples"),
        ({"seed": -1}, r"seed=-1"),
    ],
)
def test_parameter_errors(tmp_path, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        make_shapes(tmp_path / "x", **{"n": 2, "size": 40, **kwargs})
    assert not (tmp_path / "x").exists()  # nothing is created before the options are checked


def test_load_dataset_reads_the_folder(tmp_path):
    formats = pytest.importorskip("segscope.formats")
    if not hasattr(formats, "load_dataset"):
        pytest.skip("segscope.formats.load_dataset is not available yet")
    root = make_shapes(tmp_path / "s", n=20, size=48, seed=0)
    ds = formats.load_dataset(root)
    mem = make_shapes_arrays(20, size=48, seed=0)
    assert ds.class_map.names == shapes_class_map().names and len(ds) == 20
    assert {name: len(ds.split(name)) for name in ds.splits} == {"train": 14, "val": 3, "test": 3}
    sample = ds["shape_0007"]
    np.testing.assert_array_equal(sample.image, mem.images[7])
    np.testing.assert_array_equal(sample.mask, mem.masks[7])
    np.testing.assert_array_equal(sample.instances.labels, mem.labels[7])
