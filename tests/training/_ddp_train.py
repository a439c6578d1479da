"""Run by test_ddp.py: train on 2 CPU processes with DDP, then (rank 0) re-score the checkpoint.

Lightning's DDP launcher starts the second process by running this script again, so it must be a
file (not a pytest function). ``python _ddp_train.py OUT semantic|instance`` writes OUT/check.json
with the validation score logged by the run (semantic: and the one recomputed in a single
process).
"""

import csv
import importlib.util
import json
import os
import sys
from pathlib import Path

import torch

from segscope.training import train


def _conftest(folder: str):
    path = Path(__file__).resolve().parents[1] / folder / "conftest.py"
    spec = importlib.util.spec_from_file_location(f"_{folder}_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _semantic(out: Path) -> dict:
    from segscope.inference import Predictor
    from segscope.metrics.semantic import ConfusionMatrix

    helpers = _conftest("training")
    data = helpers.disks(n=22, size=32)  # 6 validation samples: not a multiple of the batch of 4
    result = train(
        data, out / "run", epochs=2, lr=1e-2, devices=2, accelerator="cpu", model_kwargs=helpers.TINY_KW,
        mlflow=True, overlays=1, augment="none", batch_size=4,
    )  # fmt: skip
    if int(os.environ.get("LOCAL_RANK", "0")):
        return {}
    predictor = Predictor.load(result.last_checkpoint)
    cm = ConfusionMatrix(2)
    val = data.split("val")
    for sample in val:
        cm.update(sample.mask, predictor.predict(sample.image).mask)
    return {
        "logged": "val_miou",
        "recomputed": float(cm.compute()["mean_iou"]),
        "num_val": len(val),
        "result": result,
    }


def _instance(out: Path) -> dict:
    data = _conftest("instance").shapes_dataset(10, size=64)  # 3 validation samples
    result = train(
        data, out / "run", task="instance", model="maskrcnn_resnet18_fpn", encoder=None,
        model_kwargs={"min_size": 64, "max_size": 64}, epochs=2, batch_size=2, lr=1e-3, schedule="none",
        devices=2, accelerator="cpu", mlflow=True, overlays=0, augment="none",
    )  # fmt: skip
    # A 2-epoch Mask R-CNN from scratch has AP 0, so only the run itself is checked here.
    if int(os.environ.get("LOCAL_RANK", "0")):
        return {}
    return {"logged": "val_ap", "num_val": len(data.split("val")), "result": result}


torch.set_num_threads(1)
out, task = Path(sys.argv[1]), sys.argv[2]
check = _semantic(out) if task == "semantic" else _instance(out)
if check:
    result = check.pop("result")
    with (out / "run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    check.update(
        logged_value=float(rows[-1][check["logged"]]), epochs=len(rows), mlflow_run_id=result.mlflow_run_id
    )
    (out / "check.json").write_text(json.dumps(check))
