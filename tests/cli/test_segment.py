"""``segscope segment`` and ``segscope methods``: files written and loaded back, errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from segscope.classical import collect_images, segment, segment_files
from segscope.cli.main import main
from segscope.core.classes import ClassMap
from segscope.errors import DataError
from segscope.formats.files import read_mask, write_image


def _ok(argv: list[str]) -> None:
    """Run the CLI and require a zero exit status (Typer exits even on success)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code in (0, None)


def _disks(shape: tuple[int, int] = (40, 60)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = np.full(shape, 20, np.uint8)
    img[(yy - 20) ** 2 + (xx - 18) ** 2 < 100] = 200
    img[(yy - 20) ** 2 + (xx - 42) ** 2 < 100] = 200
    return img


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    write_image(folder / "one.png", _disks())
    write_image(folder / "sub" / "two.png", np.dstack([_disks()] * 3))
    np.save(folder / "three.npy", np.dstack([_disks().astype(np.float32)] * 5))
    (folder / "readme.txt").write_text("not an image")
    return folder


def test_segment_cli_writes_the_layout(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _ok(["segment", str(images), "--method", "watershed", "--param", "min_distance=4", "-o", str(out)])
    text = capsys.readouterr().out
    assert "images" in text and "3" in text and "instances" in text
    ids = ["one", "three", "two"]
    assert sorted(p.stem for p in (out / "masks").iterdir()) == ids
    assert sorted(p.stem for p in (out / "overlays").iterdir()) == ids
    assert ClassMap.load(out / "classes.yaml").names == ("background", "foreground")
    coco = json.loads((out / "instances.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "watershed" and run["params"]["min_distance"] == 4 and run["num_images"] == 3
    image_ids = {im["file_name"]: im["id"] for im in coco["images"]}
    for sid in ids:
        path = next(p for p in images.rglob(f"{sid}.*"))
        image = np.load(path) if path.suffix == ".npy" else None
        expected = segment(image if image is not None else _load(path), "watershed", min_distance=4)
        np.testing.assert_array_equal(read_mask(out / "masks" / f"{sid}.png"), expected.mask)
        anns = [a for a in coco["annotations"] if a["image_id"] == image_ids[f"{sid}.png"]]
        assert len(anns) == len(expected.instances) == 2
        rles = [
            {"size": a["segmentation"]["size"], "counts": a["segmentation"]["counts"].encode()} for a in anns
        ]
        np.testing.assert_array_equal(
            np.moveaxis(mask_utils.decode(rles), -1, 0).astype(bool), expected.instances.to_masks()
        )


def _load(path: Path) -> np.ndarray:
    from segscope.formats.files import read_image

    return read_image(path)


def test_segment_cli_probs_round_trip(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "km"
    _ok(["segment", str(images / "one.png"), "-m", "kmeans", "-p", "k=2", "-o", str(out), "--no-overlays"])
    probs = np.load(out / "probs" / "one.npy")
    expected = segment(_disks(), "kmeans", k=2)
    np.testing.assert_array_equal(probs, expected.probs)
    assert not (out / "overlays").exists() and not (out / "instances.json").exists()


def test_segment_cli_errors_are_one_line(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["-m", "otsuu"], "unknown method 'otsuu' (did you mean 'otsu'?)"),
        (
            ["-m", "otsu", "-p", "polarty=dark"],
            "has no parameter 'polarty' (did you mean 'polarity'?); valid parameters: nbins, polarity, channel",
        ),
        (["-m", "otsu", "-p", "nbins=x"], "parameter 'nbins' got 'x', which is not an int"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(["segment", str(images), "-o", str(tmp_path / "o"), *extra])
        assert exc.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    out = tmp_path / "twice"
    _ok(["segment", str(images), "-m", "otsu", "-o", str(out)])
    with pytest.raises(SystemExit):
        main(["segment", str(images), "-m", "otsu", "-o", str(out)])
    assert "pass --overwrite" in capsys.readouterr().err
    _ok(["segment", str(images), "-m", "li", "-o", str(out), "--overwrite"])
    assert json.loads((out / "run.json").read_text())["method"] == "li"


def test_segment_files_classes_must_match(images: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="the classes file has 3 classes but multi-otsu gives 2"):
        segment_files(
            [images], "multi-otsu", tmp_path / "o", params={"classes": 2}, class_map=ClassMap.default(3)
        )
    summary = segment_files(
        [images / "one.png"], "otsu", tmp_path / "named", class_map=ClassMap(("background", "nucleus"))
    )
    assert summary.images == 1 and summary.instances is None
    assert ClassMap.load(tmp_path / "named" / "classes.yaml").names == ("background", "nucleus")


def test_collect_images_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        collect_images([tmp_path / "missing"])
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataError, match="not an image file"):
        collect_images([tmp_path / "a.txt"])
    write_image(tmp_path / "x" / "a.png", np.zeros((2, 2), np.uint8))
    write_image(tmp_path / "y" / "a.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match="have the same id 'a'"):
        collect_images([tmp_path / "x", tmp_path / "y"])


def test_methods_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    _ok(["methods", "list"])
    text = capsys.readouterr().out
    for name in ("otsu", "watershed", "kmeans", "slic", "random-walker"):
        assert name in text
    _ok(["methods", "list", "*otsu"])
    text = capsys.readouterr().out
    assert "multi-otsu" in text and "watershed" not in text
    _ok(["methods", "show", "kmeans"])
    text = capsys.readouterr().out
    assert "fuzzy" in text and "spatial" in text and "polarity" in text
    with pytest.raises(SystemExit):
        main(["methods", "show", "kmean"])
    assert "did you mean 'kmeans'" in capsys.readouterr().err


def test_segment_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    assert "Example: segscope segment" in capsys.readouterr().out
