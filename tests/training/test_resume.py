"""Resume after ``kill -9``: a killed ``segscope train`` continues from its last checkpoint."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")

TINY_ARGS = ["--model-arg", "encoder_depth=3", "--model-arg", "decoder_channels=[16, 8, 4]"]


def _rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    from segscope.cli.main import main

    data, run = tmp_path / "shapes", tmp_path / "run"
    with pytest.raises(SystemExit):
        main(["datasets", "make-shapes", str(data), "--n", "12", "--size", "64", "--seed", "2"])
    env = dict(os.environ, SEGSCOPE_PROGRESS="0")
    cmd = [
        sys.executable,
        "-m",
        "segscope.cli.main",
        "train",
        str(data),
        "--out",
        str(run),
        "--batch-size",
        "4",
    ]
    cmd += [*TINY_ARGS, "--augment", "none", "--no-mlflow"]
    # Far more epochs than can finish before the kill.
    proc = subprocess.Popen(
        [*cmd, "--epochs", "500"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.is_file():
        if proc.poll() is not None:
            pytest.fail(f"training ended before its first checkpoint: {proc.stdout.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint after 300 s")
        time.sleep(0.05)
    time.sleep(0.5)  # let it run into a later epoch, possibly mid-save
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    saved = torch.load(last, map_location="cpu", weights_only=False)
    done = int(saved["epoch"]) + 1  # epochs completed in the checkpoint
    assert 1 <= done < 500
    rows_before = {r["epoch"]: r for r in _rows(run / "metrics.csv")}
    target = done + 2

    out = subprocess.run([*cmd, "--resume", "--epochs", str(target)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"trained {target} epochs" in out.stdout

    final = torch.load(last, map_location="cpu", weights_only=False)
    assert int(final["epoch"]) == target - 1
    assert final["global_step"] == target * saved["global_step"] // done  # same steps per epoch, no restart
    rows = _rows(run / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(target))
    for r in rows[: done - 1]:  # epochs trained before the kill are kept as they were
        assert r == rows_before[r["epoch"]]
