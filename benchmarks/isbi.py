"""ISBI 2012 membranes: train a U-Net on slices 0-24, evaluate on slices 25-29.

Reports pixel error (1 - accuracy), per-class IoU and Dice, and wall time. Three of the 25
training slices are held out for validation (checkpoint selection); slices 25-29 are only
used for the final evaluation. Goal: pixel error <= 0.07 within 30 minutes on a 2-core CPU.

Full run:   .venv/bin/python benchmarks/isbi.py --epochs 60 --out runs/isbi
Short trial: .venv/bin/python benchmarks/isbi.py --epochs 2 --out /tmp/isbi_trial
Data: ../shared/data/isbi2012_membrane relative to the repo, or --data PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "isbi2012_membrane"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, required=True, help="run folder (must not hold a run)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--encoder", default="resnet18")
    ap.add_argument("--tta", action="store_true", help="flip TTA at evaluation")
    ap.add_argument("--mlflow", action="store_true")
    args = ap.parse_args()

    from segscope.formats import load_dataset
    from segscope.inference import Predictor
    from segscope.metrics.semantic import ConfusionMatrix
    from segscope.training import train

    t0 = time.perf_counter()
    ds = load_dataset(args.data)
    by_num = sorted(ds, key=lambda s: int(s.id))
    train_part = ds._subset([s for s in by_num if int(s.id) <= 21])
    val_part = ds._subset([s for s in by_num if 22 <= int(s.id) <= 24])
    test_part = ds._subset([s for s in by_num if int(s.id) >= 25])
    result = train(
        train_part,
        args.out,
        val=val_part,
        model="unet",
        encoder=args.encoder,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        crop=args.crop,
        augment="default",
        loss="ce+dice",
        mlflow=args.mlflow,
        overlays=2,
    )
    t_train = time.perf_counter() - t0
    predictor = Predictor.load(result.best_checkpoint)
    cm = ConfusionMatrix(ds.class_map.num_classes, class_names=ds.class_map.names)
    for sample in test_part:
        pred = predictor.predict(sample.image, tta=args.tta)
        cm.update(sample.mask, pred.mask)
    scores = cm.compute()
    wall = time.perf_counter() - t0
    report = {
        "train_slices": "0-21 (+22-24 validation)",
        "test_slices": "25-29",
        "epochs": result.epochs_run,
        "best_val_miou": result.best_val_miou,
        "pixel_error": 1.0 - float(scores["pixel_accuracy"]),
        "iou": dict(zip(ds.class_map.names, map(float, scores["iou"]), strict=True)),
        "dice": dict(zip(ds.class_map.names, map(float, scores["dice"]), strict=True)),
        "mean_iou": float(scores["mean_iou"]),
        "train_seconds": round(t_train, 1),
        "wall_seconds": round(wall, 1),
        "threads": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
