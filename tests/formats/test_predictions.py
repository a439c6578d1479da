"""PredictionWriter: the prediction-folder layout, loaded back with independent readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from pycocotools import mask as mask_utils

from segscope.core.classes import ClassMap
from segscope.core.instances import Instances
from segscope.core.prediction import Prediction
from segscope.errors import DataError, ParameterError
from segscope.formats.files import read_image, read_mask
from segscope.formats.predictions import PredictionWriter

CM = ClassMap(("background", "cell"))


def _prediction(seed: int, shape: tuple[int, int] = (12, 16)) -> Prediction:
    rng = np.random.default_rng(seed)
    ids = np.zeros(shape, np.int32)
    ids[2:6, 2:7] = 1
    ids[7:11, 9:15] = 2
    probs = rng.random((*shape, 2)).astype(np.float32)
    probs /= probs.sum(axis=2, keepdims=True)
    return Prediction(
        (ids > 0).astype(np.uint8),
        probs=probs,
        instances=Instances.from_id_map(ids),
        info={"threshold": np.float64(0.5)},
    )


def test_writes_the_layout_and_loads_back(tmp_path: Path) -> None:
    out = tmp_path / "pred"
    preds = {"a": _prediction(0), "b": _prediction(1)}
    image = np.random.default_rng(2).integers(0, 255, (12, 16, 3)).astype(np.uint8)
    with PredictionWriter(
        out, CM, probs_dtype="float16", run_info={"method": "test", "params": {"k": 1}}
    ) as w:
        for sid, p in preds.items():
            w.write(sid, p, image)
    assert sorted(p.name for p in out.iterdir()) == [
        "classes.yaml",
        "instances.json",
        "masks",
        "overlays",
        "probs",
        "run.json",
    ]
    assert ClassMap.load(out / "classes.yaml") == CM
    assert yaml.safe_load((out / "classes.yaml").read_text())["classes"][1]["name"] == "cell"
    for sid, p in preds.items():
        np.testing.assert_array_equal(read_mask(out / "masks" / f"{sid}.png"), p.mask)
        probs = np.load(out / "probs" / f"{sid}.npy")
        assert probs.dtype == np.float16
        np.testing.assert_allclose(probs, p.probs, atol=1e-3)
        ov = read_image(out / "overlays" / f"{sid}.png")
        assert ov.shape == (12, 16, 3) and ov.dtype == np.uint8
        assert (ov[3, 2] == (255, 255, 0)).all()  # instance boundary drawn
    coco = json.loads((out / "instances.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == ["a.png", "b.png"]
    assert coco["images"][0] == {"id": 1, "file_name": "a.png", "width": 16, "height": 12}
    assert coco["categories"] == [{"id": 1, "name": "cell"}]
    anns = coco["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3, 4] and [a["image_id"] for a in anns] == [1, 1, 2, 2]
    for a, m in zip(anns[:2], preds["a"].instances.to_masks(), strict=True):
        decoded = mask_utils.decode(
            {"size": a["segmentation"]["size"], "counts": a["segmentation"]["counts"].encode()}
        )
        np.testing.assert_array_equal(decoded.astype(bool), m)
        assert a["area"] == int(m.sum()) and a["score"] == 1.0 and a["iscrowd"] == 0
    assert anns[0]["bbox"] == [2.0, 2.0, 5.0, 4.0]
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "test" and run["params"] == {"k": 1} and run["complete"] is True
    assert run["num_images"] == 2 and run["num_instances"] == 4
    assert run["images"]["a"] == {"threshold": 0.5}
    assert "segscope_version" in run and "timestamp" in run


def test_cocoeval_reads_instances_json(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    with PredictionWriter(tmp_path / "p", CM) as w:
        w.write("a", _prediction(0))
    coco = COCO(str(tmp_path / "p" / "instances.json"))
    assert len(coco.getAnnIds(imgIds=[1])) == 2
    np.testing.assert_array_equal(
        coco.annToMask(coco.loadAnns([2])[0]), _prediction(0).instances.to_masks()[1]
    )


def test_refuses_an_existing_run_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "pred"
    with PredictionWriter(out, CM) as w:
        w.write("a", _prediction(0))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(
        DataError,
        match=r"already holds predictions \(classes.yaml, masks, probs, instances.json, run.json\); choose another output folder or pass --overwrite",
    ):
        PredictionWriter(out, CM).open()
    with PredictionWriter(out, CM, overwrite=True, save_probs=False) as w:
        w.write("b", Prediction(np.zeros((3, 3), np.uint8)))
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["b.png"]
    assert not (out / "probs").exists() and not (out / "instances.json").exists()
    assert (out / "notes.txt").read_text() == "mine"


def test_bad_ids_values_and_options(tmp_path: Path) -> None:
    with pytest.raises(
        ParameterError, match="probs_dtype 'float64' is not supported; use float32 or float16"
    ):
        PredictionWriter(tmp_path / "x", CM, probs_dtype="float64")
    with PredictionWriter(tmp_path / "p", CM) as w:
        with pytest.raises(DataError, match=r"sample id 'a/b' cannot be a file name"):
            w.write("a/b", Prediction(np.zeros((2, 2), np.uint8)))
        w.write("a", Prediction(np.zeros((2, 2), np.uint8)))
        with pytest.raises(DataError, match="sample id 'a' was written twice"):
            w.write("a", Prediction(np.zeros((2, 2), np.uint8)))
        with pytest.raises(DataError, match=r"label values \[3\] are not classes 0..1"):
            w.write("c", Prediction(np.full((2, 2), 3, np.uint8)))
        with pytest.raises(DataError, match=r"image shape \(5, 5\) differs from mask shape \(2, 2\)"):
            w.write("d", Prediction(np.zeros((2, 2), np.uint8)), np.zeros((5, 5), np.uint8))


def test_interrupted_run_is_marked_incomplete(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with PredictionWriter(tmp_path / "p", CM) as w:
            w.write("a", _prediction(0))
            raise RuntimeError("stop")
    run = json.loads((tmp_path / "p" / "run.json").read_text())
    assert run["complete"] is False and run["num_images"] == 1
    assert (tmp_path / "p" / "instances.json").is_file()


def test_segment_maps_are_written_as_16_bit_ids(tmp_path: Path) -> None:
    seg = (np.arange(30 * 30).reshape(30, 30) + 1).astype(np.int32)  # 900 segments > 255
    pred = Prediction(seg, info={"kind": "segments"})
    with PredictionWriter(tmp_path / "p", ClassMap(("background", "segment"))) as w:
        w.write("s", pred, np.zeros((30, 30), np.uint8))
    back = read_mask(tmp_path / "p" / "masks" / "s.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, seg)


def test_masks_of_a_value_mapped_dataset_load_back_as_class_ids(tmp_path: Path) -> None:
    # ISBI-style masks store 0 (membrane) and 255 (cell). Predictions are class ids 0/1, so the
    # prediction folder's classes.yaml must not carry the {0: 0, 255: 1} mapping: with it, the
    # folder could not be read back (1 is no stored value) and evaluation failed.
    from segscope.formats import load_dataset

    cm = ClassMap(("membrane", "cell"), values={0: 0, 255: 1})
    mask = np.array([[0, 1, 1], [1, 0, 1]], np.uint8)
    with PredictionWriter(tmp_path / "pred", cm, overlays=False) as w:
        w.write("a", Prediction(mask))
    saved = ClassMap.load(tmp_path / "pred" / "classes.yaml")
    assert saved.names == cm.names and saved.colors == cm.colors and saved.values is None
    np.testing.assert_array_equal(read_mask(tmp_path / "pred" / "masks" / "a.png"), mask)
    np.testing.assert_array_equal(load_dataset(tmp_path / "pred")["a"].mask, mask)
