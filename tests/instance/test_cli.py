import json

import pytest

from segscope.cli.main import main


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


def test_models_list_shows_instance_models(capsys):
    code, out = _run(["models", "list", "mask*"], capsys)
    assert code == 0
    assert "maskrcnn-resnet18-fpn" in out and "instance" in out


def test_train_task_mismatch_is_one_line(tmp_path, capsys):
    code, out = _run(
        [
            "train",
            str(tmp_path),
            "--out",
            str(tmp_path / "r"),
            "--model",
            "maskrcnn_resnet18_fpn",
            "--no-mlflow",
        ],
        capsys,
    )
    assert code == 1
    assert out.strip().splitlines() == [
        "error: model 'maskrcnn_resnet18_fpn' is for the instance task but the task is semantic; "
        "pass --task instance or pick a model from 'segscope models list'"
    ]
    code, out = _run(
        [
            "train",
            str(tmp_path),
            "--out",
            str(tmp_path / "r"),
            "--task",
            "instance",
            "--target",
            "fg-boundary",
        ],
        capsys,
    )
    assert code == 1 and "--target fg-boundary is for semantic models" in out


@pytest.mark.slow
def test_fg_boundary_train_predict_instance_evaluate(tmp_path, capsys):
    """End to end: train on fg-boundary targets, predict instances, evaluate them as instances."""
    from segscope.datasets import make_shapes_arrays
    from segscope.formats.files import write_image, write_mask

    # One object class, stored as instance-id maps (read as an instance-folder dataset).
    arrays = make_shapes_arrays(8, size=48)
    data = tmp_path / "cells"
    for sid, image, ids in zip(arrays.ids, arrays.images, arrays.id_maps, strict=True):
        write_image(data / "images" / f"{sid}.png", image)
        write_mask(data / "instances" / f"{sid}.png", ids)
    run = tmp_path / "run"
    code, out = _run(
        [
            "train", str(data), "--out", str(run), "--target", "fg-boundary", "--epochs", "1",
            "--batch-size", "4", "--model-arg", "encoder_depth=3", "--model-arg", "decoder_channels=[16,8,4]",
            "--augment", "none", "--no-mlflow", "--per-image", "grey-percentile", "--boundary-width", "2",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, out
    assert (run / "classes.yaml").read_text().count("boundary") == 1
    config = (run / "config.yaml").read_text()
    assert "per_image: grey-percentile" in config and "boundary_width: 2" in config
    pred = tmp_path / "pred"
    code, out = _run(["predict", str(run), str(data), "--out", str(pred), "-p", "min_size=2"], capsys)
    assert code == 0, out
    coco = json.loads((pred / "instances.json").read_text())
    assert len(coco["images"]) == 8 and [c["name"] for c in coco["categories"]] == ["object"]
    assert all(0 <= a["score"] <= 1 for a in coco["annotations"])
    code, out = _run(["evaluate", str(data), str(pred), "--task", "instance"], capsys)
    assert code == 0, out
    assert "dsb" in out.lower()
    code, out = _run(
        ["predict", str(run), str(data), "--out", str(pred), "--task", "semantic", "-p", "min_size=2"], capsys
    )
    assert code == 1 and "add --task instance" in out
