"""End to end on tiny shapes data: segscope train -> segscope predict -> segscope evaluate."""

import json

import numpy as np
import pytest

from segscope.cli.main import main

pytest.importorskip("torch")

TINY_ARGS = ["--model-arg", "encoder_depth=3", "--model-arg", "decoder_channels=[16, 8, 4]"]


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    assert exc.value.code == 0, out.err
    return out.out


@pytest.mark.slow
def test_train_predict_evaluate(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGSCOPE_PROGRESS", "0")
    data, run, pred = tmp_path / "shapes", tmp_path / "run", tmp_path / "pred"
    _run(["datasets", "make-shapes", str(data), "--n", "12", "--size", "64", "--seed", "1"], capsys)
    out = _run(
        ["train", str(data), "--out", str(run), "--epochs", "2", "--batch-size", "4", "--augment", "none"]
        + ["--image-shift", "-0.6"]
        + TINY_ARGS
        + ["--no-mlflow"],
        capsys,
    )
    assert "trained 2 epochs" in out
    assert "image_shift:\n  - -0.6\n  - 0.0\n" in (run / "config.yaml").read_text()
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(run), str(data), "--out", str(tmp_path / "p2"), "--tta-mode", "turn"])
    assert exc.value.code != 0 and "unknown TTA mode 'turn'" in capsys.readouterr().err
    assert not (tmp_path / "p2").exists()
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(run), str(data), "--out", str(tmp_path / "p3"), "--tta-mode", "d4",
              "--tta-vflip-shift", "-1"])  # fmt: skip
    assert exc.value.code != 0 and "needs TTA mode 'flip'" in capsys.readouterr().err
    assert not (tmp_path / "p3").exists()
    _run(["predict", str(run), str(data), "--out", str(tmp_path / "p4"), "--tta-mode", "flip",
          "--tta-vflip-shift", "-1", "--no-overlays"], capsys)  # fmt: skip
    params = json.loads((tmp_path / "p4" / "run.json").read_text())["params"]
    assert params["tta"] == "flip" and params["vflip_shift"] == -1
    out = _run(["predict", str(run), str(data), "--out", str(pred), "--tta"], capsys)
    assert "predicted 12 images with torch" in out
    run_info = json.loads((pred / "run.json").read_text())
    assert run_info["method"] == "model" and run_info["complete"] and run_info["num_images"] == 12
    assert run_info["params"]["tta"] == "flip" and "segscope_version" in run_info
    assert (pred / "classes.yaml").is_file() and len(list((pred / "overlays").glob("*.png"))) == 12

    _run(["evaluate", str(data), str(pred), "--task", "semantic", "--json", str(tmp_path / "e.json")], capsys)
    result = json.loads((tmp_path / "e.json").read_text())

    # Independent reference: confusion matrix of the mask files with np.bincount.
    from segscope.formats import load_dataset
    from segscope.formats.files import read_mask

    gt_ds = load_dataset(data)
    k = gt_ds.class_map.num_classes
    conf = np.zeros((k, k), np.int64)
    for sample in gt_ds:
        gt = sample.mask.astype(np.int64)
        pm = read_mask(pred / "masks" / f"{sample.id}.png").astype(np.int64)
        assert pm.shape == gt.shape
        conf += np.bincount((gt * k + pm).ravel(), minlength=k * k).reshape(k, k)
    accuracy = np.trace(conf) / conf.sum()
    assert result["counts"]["samples"] == 12
    assert result["metrics"]["pixel_accuracy"] == pytest.approx(accuracy, abs=1e-9)

    # --split predicts only that split's samples.
    split_pred = tmp_path / "pred_test"
    ws = str(tmp_path / "ws.db")
    _run(["add", str(data), "--name", "tiny", "-w", ws], capsys)
    argv = [
        "predict",
        str(run),
        str(data),
        "--out",
        str(split_pred),
        "--split",
        "test",
        "--into",
        "tiny",
        "-w",
        ws,
    ]
    out = _run(argv, capsys)
    assert "attached as run 'pred_test'" in out
    test_ids = (data / "splits" / "test.txt").read_text().split()
    assert sorted(p.stem for p in (split_pred / "masks").glob("*.png")) == sorted(test_ids)
