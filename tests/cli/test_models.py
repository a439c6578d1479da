import pytest

from segscope.cli.main import main


def _has_cuda():
    import torch

    return torch.cuda.is_available()


def test_models_list_wildcard(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["models", "list", "lraspp*"])
    assert exc.value.code == 0
    assert "lraspp-mobilenet-v3-large" in capsys.readouterr().out


def test_train_errors_print_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", str(tmp_path), "--out", str(tmp_path / "run"), "--resume", "--no-mlflow"])
    assert exc.value.code == 1
    assert "nothing to resume (no checkpoints/last.ckpt); drop --resume" in capsys.readouterr().err


def test_export_unknown_format(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path), "--format", "tflite"])
    assert "unknown export format 'tflite'; use one of onnx" in capsys.readouterr().err


@pytest.mark.skipif(_has_cuda(), reason="checks the error on a machine without a GPU")
def test_predict_on_a_missing_gpu_prints_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "p"), "--device", "cuda"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "--device cuda but torch sees no CUDA GPU; use --device cpu (or auto)" in err


def _one_line_error(args, capsys):
    """stderr of ``segscope ARGS``, which must exit with status 1."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 1
    return capsys.readouterr().err


def test_predict_malformed_param_names_its_own_flag(tmp_path, capsys):
    err = _one_line_error(
        ["predict", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "p"), "-p", "min_size"], capsys
    )
    assert "--param 'min_size' is not KEY=VALUE; e.g. --param min_size=20" in err
    assert "--model-arg" not in err


def test_train_malformed_model_arg(tmp_path, capsys):
    err = _one_line_error(
        ["train", str(tmp_path), "--out", str(tmp_path / "run"), "--model-arg", "foo", "--no-mlflow"], capsys
    )
    assert "--model-arg 'foo' is not KEY=VALUE; e.g. --model-arg encoder_depth=3" in err


def test_train_malformed_image_shift(tmp_path, capsys):
    err = _one_line_error(
        ["train", str(tmp_path), "--out", str(tmp_path / "run"), "--image-shift", "up", "--no-mlflow"], capsys
    )
    assert "--image-shift 'up' is not DY or DY,DX in pixels; e.g. --image-shift -0.6" in err
