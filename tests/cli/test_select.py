"""``segscope select POOL --model MODEL``: predict the pool, score, select, export pre-annotations.

A tiny U-Net trained for two steps on the shapes dataset is the model; the reference is the
prediction-folder path (``segscope predict`` + ``segscope embed --method model`` +
``segscope select --pred``), which must pick the same images and export the same batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segscope.cli.main import main
from segscope.datasets.shapes import make_shapes, shapes_class_map
from segscope.formats import load_dataset

torch = pytest.importorskip("torch")


def _ok(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code in (0, None)


def _fails(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line, no traceback
    return err


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    """A 10-image shapes pool and a tiny U-Net trained for two Adam steps on it."""
    from segscope.models import Preprocessing, create_model, save_model

    root = tmp_path_factory.mktemp("select")
    data = make_shapes(root / "pool", n=10, size=48, seed=4)
    ds = load_dataset(data)
    torch.manual_seed(0)
    net = create_model(
        "unet", encoder="resnet18", in_channels=3, num_classes=4, encoder_depth=3, decoder_channels=(16, 8, 4)
    )
    pre = Preprocessing(
        3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), scale=255.0, class_map=shapes_class_map().to_dict()
    )
    x = torch.from_numpy(np.stack([pre.apply(s.image) for s in ds]))
    y = torch.from_numpy(np.stack([s.mask for s in ds]).astype(np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    losses = []
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(net.logits(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert all(np.isfinite(losses))
    save_model(root / "model.pt", net.eval(), pre)
    return {"root": root, "data": data, "model": root / "model.pt", "ids": ds.ids}


def _batch(out: Path) -> tuple[dict, dict[str, np.ndarray], dict]:
    sel = json.loads((out / "selection.json").read_text())
    masks = {s.id: s.mask for s in load_dataset(out, format="mask-folder")}
    coco = json.loads((out / "annotations.json").read_text())
    return sel, masks, coco


@pytest.mark.slow
def test_model_selection_equals_the_prediction_folder_path(case, capsys):
    from segscope.curation import acquisition_score
    from segscope.inference import Predictor

    root, data, model = case["root"], case["data"], case["model"]
    labelled = root / "labelled.txt"
    labelled.write_text(f"{case['ids'][0]}\n{case['ids'][1]}\n")
    common = ["--budget", "3", "--labelled", str(labelled), "--seed", "1"]
    _ok(["select", str(data), "--model", str(model), "--strategy", "entropy+diversity", "--out", str(root / "a"),
         *common])  # fmt: skip
    out = capsys.readouterr().out
    assert "selected 3 of 8 (entropy-diversity" in out and "embedding: model encoder" in out
    sel, masks, coco = _batch(root / "a")
    assert len(sel["ids"]) == 3 and sel["strategy"] == "entropy-diversity"
    assert not set(sel["ids"]) & set(case["ids"][:2])  # labelled images are not picked
    assert sorted(sel["scores"]) == sorted(case["ids"][2:])  # every unlabelled image scored
    assert sel["params"]["measure"] == "entropy" and sel["params"]["embedding"].startswith("model encoder")
    # the scores and pre-annotations are the model's own, recomputed here
    predictor = Predictor.load(model)
    pool = load_dataset(data)
    for sid in case["ids"][2:]:
        pred = predictor.predict(pool[sid].image)
        assert sel["scores"][sid] == pytest.approx(acquisition_score(pred.probs, reduce="topk"), abs=1e-6)
        if sid in masks:
            np.testing.assert_array_equal(masks[sid], pred.mask)
    assert sorted(masks) == sorted(sel["ids"]) and coco["annotations"]
    assert {im["file_name"] for im in coco["images"]} == {f"{i}.png" for i in sel["ids"]}

    # the same selection through a saved prediction folder and a model embedding file
    _ok(["predict", str(model), str(data), "--out", str(root / "pred"), "--no-overlays"])
    _ok(["embed", str(data), "--method", "model", "--model", str(model), "--map", "none",
         "--out", str(root / "emb.npz")])  # fmt: skip
    _ok(["select", str(data), "--pred", str(root / "pred"), "--embeddings", str(root / "emb.npz"),
         "--strategy", "entropy-diversity", "--out", str(root / "b"), *common])  # fmt: skip
    sel_b, masks_b, coco_b = _batch(root / "b")
    assert sel_b["ids"] == sel["ids"]
    assert sel_b["scores"] == pytest.approx(sel["scores"], abs=1e-6)
    for sid in sel["ids"]:
        np.testing.assert_array_equal(masks_b[sid], masks[sid])
    assert coco_b["annotations"] == coco["annotations"] and coco_b["categories"] == coco["categories"]


@pytest.mark.slow
def test_onnx_model_tiled_uses_the_descriptor_embedding(case, capsys):
    from segscope.inference import Predictor, export_onnx

    root, data = case["root"], case["data"]
    onnx = root / "model.onnx"
    export_onnx(case["model"], onnx)
    _ok(["select", str(data), "--model", str(onnx), "--strategy", "margin-diversity", "--budget", "2",
         "--tile", "32", "--overlap", "8", "--out", str(root / "c")])  # fmt: skip
    assert "embedding: descriptor" in capsys.readouterr().out
    sel, masks, _ = _batch(root / "c")
    assert sel["params"]["backend"] == "onnx" and sel["params"]["measure"] == "margin"
    assert sel["params"]["tile"] == 32 and len(sel["ids"]) == 2
    predictor = Predictor.load(onnx)
    pool = load_dataset(data)
    for sid in sel["ids"]:
        np.testing.assert_array_equal(masks[sid], predictor.predict(pool[sid].image, tile=32, overlap=8).mask)


def test_pred_or_model_exactly_one(tmp_path, capsys):
    data = str(make_shapes(tmp_path / "pool", n=3, size=32))
    base = ["select", data, "--budget", "2", "--out", str(tmp_path / "x")]
    err = _fails([*base, "--pred", str(tmp_path), "--model", str(tmp_path / "run")], capsys)
    assert "give exactly one of --pred" in err
    err = _fails([*base, "--strategy", "margin"], capsys)
    assert "needs --pred" in err and "--model" in err
    err = _fails([*base, "--model", str(tmp_path / "missing-run")], capsys)
    assert "missing-run" in err and "no such model file or run dir" in err
    err = _fails([*base, "--model", str(tmp_path / "run"), "--strategy", "entropy+diversty"], capsys)
    assert "did you mean 'entropy-diversity'" in err


def test_tta_mode_scores_with_that_mode_and_a_wrong_one_fails_first(case, capsys):
    from segscope.curation import acquisition_score
    from segscope.inference import Predictor

    root, data, model = case["root"], case["data"], case["model"]
    err = _fails(["select", str(data), "--model", str(model), "--strategy", "entropy", "--budget", "2",
                  "--tta-mode", "turn", "--out", str(root / "bad")], capsys)  # fmt: skip
    assert "unknown TTA mode 'turn'" in err and not (root / "bad").exists()
    _ok(["select", str(data), "--model", str(model), "--strategy", "entropy", "--budget", "2",
         "--tta-mode", "hflip", "--out", str(root / "h")])  # fmt: skip
    sel = json.loads((root / "h" / "selection.json").read_text())
    assert sel["params"]["tta"] == "hflip"
    predictor, pool = Predictor.load(model, device="cpu"), load_dataset(data)
    sid = case["ids"][0]
    expected = acquisition_score(predictor.predict(pool[sid].image, tta="hflip").probs, reduce="topk")
    assert sel["scores"][sid] == pytest.approx(expected, abs=1e-6)
    plain = acquisition_score(predictor.predict(pool[sid].image).probs, reduce="topk")
    assert abs(expected - plain) > 1e-6  # the mode changed what was scored
