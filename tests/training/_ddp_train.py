"""Run by test_ddp.py: train on 2 CPU processes with DDP, then (rank 0) re-score the checkpoint.

Lightning's DDP launcher starts the second process by running this script again, so it must be a
file (not a pytest function). Writes OUT/check.json with the logged and the recomputed scores.
"""

import csv
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import TINY_KW, disks  # noqa: E402

from segscope.inference import Predictor  # noqa: E402
from segscope.metrics.semantic import ConfusionMatrix  # noqa: E402
from segscope.training import train  # noqa: E402

torch.set_num_threads(1)
out = Path(sys.argv[1])
data = disks(n=22, size=32)  # 6 validation samples: not a multiple of the batch of 4
result = train(
    data, out / "run", epochs=2, lr=1e-2, devices=2, accelerator="cpu", model_kwargs=TINY_KW,
    mlflow=True, overlays=1, augment="none", batch_size=4,
)  # fmt: skip
if int(os.environ.get("LOCAL_RANK", "0")) == 0:
    with (out / "run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    predictor = Predictor.load(result.last_checkpoint)
    cm = ConfusionMatrix(2)
    val = data.split("val")
    for sample in val:
        cm.update(sample.mask, predictor.predict(sample.image).mask)
    check = {
        "logged_last_val_miou": float(rows[-1]["val_miou"]),
        "recomputed_val_miou": float(cm.compute()["mean_iou"]),
        "num_val": len(val),
        "epochs": len(rows),
        "mlflow_run_id": result.mlflow_run_id,
        "pid": os.getpid(),
    }
    (out / "check.json").write_text(json.dumps(check))
