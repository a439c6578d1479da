"""segscope info / validate / convert, through segscope.cli.main.main."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segscope.cli.main import main
from segscope.formats.files import read_mask, write_image, write_mask

REPO = Path(__file__).resolve().parents[2]
ISBI = REPO.parent / "shared" / "data" / "isbi2012_membrane"


def _run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / "ds" / "images" / f"{i}.png", rng.integers(0, 256, (6, 8), dtype=np.uint8))
        write_mask(tmp_path / "ds" / "masks" / f"{i}.png", (rng.random((6, 8)) > 0.25).astype(np.uint8) * 255)
    return tmp_path / "ds"


def test_info_prints_counts_and_writes_json(folder, tmp_path, capsys):
    code, out, _ = _run(["info", str(folder), "--json", str(tmp_path / "info.json")], capsys)
    assert code == 0
    assert "samples: 3" in out and "2 classes" in out and "class_0" in out and "note:" in out
    data = json.loads((tmp_path / "info.json").read_text())
    masks = np.stack([read_mask(folder / "masks" / f"{i}.png") for i in range(3)])
    assert data["samples"] == 3
    assert data["classes"][0]["percent"] == pytest.approx(100 * (masks == 0).mean(), abs=1e-3)


def test_info_with_classes_file_names_classes(folder, capsys):
    code, out, _ = _run(
        ["info", str(folder), "--classes", str(REPO / "examples/classes/isbi2012.yaml")], capsys
    )
    assert code == 0 and "membrane" in out and "cell" in out


def test_validate_ok_and_errors(folder, capsys):
    code, out, _ = _run(["validate", str(folder)], capsys)
    assert code == 0 and "ok: 3 samples, no problems" in out
    write_mask(folder / "masks" / "1.png", np.zeros((6, 7), np.uint8))
    write_image(folder / "images" / "9.png", np.zeros((6, 8), np.uint8))
    code, out, _ = _run(["validate", str(folder)], capsys)
    assert code == 1
    assert "size mismatch" in out and "missing mask" in out and "1 errors, 1 warnings" in out
    assert "masks/1.png has shape (6, 7) but images/1.png is (6, 8)" in out


def test_validate_strict_makes_missing_masks_errors(folder, capsys):
    write_image(folder / "images" / "9.png", np.zeros((6, 8), np.uint8))
    assert _run(["validate", str(folder)], capsys)[0] == 0
    code, out, _ = _run(["validate", str(folder), "--strict"], capsys)
    assert code == 1 and "1 errors, 0 warnings" in out


def test_convert_round_trip_and_errors(folder, tmp_path, capsys):
    code, out, _ = _run(["convert", str(folder), str(tmp_path / "coco"), "--to", "coco"], capsys)
    assert code == 0 and "wrote 3 samples (mask-folder -> coco)" in out
    code, out, _ = _run(
        ["convert", str(tmp_path / "coco"), str(tmp_path / "back"), "--to", "mask-folder"], capsys
    )
    assert code == 0
    for i in range(3):
        assert np.array_equal(
            read_mask(folder / "masks" / f"{i}.png"), read_mask(tmp_path / "back" / "masks" / f"{i}.png")
        )
    code, _, err = _run(["convert", str(folder), str(tmp_path / "back"), "--to", "mask-folder"], capsys)
    assert code == 1 and "error:" in err and "folder is not empty" in err and "--overwrite" in err
    assert (
        _run(["convert", str(folder), str(tmp_path / "back"), "--to", "mask-folder", "--overwrite"], capsys)[
            0
        ]
        == 0
    )
    code, _, err = _run(["convert", str(folder), str(tmp_path / "x"), "--to", "cocoo"], capsys)
    assert code == 1 and "unknown format 'cocoo' (did you mean 'coco'?)" in err


def test_missing_dataset_is_one_line_error(tmp_path, capsys):
    code, _, err = _run(["info", str(tmp_path / "nope")], capsys)
    assert code == 1 and err.strip().startswith("error:") and "no such file or folder" in err
    assert "Traceback" not in err


@pytest.mark.skipif(not ISBI.is_dir(), reason=f"real data folder {ISBI} is absent")
def test_info_isbi_with_example_classes(capsys):
    code, out, _ = _run(
        ["info", str(ISBI), "--classes", str(REPO / "examples/classes/isbi2012.yaml")], capsys
    )
    assert code == 0 and "samples: 30" in out and "membrane" in out and "21.96" in out
