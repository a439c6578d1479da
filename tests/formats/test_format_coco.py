"""COCO JSON: polygons, uncompressed/compressed RLE, crowd, category ids, round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _format_data import assert_same_masks
from pycocotools import mask as mask_utils

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset, Sample
from segscope.core.instances import Instances
from segscope.formats import load_dataset, save_dataset
from segscope.formats.files import write_image


def _coco_folder(tmp_path, annotations, *, categories=None, images=None):
    root = tmp_path / "coco"
    write_image(root / "images" / "a.png", np.zeros((10, 12, 3), np.uint8))
    data = {
        "images": images or [{"id": 7, "file_name": "a.png", "height": 10, "width": 12}],
        "annotations": annotations,
        "categories": categories or [{"id": 3, "name": "cat"}, {"id": 9, "name": "dog"}],
    }
    (root / "annotations.json").write_text(json.dumps(data))
    return root


def _runs(mask):
    """Uncompressed COCO RLE counts: column-major run lengths, starting with a run of zeros."""
    counts, current, run = [], 0, 0
    for v in mask.ravel(order="F"):
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    return [*counts, run]


def test_polygon_and_rle_kinds(tmp_path):
    box = np.zeros((10, 12), np.uint8)
    box[5:9, 6:11] = 1
    compressed = mask_utils.encode(np.asfortranarray(box))
    uncompressed = {"size": [10, 12], "counts": _runs(box)}
    anns = [
        {"id": 1, "image_id": 7, "category_id": 3, "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]], "iscrowd": 0},
        {
            "id": 2,
            "image_id": 7,
            "category_id": 9,
            "segmentation": {"size": [10, 12], "counts": compressed["counts"].decode()},
            "iscrowd": 0,
        },
        {"id": 3, "image_id": 7, "category_id": 9, "segmentation": uncompressed, "iscrowd": 1},
    ]
    ds = load_dataset(_coco_folder(tmp_path, anns))
    assert ds.format == "coco" and ds.task == "instance" and ds.ids == ["a"]
    assert ds.class_map.names == ("background", "cat", "dog")
    inst = ds[0].instances
    assert inst.labels.tolist() == [1, 2, 2] and inst.iscrowd.tolist() == [False, False, True]
    masks = inst.to_masks()
    poly = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([[1, 1, 5, 1, 5, 4, 1, 4]], 10, 12)))
    assert np.array_equal(masks[0], poly.astype(bool))
    assert np.array_equal(masks[1], box.astype(bool)) and np.array_equal(masks[2], box.astype(bool))
    sem = ds[0].mask
    assert (sem[box == 1] == 255).all()  # crowd -> ignore_index, drawn last
    assert (sem[poly == 1] == 1).all() and set(np.unique(sem)) == {0, 1, 255}
    # COCO category ids are kept and restored when writing back
    out = save_dataset(ds, tmp_path / "again", format="coco")
    data = json.loads((out / "annotations.json").read_text())
    assert [c["id"] for c in data["categories"]] == [3, 9]
    assert [a["category_id"] for a in data["annotations"]] == [3, 9, 9]
    assert [a["iscrowd"] for a in data["annotations"]] == [0, 0, 1]
    assert np.array_equal(load_dataset(out)[0].mask, sem)
    # and survive a trip through a mask folder (classes.yaml keeps coco_category_ids)
    mf = save_dataset(ds, tmp_path / "mf")
    out2 = save_dataset(load_dataset(mf), tmp_path / "again2", format="coco")
    assert [c["id"] for c in json.loads((out2 / "annotations.json").read_text())["categories"]] == [3, 9]


def test_shapes_mask_folder_coco_round_trip_is_pixel_identical(shapes, tmp_path):
    coco = save_dataset(load_dataset(shapes), tmp_path / "coco", format="coco")
    data = json.loads((coco / "annotations.json").read_text())
    assert all(isinstance(a["segmentation"]["counts"], str) for a in data["annotations"])
    assert {im["split"] for im in data["images"]} == {"train", "val"}
    ds = load_dataset(coco)
    assert ds.class_map.names == ("background", "circle", "square")
    back = save_dataset(ds, tmp_path / "back")
    assert assert_same_masks(shapes / "masks", back / "masks") == 4
    assert assert_same_masks(shapes / "instances", back / "instances") == 4
    assert assert_same_masks(shapes / "images", back / "images") == 4
    assert (back / "splits" / "val.txt").read_text().split() == ["003"]


def test_semantic_only_with_ignore_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 3, (16, 16)).astype(np.uint8)
    mask[:3, :3] = 255
    ds = Dataset(
        [Sample("m", load_mask=lambda: mask, load_image=lambda: np.zeros((16, 16), np.uint8))],
        ClassMap.default(3),
    )
    out = save_dataset(ds, tmp_path / "coco", format="coco")
    back = load_dataset(out)
    assert np.array_equal(back[0].mask, mask)
    assert back[0].instances.iscrowd.sum() == 1  # the ignore square is one crowd region


def test_many_instances_and_scores(tmp_path):
    ids = np.arange(1, 301, dtype=np.uint16).reshape(15, 20)
    inst = Instances.from_id_map(ids)
    inst.scores = np.linspace(0, 1, 300)
    ds = Dataset([Sample("big", load_instances=lambda: inst)], ClassMap.default(2), task="instance")
    out = save_dataset(ds, tmp_path / "c", format="coco")
    back = load_dataset(out)[0].instances
    assert len(back) == 300 and np.array_equal(back.to_id_map(np.uint16), ids)
    assert np.allclose(back.scores, inst.scores)


def test_split_files_under_annotations(tmp_path):
    root = tmp_path / "c"
    for split in ("train", "val"):
        write_image(root / "images" / f"{split}1.png", np.zeros((4, 4), np.uint8))
        data = {
            "images": [{"id": 1, "file_name": f"{split}1.png", "height": 4, "width": 4}],
            "annotations": [],
            "categories": [{"id": 1, "name": "x"}],
        }
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    ds = load_dataset(root)
    assert ds.format == "coco" and ds.splits == ["train", "val"] and len(ds) == 2


def test_not_coco_json(tmp_path):
    (tmp_path / "x.json").write_text("[1, 2]")
    from segscope.errors import FormatError

    with pytest.raises(FormatError, match="x.json: not a COCO instance file"):
        load_dataset(tmp_path / "x.json")


def test_make_shapes_coco_round_trip(tmp_path):
    """The real shapes generator: mask folder -> COCO -> mask folder is pixel-identical."""
    shapes_mod = pytest.importorskip("segscope.datasets.shapes")
    src = shapes_mod.make_shapes(tmp_path / "shapes", n=6, size=48, seed=2)
    ds = load_dataset(src)
    assert ds.format == "mask-folder" and ds.task == "instance"
    coco = save_dataset(ds, tmp_path / "coco", format="coco")
    back = save_dataset(load_dataset(coco), tmp_path / "back")
    assert assert_same_masks(src / "masks", back / "masks") == 6
    assert assert_same_masks(src / "instances", back / "instances") == 6
    assert load_dataset(back).class_map == ds.class_map
