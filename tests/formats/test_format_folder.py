"""Mask folders: palette and RGB masks, splits by subfolder, masks-only prediction folders, NumPy arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segscope.core.classes import ClassMap, voc_palette
from segscope.core.instances import Instances
from segscope.errors import FormatError
from segscope.formats import load_dataset, save_dataset
from segscope.formats.files import write_image, write_mask, write_palette_mask


def test_palette_masks_without_classes_file_take_palette_colours(tmp_path):
    pal = voc_palette(256)
    pal[1] = (10, 200, 30)
    mask = np.array([[0, 1, 2], [255, 2, 1]], np.uint8)
    write_palette_mask(tmp_path / "masks" / "a.png", mask, pal)
    ds = load_dataset(tmp_path)
    assert ds.class_map.num_classes == 3 and ds.class_map.colors[1] == (10, 200, 30)
    assert ds[0].mask.tolist() == mask.tolist()
    assert any("palette" in n for n in ds.notes)


def test_rgb_masks_need_a_colour_table(tmp_path):
    cm = ClassMap(("bg", "road", "car"), ((0, 0, 0), (128, 64, 128), (0, 0, 142)))
    ids = np.array([[0, 1], [2, 255]], np.uint8)
    write_image(tmp_path / "masks" / "a.png", cm.colorize(ids))
    with pytest.raises(
        FormatError, match="masks/: masks are RGB colour-coded but there is no classes file .*--classes"
    ):
        load_dataset(tmp_path)
    cm.save(tmp_path / "classes.yaml")
    assert load_dataset(tmp_path)[0].mask.tolist() == ids.tolist()


def test_default_classes_and_subfolder_splits(tmp_path):
    for split, values in (("train", [0, 1, 3]), ("val", [0, 2, 255])):
        write_image(tmp_path / "images" / split / f"{split}_x.png", np.zeros((1, 3), np.uint8))
        write_mask(tmp_path / "masks" / split / f"{split}_x.png", np.array([values], np.uint8))
    ds = load_dataset(tmp_path)
    assert ds.splits == ["train", "val"] and ds.ids == ["train_x", "val_x"]
    assert ds.class_map.names == ("background", "class_1", "class_2", "class_3")
    assert ds["val_x"].mask.tolist() == [[0, 2, 255]]
    assert any("label values 0..3" in n for n in ds.notes)


def test_masks_only_prediction_folder(tmp_path):
    """The OUT/ layout of segscope segment/predict: masks/, probs/, instances.json, classes.yaml."""
    cm = ClassMap(("background", "cell"))
    cm.save(tmp_path / "classes.yaml")
    mask = np.array([[0, 1, 1], [0, 0, 1]], np.uint8)
    write_mask(tmp_path / "masks" / "p1.png", mask)
    probs = np.stack([1 - mask, mask], axis=2).astype(np.float32)
    (tmp_path / "probs").mkdir()
    np.save(tmp_path / "probs" / "p1.npy", probs)
    inst = Instances.from_id_map(mask.astype(np.int32))
    inst.scores = np.array([0.75])
    coco = {
        "images": [{"id": 1, "file_name": "p1.png", "height": 2, "width": 3}],
        "annotations": inst.to_coco(1),
        "categories": [{"id": 1, "name": "cell"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    (tmp_path / "overlays").mkdir()
    write_image(tmp_path / "overlays" / "p1.png", np.zeros((2, 3, 3), np.uint8))
    ds = load_dataset(tmp_path)
    assert ds.ids == ["p1"] and ds[0].load_image is None
    assert np.array_equal(ds[0].mask, mask) and np.array_equal(ds[0].probs, probs)
    assert ds[0].instances.scores.tolist() == [0.75] and ds.task == "instance"


def test_numpy_radar_fields_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    src = tmp_path / "radar"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    for i in range(2):
        np.save(src / "images" / f"f{i}.npy", rng.normal(size=(6, 7, 5)).astype(np.float32))
        np.savez(src / "masks" / f"f{i}.npz", mask=rng.integers(0, 4, (6, 7)).astype(np.int64))
    ds = load_dataset(src)
    assert ds.format == "numpy" and ds[0].image.shape == (6, 7, 5) and ds[0].image.dtype == np.float32
    out = save_dataset(ds, tmp_path / "out", format="numpy")
    back = load_dataset(out)
    assert back.format == "numpy"
    for a, b in zip(ds, back, strict=True):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    # to a mask folder: the 5-channel float image cannot be a PNG, so it stays .npy
    mf = save_dataset(ds, tmp_path / "mf")
    assert sorted(p.suffix for p in (mf / "images").iterdir()) == [".npy", ".npy"]


def test_instance_folder_round_trip(shapes, tmp_path):
    ds = load_dataset(shapes)
    with pytest.warns(UserWarning, match="objects have classes other than 1"):
        out = save_dataset(ds, tmp_path / "inst", format="instance-folder")
    back = load_dataset(out)
    assert back.format == "instance-folder"
    for a, b in zip(ds, back, strict=True):
        assert np.array_equal(a.instances.to_id_map(), b.instances.to_id_map())
        assert np.array_equal(a.mask > 0, b.mask > 0)
