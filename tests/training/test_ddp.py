import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")


@pytest.mark.slow
def test_two_process_ddp_on_cpu_logs_the_exact_validation_miou(tmp_path):
    """DDP (gloo, 2 CPU processes) trains, checkpoints, logs to MLflow once, and its val mIoU
    (counts summed over processes, each sample seen once) equals a single-process re-score."""
    script = Path(__file__).with_name("_ddp_train.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    check = json.loads((tmp_path / "check.json").read_text())
    assert check["epochs"] == 2
    assert check["num_val"] == 6
    assert check["logged_last_val_miou"] == pytest.approx(check["recomputed_val_miou"], abs=1e-6)
    assert check["mlflow_run_id"]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "run" / "mlflow_run_id.txt").read_text().strip() == check["mlflow_run_id"]
