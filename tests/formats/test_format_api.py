"""load_dataset / save_dataset / detect_format across formats, and the two real datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _format_data import DSB, ISBI, assert_same_masks, needs_dsb, needs_isbi

from segscope import load_dataset as top_load
from segscope.core.classes import ClassMap
from segscope.errors import DataError, FormatError, ParameterError
from segscope.formats import FORMATS, detect_format, load_dataset, save_dataset
from segscope.formats.files import read_image, read_mask, write_image, write_mask


def test_registry_names():
    assert FORMATS.list() == ["mask-folder", "palette", "rgb", "instance-folder", "coco", "numpy"]
    assert top_load is load_dataset
    with pytest.raises(ParameterError, match="unknown format 'cocoo'.*did you mean 'coco'"):
        FORMATS.get("cocoo")


def test_load_shapes_folder(shapes):
    ds = load_dataset(shapes)
    assert ds.format == "mask-folder" and ds.task == "instance"
    assert ds.class_map.names == ("background", "circle", "square")
    assert ds.ids == ["000", "001", "002", "003"]
    assert [s.split for s in ds] == ["train", "train", "train", "val"]
    s = ds["001"]
    mask, ids = read_mask(shapes / "masks/001.png"), read_mask(shapes / "instances/001.png")
    assert np.array_equal(s.mask, mask)
    inst = s.instances
    assert np.array_equal(inst.to_id_map(), ids)
    # each object takes the class of the semantic mask inside it
    for k, label in enumerate(inst.labels, start=1):
        assert set(np.unique(mask[ids == k])) == {label}
    assert s.image.shape == (24, 32, 3)


@pytest.mark.parametrize("fmt", ["mask-folder", "palette", "rgb", "numpy"])
def test_round_trip_semantic_formats(shapes, tmp_path, fmt):
    ds = load_dataset(shapes)
    out = save_dataset(ds, tmp_path / fmt, format=fmt)
    back = load_dataset(out)
    assert back.format == ("numpy" if fmt == "numpy" else "mask-folder")
    assert back.ids == ds.ids and [s.split for s in back] == [s.split for s in ds]
    assert back.class_map.names == ds.class_map.names
    for a, b in zip(ds, back, strict=True):
        assert np.array_equal(a.mask, b.mask)
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(a.instances.to_id_map(), b.instances.to_id_map())
    if fmt == "mask-folder":
        assert assert_same_masks(shapes / "masks", out / "masks") == 4
        assert assert_same_masks(shapes / "instances", out / "instances") == 4
    if fmt == "palette":
        from PIL import Image

        assert Image.open(out / "masks/000.png").mode == "P"
    if fmt == "rgb":
        assert read_mask(out / "masks/000.png").shape == (24, 32, 3)


def test_round_trip_mask_folder_keeps_stored_values(tmp_path):
    """0/255 masks with a value mapping are written back as 0/255, with the classes file."""
    rng = np.random.default_rng(1)
    src = tmp_path / "src"
    for i in range(3):
        write_image(src / "images" / f"{i}.png", rng.integers(0, 256, (8, 9), dtype=np.uint8))
        write_mask(src / "masks" / f"{i}.png", (rng.random((8, 9)) > 0.3).astype(np.uint8) * 255)
    ds = load_dataset(src)
    assert ds.class_map.values == {0: 0, 255: 1}
    out = save_dataset(ds, tmp_path / "out")
    assert_same_masks(src / "masks", out / "masks")
    assert load_dataset(out).class_map.names == ("class_0", "class_1")


def test_save_refuses_non_empty_folder(shapes, tmp_path):
    ds = load_dataset(shapes)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("keep me")
    with pytest.raises(
        DataError, match="busy: folder is not empty; choose an empty folder or pass overwrite=True"
    ):
        save_dataset(ds, tmp_path / "busy")
    save_dataset(ds, tmp_path / "busy", overwrite=True)
    assert (tmp_path / "busy" / "x.txt").read_text() == "keep me"
    assert len(load_dataset(tmp_path / "busy")) == 4
    with pytest.raises(ParameterError, match="unknown option"):
        save_dataset(ds, tmp_path / "other", colour=True)


def test_detect_format(shapes, tmp_path):
    assert detect_format(shapes) == "mask-folder"
    save_dataset(load_dataset(shapes), tmp_path / "c", format="coco")
    assert detect_format(tmp_path / "c") == "coco"
    assert detect_format(tmp_path / "c" / "annotations.json") == "coco"
    with pytest.warns(UserWarning, match="instance-id maps do not store classes"):
        save_dataset(load_dataset(shapes), tmp_path / "i", format="instance-folder")
    assert detect_format(tmp_path / "i") == "instance-folder"
    save_dataset(load_dataset(shapes), tmp_path / "n", format="numpy")
    assert detect_format(tmp_path / "n") == "numpy"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="empty: no images/, masks/ or annotations.json found; .*--format"):
        detect_format(tmp_path / "empty")
    with pytest.raises(DataError, match="nope: no such file or folder"):
        load_dataset(tmp_path / "nope")


def test_instance_map_detection_and_override(tmp_path):
    ids = np.zeros((6, 7), np.uint16)
    ids[1:3, 1:3], ids[4:6, 2:6] = 1, 2
    write_image(tmp_path / "images/a.png", np.zeros((6, 7), np.uint8))
    write_image(tmp_path / "masks/a.png", ids)
    ds = load_dataset(tmp_path)
    assert ds.format == "instance-folder" and ds.class_map.names == ("background", "object")
    assert "--format mask-folder" in ds.notes[0]
    assert len(ds[0].instances) == 2 and ds[0].mask.tolist() == (ids > 0).astype(int).tolist()
    forced = load_dataset(tmp_path, format="mask-folder")
    assert forced.task == "semantic" and forced[0].mask.max() == 2


def test_classes_option_overrides(tmp_path):
    write_mask(tmp_path / "masks/a.png", np.array([[0, 255, 255]], np.uint8))
    cm = ClassMap(("membrane", "cell"), values={0: 0, 255: 1})
    assert load_dataset(tmp_path, classes=cm).class_map.names == ("membrane", "cell")
    yaml_path = Path(__file__).resolve().parents[2] / "examples/classes/isbi2012.yaml"
    ds = load_dataset(tmp_path, classes=yaml_path)
    assert ds.class_map.names == ("membrane", "cell") and ds[0].mask.tolist() == [[0, 1, 1]]


@needs_isbi
def test_isbi_membrane_loads():
    ds = load_dataset(ISBI)
    assert len(ds) == 30 and ds.format == "mask-folder" and ds.class_map.num_classes == 2
    assert any("0 and 255" in n and "classes.yaml" in n for n in ds.notes)
    mask = ds["0"].mask
    raw = read_mask(ISBI / "masks/0.png")
    assert np.array_equal(mask, (raw == 255).astype(np.uint8))
    assert ds["0"].image.shape == (512, 512)


@needs_dsb
def test_dsb_loads_as_instance_folder():
    ds = load_dataset(DSB)
    assert ds.format == "instance-folder" and len(ds) == 65
    s = ds[0]
    ids = read_mask(s.mask_path)
    assert len(s.instances) == int(ids.max()) == len(np.unique(ids)) - 1
    channels = [read_image(p).shape[2] for p in sorted((DSB / "images").iterdir())[:10]]
    assert set(channels) <= {3, 4}
    assert any("37 of 65 images have an alpha channel" in n for n in ds.notes)


@needs_dsb
@pytest.mark.slow
def test_dsb_instance_maps_coco_round_trip(tmp_path):
    ds = load_dataset(DSB)
    save_dataset(ds, tmp_path / "coco", format="coco")
    coco = load_dataset(tmp_path / "coco")
    assert sum(len(s.instances) for s in coco) == 4152
    out = save_dataset(coco, tmp_path / "inst", format="instance-folder")
    assert assert_same_masks(DSB / "masks", out / "masks") == 65
