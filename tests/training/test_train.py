import csv
import warnings

import numpy as np
import pytest

from segscope.errors import DataError, ParameterError
from segscope.training import check_augmentation, make_augmentation, make_loss, train

from .conftest import TINY_KW, disks

torch = pytest.importorskip("torch")

FAST = {"model_kwargs": TINY_KW, "mlflow": False, "overlays": 0, "augment": "none", "batch_size": 4}


def _rows(run):
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_training_lowers_loss_and_learns_disks(tmp_path):
    disk_data = disks(48)
    result = train(disk_data, tmp_path / "run", epochs=6, lr=1e-2, schedule="none", **FAST)
    rows = _rows(tmp_path / "run")
    assert [int(r["epoch"]) for r in rows] == list(range(6))
    assert float(rows[-1]["train_loss"]) < 0.5 * float(rows[0]["train_loss"])
    # Predicting all background scores mIoU ~0.45 here (background IoU ~0.9, disk 0); 0.7 needs
    # the disks found. Typical value after 6 epochs: ~0.94 (BatchNorm statistics settle by epoch 4).
    assert result.best_val_miou > 0.7
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()
    assert (tmp_path / "run" / "config.yaml").is_file()

    # resume continues from the last epoch and appends to metrics.csv
    with pytest.raises(ParameterError, match="pass --resume"):
        train(disk_data, tmp_path / "run", epochs=7, **FAST)
    again = train(disk_data, tmp_path / "run", epochs=7, resume=True, mlflow=False)
    rows2 = _rows(tmp_path / "run")
    assert [int(r["epoch"]) for r in rows2] == list(range(7))
    assert rows2[:6] == rows
    assert again.epochs_run == 7


@pytest.mark.slow
def test_five_channel_float_trains_and_predicts(tmp_path):
    from segscope.inference import Predictor

    data = disks(12, 32, channels=5, dtype=np.float32)
    result = train(data, tmp_path / "run", epochs=1, **FAST)
    predictor = Predictor.load(tmp_path / "run")
    assert predictor.preprocessing.in_channels == 5 and predictor.preprocessing.scale == 1.0
    pred = predictor.predict(data[0].image)
    assert pred.mask.shape == (32, 32) and pred.probs.shape == (32, 32, 2)
    assert result.best_checkpoint.is_file()


def test_repeat_on_fewer_than_eight_images(tmp_path):
    """--repeat with under 8 images: the start-up augmentation check looks at each image once."""
    data = disks(5, 32)  # 4 training images, repeated 3 times
    result = train(data, tmp_path / "run", epochs=1, repeat=3, **FAST)
    assert [int(r["epoch"]) for r in _rows(tmp_path / "run")] == [0]
    assert result.last_checkpoint.is_file()


def test_last_checkpoint_is_the_last_epoch_when_validation_gets_worse(tmp_path, monkeypatch):
    """last.ckpt holds the latest epoch, not the best one (Lightning's save_last=True copies the
    best), so --resume continues where training stopped and best.ckpt stays the best epoch."""
    from segscope.training.module import SegmentationTask

    def worse_each_epoch(self):
        self.log("val_miou", 1.0 - 0.1 * self.current_epoch)

    monkeypatch.setattr(SegmentationTask, "on_validation_epoch_end", worse_each_epoch)
    data = disks(8, 32)
    result = train(data, tmp_path / "run", epochs=3, **FAST)
    ckpt = {
        p.stem: torch.load(p, map_location="cpu", weights_only=False)
        for p in (result.best_checkpoint, result.last_checkpoint)
    }
    assert (ckpt["best"]["epoch"], ckpt["last"]["epoch"]) == (0, 2)
    assert result.best_val_miou == 1.0
    again = train(data, tmp_path / "run", epochs=4, resume=True, **FAST)
    assert [int(r["epoch"]) for r in _rows(tmp_path / "run")] == [0, 1, 2, 3]
    last = torch.load(again.last_checkpoint, map_location="cpu", weights_only=False)
    assert last["epoch"] == 3 and last["global_step"] == 4 * ckpt["last"]["global_step"] // 3
    assert torch.load(again.best_checkpoint, map_location="cpu", weights_only=False)["epoch"] == 0
    assert again.best_val_miou == 1.0


def test_quiet_training_silences_lightning_info(tmp_path, caplog):
    """progress_bar=False (API loops, benchmarks) drops Lightning's info lines; with the bar they stay."""
    import logging

    data = disks(8, 32)
    caplog.set_level(logging.INFO, logger="lightning.pytorch")
    for bar in (True, False):
        caplog.clear()
        train(data, tmp_path / f"run_{bar}", epochs=1, progress_bar=bar, **FAST)
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("lightning.pytorch")]
        assert any("GPU available" in line for line in lines) == bar, lines
    assert logging.getLogger("lightning.pytorch").level == logging.INFO  # restored


@pytest.mark.slow
def test_mlflow_logs_params_metrics_and_artifacts(tmp_path, disk_data):
    import mlflow

    result = train(
        disk_data, tmp_path / "runs" / "a", epochs=1, model_kwargs=TINY_KW, overlays=2, augment="none"
    )
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlruns' / 'mlflow.db'}")
    run = client.get_run(result.mlflow_run_id)
    assert run.data.params["lr"] == "0.001"
    assert "val_miou" in run.data.metrics
    names = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"best.ckpt", "config.yaml", "metrics.csv", "overlays"} <= names


def test_augmentation_check_catches_bad_mask_values_and_vanishing_classes():
    import albumentations as A
    import cv2

    rng = np.random.default_rng(0)
    image = rng.random((32, 32, 1), dtype=np.float32)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 3
    mask[:4] = 255  # ignore: linear interpolation against it makes values in 4..254
    bad = A.Compose([A.Affine(rotate=(30, 30), mask_interpolation=cv2.INTER_LINEAR, p=1.0)])
    with pytest.raises(DataError, match=r"not classes 0\.\.3 nor ignore 255; resize masks with nearest"):
        check_augmentation(bad, [(image, mask)], num_classes=4)
    small = np.zeros((32, 32), np.uint8)
    small[0, 31] = 2
    with pytest.warns(UserWarning, match="class 2 appears .* a crop may be too small"):
        check_augmentation(make_augmentation("none", crop=8), [(image, small)], num_classes=4, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_augmentation(make_augmentation("default"), [(image, mask)], num_classes=4) == []
    with pytest.raises(ParameterError, match="unknown augmentation 'fancy'"):
        make_augmentation("fancy")


def test_losses_ignore_index_and_weights():
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))
    target[:, :2] = 255
    for name in ("ce", "dice", "ce+dice", "focal"):
        assert torch.isfinite(make_loss(name, num_classes=3)(logits, target))
    ce = make_loss("ce", num_classes=3)(logits, target)
    ref = torch.nn.functional.cross_entropy(logits, target, ignore_index=255)
    torch.testing.assert_close(ce, ref)
    with pytest.raises(ParameterError, match="got 2 class weights for 3 classes"):
        make_loss("ce", num_classes=3, class_weights=[1, 2])
    with pytest.raises(ParameterError, match=r"unknown loss 'dise' \(did you mean 'dice'\?\)"):
        make_loss("dise", num_classes=3)


def test_bad_accelerator_and_devices_are_one_line_errors(tmp_path, disk_data):
    with pytest.raises(ParameterError, match="unknown accelerator 'tpu'"):
        train(disk_data, tmp_path / "a", epochs=1, accelerator="tpu", **FAST)
    with pytest.raises(ParameterError, match="devices 0 must be >= 1"):
        train(disk_data, tmp_path / "b", epochs=1, devices=0, **FAST)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="sees no CUDA GPU"):
            train(disk_data, tmp_path / "c", epochs=1, accelerator="gpu", **FAST)


def test_precision_names_and_errors(monkeypatch):
    import importlib

    train_module = importlib.import_module("segscope.training.train")
    pick = train_module._precision
    assert pick("auto", use_gpu=True, instance=False) == "16-mixed"
    # Mask R-CNN: float32, as torchvision's detection references.
    assert pick("auto", use_gpu=True, instance=True) == "32-true"
    assert pick("16", use_gpu=True, instance=True) == "16-mixed"  # mixed precision on request
    assert pick("32", use_gpu=False, instance=False) == "32-true"
    assert pick("bf16", use_gpu=False, instance=False) == "bf16-mixed"
    assert pick("bf16-mixed", use_gpu=False, instance=False) == "bf16-mixed"
    monkeypatch.setattr(train_module, "native_bf16", lambda: True)
    assert pick("auto", use_gpu=False, instance=False) == "bf16-mixed"
    assert pick("auto", use_gpu=False, instance=True) == "32-true"  # Mask R-CNN stays float32 on CPU
    monkeypatch.setattr(train_module, "native_bf16", lambda: False)
    assert pick("auto", use_gpu=False, instance=False) == "32-true"  # emulated bfloat16 is slower
    with pytest.raises(ParameterError, match="unknown precision 'half'; use auto, 32, bf16 or 16"):
        pick("half", use_gpu=False, instance=False)
    with pytest.raises(ParameterError, match="--precision 16 needs a GPU"):
        pick("16", use_gpu=False, instance=False)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16", "32"])
def test_validation_score_is_the_float32_score_of_the_checkpoint(tmp_path, precision):
    """Whatever the training precision (bfloat16 mixed trains about 2x faster on CPUs with native
    bfloat16), validation runs in float32 in channels-last layout, so the logged val mIoU is what
    `segscope predict` gives for the checkpoint."""
    from segscope.inference import Predictor
    from segscope.metrics.semantic import ConfusionMatrix

    data = disks(48)
    result = train(data, tmp_path / "run", epochs=6, lr=1e-2, schedule="none", precision=precision, **FAST)
    rows = _rows(tmp_path / "run")
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    predictor = Predictor.load(result.last_checkpoint)
    cm = ConfusionMatrix(2)
    for sample in data.split("val"):
        cm.update(sample.mask, predictor.predict(sample.image).mask)
    assert float(rows[-1]["val_miou"]) == pytest.approx(float(cm.compute()["mean_iou"]), abs=1e-6)
    assert float(rows[-1]["val_miou"]) > 0.6


def test_max_minutes_stops_after_a_whole_epoch(tmp_path):
    data = disks(8, 32)
    with pytest.raises(ParameterError, match="max_minutes 0 must be > 0"):
        train(data, tmp_path / "bad", epochs=2, max_minutes=0, **FAST)
    result = train(data, tmp_path / "run", epochs=500, max_minutes=0.05, **FAST)  # 3 s
    rows = _rows(tmp_path / "run")
    # Stopped by time, not by epochs, and every epoch run was validated and checkpointed.
    assert 1 <= result.epochs_run < 500 and len(rows) == result.epochs_run
    assert all(r["val_miou"] for r in rows)
    last = torch.load(result.last_checkpoint, map_location="cpu", weights_only=False)
    assert last["epoch"] == result.epochs_run - 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_training_in_mixed_precision_learns_resumes_and_predicts(tmp_path):
    from segscope.inference import Predictor

    disk_data = disks(48)
    result = train(disk_data, tmp_path / "run", epochs=6, lr=1e-2, schedule="none", accelerator="gpu", **FAST)
    rows = _rows(tmp_path / "run")
    assert float(rows[-1]["train_loss"]) < 0.5 * float(rows[0]["train_loss"])
    assert result.best_val_miou > 0.7  # the CPU test's bar (test_training_lowers_loss_and_learns_disks)
    ckpt = torch.load(result.last_checkpoint, map_location="cpu", weights_only=False)
    # precision auto on a GPU is 16-bit mixed: Lightning saves the gradient scaler's state.
    assert "MixedPrecision" in ckpt, sorted(ckpt)
    again = train(disk_data, tmp_path / "run", epochs=7, resume=True, mlflow=False)
    assert again.epochs_run == 7 and len(_rows(tmp_path / "run")) == 7
    image = disk_data[0].image
    cpu = Predictor.load(result.best_checkpoint, device="cpu").predict_probs(image)
    gpu = Predictor.load(result.best_checkpoint, device="cuda").predict_probs(image)
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)


def test_max_minutes_counts_the_time_before_a_resume(tmp_path):
    data = disks(8, 32)
    first = train(data, tmp_path / "run", epochs=4, max_minutes=60, **FAST)

    def elapsed(path):
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        timer = next(v for k, v in ckpt["callbacks"].items() if k.startswith("Timer"))
        return timer["time_elapsed"]["train"]

    before = elapsed(first.last_checkpoint)
    again = train(data, tmp_path / "run", epochs=5, resume=True)
    # The resumed run's Timer starts from the 4 epochs before it, not from zero (one epoch).
    assert again.epochs_run == 5 and elapsed(again.last_checkpoint) > before > 0


def test_ema_checkpoints_hold_the_averaged_weights_and_resume_keeps_both(tmp_path):
    """--ema: validation and the checkpoints' state_dict (what Predictor loads) are the averaged
    weights; the raw weights travel beside them, so --resume continues both."""
    from segscope.inference import Predictor
    from segscope.metrics.semantic import ConfusionMatrix

    data = disks(16, 32)
    with pytest.raises(ParameterError, match="ema 1.5 must be a decay in"):
        train(data, tmp_path / "bad", epochs=1, ema=1.5, **FAST)
    result = train(data, tmp_path / "run", epochs=2, lr=1e-2, ema=0.9, **FAST)
    ckpt = torch.load(result.last_checkpoint, map_location="cpu", weights_only=False)
    averaged, raw = ckpt["state_dict"], ckpt["current_model_state"]
    assert averaged.keys() == raw.keys()
    key = next(k for k in averaged if k.endswith("weight") and averaged[k].ndim == 4)
    assert not torch.equal(averaged[key], raw[key])  # 2 epochs of steps at lr 1e-2 move the raw weights
    # The validation score of the last epoch is that of the averaged weights, which Predictor loads.
    cm = ConfusionMatrix(2)
    predictor = Predictor.load(result.last_checkpoint)
    for sample in data.split("val"):
        cm.update(sample.mask, predictor.predict(sample.image).mask)
    assert float(_rows(tmp_path / "run")[-1]["val_miou"]) == pytest.approx(
        float(cm.compute()["mean_iou"]), abs=1e-6
    )
    again = train(data, tmp_path / "run", epochs=3, resume=True)
    later = torch.load(again.last_checkpoint, map_location="cpu", weights_only=False)
    assert (
        again.epochs_run == 3
        and later["averaging_state"]["n_averaged"] > ckpt["averaging_state"]["n_averaged"]
    )


def test_ema_average_ramps_its_decay_up():
    from segscope.training.train import _ema_callback

    average = _ema_callback(0.99)._kwargs["multi_avg_fn"]

    def after(n: int) -> torch.Tensor:
        a = [torch.zeros(3)]
        average(a, [torch.ones(3)], torch.tensor(n))
        return a[0]

    # After 1 update the decay is 2/11: the average moves 9/11 of the way; after 1000, 0.99 caps it.
    torch.testing.assert_close(after(1), torch.full((3,), 9 / 11))
    torch.testing.assert_close(after(1000), torch.full((3,), 0.01))


def test_ema_average_over_the_whole_list_matches_tensor_by_tensor_to_the_bit():
    """The list-wide average does the per-tensor arithmetic (averaged + (current - averaged) * w),
    so ISBI runs made with the per-tensor version are reproduced exactly."""
    from segscope.training.train import _ema_callback

    average = _ema_callback(0.998)._kwargs["multi_avg_fn"]
    g = torch.Generator().manual_seed(0)
    shapes = [(64, 3, 7, 7), (64,), (128, 64, 3, 3), (1,)]
    averaged = [torch.randn(s, generator=g) for s in shapes]
    expected = [t.clone() for t in averaged]
    counts, counts_expected = [torch.tensor(3)], [torch.tensor(3)]  # num_batches_tracked
    for n in (1, 2, 50, 5000):
        current = [torch.randn(s, generator=g) for s in shapes]
        w = 1.0 - ((1.0 + torch.tensor(n).float()) / (10.0 + torch.tensor(n).float())).clamp(max=0.998)
        expected = [e + (c - e) * w for e, c in zip(expected, current, strict=True)]
        average(averaged, current, torch.tensor(n))
        step = [torch.tensor(n + 3)]
        counts_expected = [(e + (c - e) * w).long() for e, c in zip(counts_expected, step, strict=True)]
        average(counts, step, torch.tensor(n))
    for got, want in zip(averaged, expected, strict=True):
        assert torch.equal(got, want)
    assert counts[0].dtype == torch.int64 and torch.equal(counts[0], counts_expected[0])


def test_ema_window_of_the_isbi_recipe_is_set_by_the_ramp():
    """The README's numbers for --ema 0.998 over the ISBI recipe's 2200 steps: the ramp never reaches
    0.998, 90 % of the average comes from the last 498 steps, the averaged weights are 220 steps old
    on average, and 0.999 gives the same average."""
    from segscope.training.train import _ema_callback

    steps = 2200

    def share_of_each_step(decay: float) -> torch.Tensor:
        # Step k's raw weights as the unit vector e_k: the final average holds each step's share.
        average = _ema_callback(decay)._kwargs["multi_avg_fn"]
        eye = torch.eye(steps, dtype=torch.float64)
        averaged = [eye[0].clone()]  # AveragedModel copies the first step's weights
        for n in range(1, steps):
            average(averaged, [eye[n]], torch.tensor(n))
        return averaged[0]

    share = share_of_each_step(0.998)
    assert float(share.sum()) == pytest.approx(1.0)
    last = torch.cumsum(share.flip(0), 0)
    assert int((last < 0.9).sum()) + 1 == 498
    age = torch.arange(steps - 1, -1, -1, dtype=torch.float64)
    assert float((share * age).sum()) == pytest.approx(220.0, abs=0.5)
    assert torch.equal(share, share_of_each_step(0.999))
