"""validate_dataset: one test per kind of problem, checking the message names file, value and fix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segscope.errors import DataError, FormatError
from segscope.formats import load_dataset, validate_dataset
from segscope.formats.files import write_image, write_mask


def _pair(root, sid, image, mask):
    write_image(root / "images" / f"{sid}.png", image)
    if mask is not None:
        write_mask(root / "masks" / f"{sid}.png", mask)


@pytest.fixture
def good(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        _pair(
            tmp_path,
            f"{i:04d}",
            rng.integers(0, 256, (8, 8), dtype=np.uint8),
            rng.integers(0, 3, (8, 8)).astype(np.uint8),
        )
    (tmp_path / "classes.yaml").write_text("classes: [background, a, b]\n")
    return tmp_path


def test_clean_dataset_is_ok(good):
    report = validate_dataset(load_dataset(good))
    assert report.ok and report.problems == [] and report.samples == 3


def test_size_mismatch(good):
    write_image(good / "images" / "0007.png", np.zeros((512, 512), np.uint8))
    write_mask(good / "masks" / "0007.png", np.zeros((512, 510), np.uint8))
    report = validate_dataset(load_dataset(good))
    assert [p.kind for p in report.errors] == ["size mismatch"]
    msg = r"masks/0007.png has shape \(512, 510\) but images/0007.png is \(512, 512\); resize the mask or fix the pairing"
    with pytest.raises(DataError, match=msg):
        report.raise_first()
    with pytest.raises(DataError, match=msg):
        load_dataset(good, strict=True)


def test_label_values_not_in_class_map(good):
    write_mask(good / "masks" / "0001.png", np.full((8, 8), 7, np.uint8))
    report = validate_dataset(load_dataset(good))
    assert report.counts() == {("error", "unknown label"): 1}
    with pytest.raises(
        DataError,
        match=r"masks/0001.png: label values \[7\] are not classes 0..2 .*add them to the classes file",
    ):
        report.raise_first()


def test_missing_mask_is_a_warning_unless_strict(good):
    _pair(good, "0009", np.zeros((8, 8), np.uint8), None)
    report = validate_dataset(load_dataset(good))
    assert report.ok and report.counts() == {("warning", "missing mask"): 1}
    assert "images/0009.png: no mask for sample '0009'; add masks/0009.png" in report.warnings[0].message
    strict = validate_dataset(load_dataset(good), strict=True)
    assert not strict.ok
    with pytest.raises(
        DataError, match=r"images/0009.png: no mask for sample '0009'; add masks/0009.png or remove the image"
    ):
        load_dataset(good, strict=True)


def test_truncated_image(good):
    data = (good / "images" / "0002.png").read_bytes()
    (good / "images" / "0002.png").write_bytes(data[: len(data) // 2])
    report = validate_dataset(load_dataset(good))
    assert [p.kind for p in report.errors] == ["unreadable file"]
    with pytest.raises(
        FormatError, match=r"0002.png: unreadable or truncated image .*re-export or remove it"
    ):
        report.raise_first()


def test_nan_in_float_image(tmp_path):
    image = np.zeros((4, 4, 2), np.float32)
    image[1, 1, 0] = np.nan
    (tmp_path / "images").mkdir()
    np.save(tmp_path / "images" / "r.npy", image)
    write_mask(tmp_path / "masks" / "r.npy", np.zeros((4, 4), np.uint8))
    report = validate_dataset(load_dataset(tmp_path))
    assert report.counts() == {("error", "nan values"): 1}
    with pytest.raises(DataError, match=r"images/r.npy: 1 values are NaN or infinite; replace them"):
        report.raise_first()


def _ann(ann_id, category_id, polygon):
    return {"id": ann_id, "image_id": 1, "category_id": category_id, "segmentation": [polygon], "iscrowd": 0}


@pytest.mark.parametrize(
    ("file_name", "annotations", "kind", "error", "match"),
    [
        (
            "gone.png",
            [],
            "missing file",
            DataError,
            r"annotations.json names image 'gone.png' \(id 1\) but images/gone.png does not exist; add the file",
        ),
        (
            "a.png",
            [_ann(5, 4, [1, 1, 4, 1, 4, 4])],
            "unknown category",
            FormatError,
            r"annotation 5 \(image 'a.png'\) has category_id 4, not in the categories \[1\]; add the category",
        ),
        (
            "a.png",
            [_ann(6, 1, [1, 1, 30, 1, 30, 4])],
            "polygon outside image",
            FormatError,
            r"annotation 6 .* polygon points span x 1..30, .*outside the 10x10 \(W x H\) image; clip the polygon",
        ),
    ],
    ids=["missing-image-file", "unknown-category", "polygon-outside-image"],
)
def test_coco_problems(tmp_path, file_name, annotations, kind, error, match):
    write_image(tmp_path / "images" / "a.png", np.zeros((10, 10), np.uint8))
    data = {
        "images": [{"id": 1, "file_name": file_name, "height": 10, "width": 10}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cell"}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    report = validate_dataset(load_dataset(tmp_path))
    assert [p.kind for p in report.errors] == [kind]
    with pytest.raises(error, match=match):
        report.raise_first()


def test_mask_without_image_is_a_layout_warning(good):
    write_mask(good / "masks" / "stray.png", np.zeros((8, 8), np.uint8))
    report = validate_dataset(load_dataset(good))
    assert report.ok and report.warnings[0].kind == "layout"
    assert (
        "masks/stray.png: has no image in images/; add the image or remove the mask"
        in report.warnings[0].message
    )
