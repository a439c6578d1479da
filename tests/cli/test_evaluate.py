"""``segscope evaluate`` end to end on tiny folders written with ``write_mask``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from segscope.cli.main import main
from segscope.formats.files import write_mask


@pytest.fixture
def folders(tmp_path):
    """Binary gt/pred folders: 3 samples of 16x20, the prediction shifted by 0, 1, 2 columns."""
    gts, preds = {}, {}
    for i in range(3):
        gt = np.zeros((16, 20), np.uint8)
        gt[4:12, 5:15] = 1
        pred = np.roll(gt, i, axis=1)
        write_mask(tmp_path / "gt" / "masks" / f"{i}.png", gt)
        write_mask(tmp_path / "pred" / "masks" / f"{i}.png", pred)
        gts[str(i)], preds[str(i)] = gt, pred
    return tmp_path, gts, preds


def _run(argv):
    """Run the CLI; return its exit code (Typer exits 0 on success)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def _iou(g, p, c):
    return np.sum((g == c) & (p == c)) / np.sum((g == c) | (p == c))


def test_evaluate_writes_json_csv_report(folders, capsys):
    root, gts, preds = folders
    out = root / "out"
    code = _run(
        [
            "evaluate", str(root / "gt"), str(root / "pred"), "--boundary",
            "--json", str(out / "eval.json"), "--per-sample", str(out / "rows.csv"),
            "--report", str(out / "report.html"), "--worst", "2",
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "mean_iou" in printed and "per class" in printed
    data = json.loads((out / "eval.json").read_text())
    g = np.stack(list(gts.values()))
    p = np.stack(list(preds.values()))
    # pooled over the three samples, by hand
    assert data["metrics"]["mean_iou"] == pytest.approx(np.mean([_iou(g, p, 0), _iou(g, p, 1)]))
    assert data["metrics"]["pixel_accuracy"] == pytest.approx(np.mean(g == p))
    assert data["confusion_matrix"] == [[int(np.sum((g == a) & (p == b))) for b in (0, 1)] for a in (0, 1)]
    assert data["counts"] == {"samples": 3, "missing": 0, "missing_ids": [], "extra": 0, "extra_ids": []}
    assert "boundary_iou" in data["metrics"]
    with open(out / "rows.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ["0", "1", "2"]
    assert float(rows[2]["iou"]) == pytest.approx(np.mean([_iou(gts["2"], preds["2"], c) for c in (0, 1)]))
    html = (out / "report.html").read_text()
    assert 'id="confusion"' in html and "Worst 2 samples" in html and "https://" not in html


def test_missing_error_then_empty(folders, capsys):
    root, _, _ = folders
    (root / "pred" / "masks" / "1.png").unlink()
    assert _run(["evaluate", str(root / "gt"), str(root / "pred")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 1 of 3 gt samples have no prediction (1)") and "--missing empty" in err
    argv = [
        "evaluate",
        str(root / "gt"),
        str(root / "pred"),
        "--missing",
        "empty",
        "--json",
        str(root / "e.json"),
    ]
    assert _run(argv) == 0
    data = json.loads((root / "e.json").read_text())
    assert data["counts"]["missing"] == 1 and data["counts"]["missing_ids"] == ["1"]
    assert "missing (scored empty)=1" in capsys.readouterr().out


def test_size_mismatch_one_line(folders, capsys):
    root, _, _ = folders
    write_mask(root / "pred" / "masks" / "2.png", np.zeros((16, 18), np.uint8))
    assert _run(["evaluate", str(root / "gt"), str(root / "pred")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: pred masks/2.png is (16, 18) but gt masks/2.png is (16, 20); "
        "predict at the ground-truth size (resize the prediction with nearest neighbour)"
    )


def test_bad_option_value(folders, capsys):
    root, _, _ = folders
    assert _run(["evaluate", str(root / "gt"), str(root / "pred"), "--missing", "skip"]) == 1
    assert "missing='skip' is not one of error, empty" in capsys.readouterr().err


def test_help_has_example(capsys):
    assert _run(["evaluate", "--help"]) == 0
    assert "Example" in capsys.readouterr().out


def test_split_evaluates_only_that_split(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(4):
        m = rng.integers(0, 2, (6, 7)).astype(np.uint8)
        write_mask(tmp_path / "gt" / "masks" / f"s{i}.png", m)
        write_mask(tmp_path / "pred" / "masks" / f"s{i}.png", m if i < 2 else 1 - m)
    (tmp_path / "gt" / "splits").mkdir()
    (tmp_path / "gt" / "splits" / "test.txt").write_text("s0\ns1\n")
    (tmp_path / "gt" / "splits" / "train.txt").write_text("s2\ns3\n")
    out = tmp_path / "e.json"
    with pytest.raises(SystemExit) as e:
        main(
            ["evaluate", str(tmp_path / "gt"), str(tmp_path / "pred"), "--split", "test", "--json", str(out)]
        )
    assert e.value.code == 0
    res = json.loads(out.read_text())
    assert res["counts"]["samples"] == 2 and res["metrics"]["mean_iou"] == 1.0
