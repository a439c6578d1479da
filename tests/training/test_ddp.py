import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")


@pytest.mark.slow
@pytest.mark.parametrize(("task", "num_val"), [("semantic", 6), ("instance", 3)])
def test_two_process_ddp_on_cpu_logs_the_exact_validation_score(tmp_path, task, num_val):
    """DDP (gloo, 2 CPU processes) trains, checkpoints and logs to MLflow once; the semantic
    validation mIoU (confusion counts summed over processes, each sample seen once) equals a
    single-process re-score of the checkpoint. (A 2-epoch Mask R-CNN from scratch has AP 0, so
    the instance run checks the run, not the AP.)"""
    script = Path(__file__).with_name("_ddp_train.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), task], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Starting with 2 processes" in proc.stderr + proc.stdout
    check = json.loads((tmp_path / "check.json").read_text())
    assert check["epochs"] == 2
    assert check["num_val"] == num_val
    if task == "semantic":
        assert check["logged_value"] == pytest.approx(check["recomputed"], abs=1e-6)
    else:
        assert 0.0 <= check["logged_value"] <= 1.0
    assert check["mlflow_run_id"]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "run" / "mlflow_run_id.txt").read_text().strip() == check["mlflow_run_id"]
