"""``segscope embed``, ``segscope curate ...`` and ``segscope select`` on a small shapes folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.curation.conftest import simulated_probs

from segscope.catalog import Catalog
from segscope.cli.main import main
from segscope.core.prediction import Prediction
from segscope.datasets.shapes import make_shapes, shapes_class_map
from segscope.formats import load_dataset
from segscope.formats.files import read_mask, write_image, write_mask
from segscope.formats.predictions import PredictionWriter


def _ok(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code in (0, None)


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    """16 shapes with a planted copy across splits, two corrupted masks, and simulated-model probs."""
    root = tmp_path_factory.mktemp("curate")
    data = make_shapes(root / "shapes", n=16, size=64, seed=2)
    # a resized copy of a train image, put in the test split -> a leak
    train = (data / "splits" / "train.txt").read_text().split()
    img = load_dataset(data)[train[0]].image
    import cv2

    write_image(data / "images" / "copy.png", cv2.resize(img, (56, 56), interpolation=cv2.INTER_AREA)[:, :])
    write_mask(
        data / "masks" / "copy.png",
        cv2.resize(read_mask(data / "masks" / f"{train[0]}.png"), (56, 56), interpolation=cv2.INTER_NEAREST),
    )
    with open(data / "splits" / "test.txt", "a") as fh:
        fh.write("copy\n")
    ds = load_dataset(data)
    rng = np.random.default_rng(0)
    truth = {s.id: s.mask for s in ds}
    corrupted = []
    for sid in ds.ids[2:4]:  # erase every object of two images
        write_mask(data / "masks" / f"{sid}.png", np.zeros_like(truth[sid]))
        corrupted.append(sid)
    with PredictionWriter(root / "pred", shapes_class_map(), overlays=False) as w:
        for sid, m in truth.items():
            w.write(sid, Prediction.from_probs(simulated_probs(m, rng, num_classes=4, noise=2.0)))
    return {
        "data": data,
        "pred": root / "pred",
        "root": root,
        "corrupted": corrupted,
        "leak": [train[0], "copy"],
    }


def test_embed_duplicates_leakage_and_catalog(case, capsys):
    ws = case["root"] / "ws.db"
    _ok(["add", str(case["data"]), "--name", "shapes", "--workspace", str(ws)])
    emb = case["root"] / "emb.npz"
    _ok(["embed", str(case["data"]), "--out", str(emb), "--catalog", "shapes", "--workspace", str(ws)])
    z = np.load(emb)
    assert z["vectors"].shape == (17, 410) and z["xy"].shape == (17, 2)
    _ok(["curate", "duplicates", str(case["data"]), "--catalog", "shapes", "--workspace", str(ws),
         "--out", str(case["root"] / "dups.json")])  # fmt: skip
    groups = json.loads((case["root"] / "dups.json").read_text())["groups"]
    assert [sorted(g) for g in groups] == [sorted(case["leak"])]
    _ok(["curate", "leakage", str(case["data"])])
    out = capsys.readouterr().out
    assert "1 groups leak across splits" in out and "test, train" in out
    cat = Catalog(ws)
    assert cat.query("shapes", tags=["leak"]).total == 2
    assert set(cat.values("shapes", "embeddings")[case["leak"][0]]) == {"x", "y"}
    _ok(["curate", "uniqueness", str(case["data"]), "--embeddings", str(emb), "--pred", str(case["pred"]),
         "--catalog", "shapes", "--workspace", str(ws)])  # fmt: skip
    vals = cat.values("shapes", "uniqueness")
    assert vals["copy"]["uniqueness"] < np.median([v["uniqueness"] for v in vals.values()])
    assert "hardness" in vals["copy"]


def test_label_errors_command_ranks_corrupted_first(case, capsys):
    out = case["root"] / "le"
    _ok(["curate", "label-errors", str(case["data"]), "--pred", str(case["pred"]), "--out", str(out)])
    res = json.loads((out / "label_errors.json").read_text())
    assert sorted(r["id"] for r in res["images"][:2]) == sorted(case["corrupted"])
    assert res["findings"][0]["kind"] == "missing"
    assert len(list((out / "heatmaps").glob("*.png"))) == 17
    assert "likely label errors" in capsys.readouterr().out


def test_select_exports_batch(case, capsys):
    out = case["root"] / "batch"
    emb = case["root"] / "emb2.npz"
    _ok(["embed", str(case["data"]), "--out", str(emb), "--map", "none"])
    _ok(["select", str(case["data"]), "--pred", str(case["pred"]), "--embeddings", str(emb),
         "--budget", "4", "--out", str(out)])  # fmt: skip
    sel = json.loads((out / "selection.json").read_text())
    assert len(sel["ids"]) == 4 and sel["strategy"] == "entropy-diversity"
    batch = load_dataset(out, format="mask-folder")
    assert sorted(batch.ids) == sorted(sel["ids"])
    pred = load_dataset(case["pred"])
    for s in batch:
        np.testing.assert_array_equal(s.mask, pred[s.id].mask)
    assert (out / "annotations.json").is_file()


def test_errors_are_one_line(case, capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "select",
                str(case["data"]),
                "--budget",
                "2",
                "--out",
                str(case["root"] / "x"),
                "--strategy",
                "entropy",
            ]
        )
    assert exc.value.code == 1
    assert "needs --pred" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                "select",
                str(case["data"]),
                "--budget",
                "2",
                "--out",
                str(case["root"] / "x"),
                "--strategy",
                "entropi",
            ]
        )
    assert "did you mean 'entropy'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["curate", "duplicates", str(case["data"]), "--method", "embedding"])
    assert "needs embeddings=" in capsys.readouterr().err
