"""DSB 2018 nuclei: classical watershed vs U-Net fg-boundary + watershed vs Mask R-CNN.

Split (fixed, printed): the 65 stage-1 test images sorted by id; the last 20 are the TEST
images, touched once at the end. The first 45 are split by ``numpy.random.default_rng(0)``
(``--split-seed``): a permutation of them, whose first 9 (``--val-count``) are VALIDATION
images and the other 36 TRAINING images. Models train on the 36; the 9 validation images
select the checkpoint (best val mIoU / val mask AP) and every post-processing parameter, by a
grid search on the DSB score (``segscope.instance.grid_search`` / ``tune_postprocess``; each
grid is printed as a table). The chosen parameters are then applied once to the 20 test
images. Nothing is chosen on the test images.

Reports, on the 20 test images: COCO mask AP and AP50 (pycocotools rules, up to 1000
detections per image since images hold up to 329 nuclei), the DSB 2018 score (mean over IoU
0.50:0.05:0.95 of TP / (TP + FP + FN) per image), and wall times.

(a) ``watershed`` defaults: segscope.classical ``watershed`` (Otsu foreground, distance
    peaks, min_distance 5, bright objects) on the raw images; nothing tuned, for reference.
(a') ``watershed`` tuned: the same with input (raw / per-image ``grey-percentile``, which
    inverts bright backgrounds), polarity (bright / dark) and min_distance (3, 5, 7, 10, 14)
    chosen on the validation images: 20 combinations.
(b) ``unet fg-boundary``: U-Net (ResNet-18 encoder, from scratch: no network for pretrained
    weights) trained on background / nucleus / boundary targets built from the instance maps
    (boundary 2 px wide, weighted 5 in the cross-entropy), on per-image normalised grey images
    (``per_image="grey-percentile"``, stored with the model). Markers = interiors with
    probability > marker_threshold, mask = object probability > fg_threshold, a watershed on
    the boundary probability, then ``shrink`` pixels peeled off every object; marker_threshold
    and fg_threshold in (0.5, 0.6, 0.7, 0.8) and shrink in (0, 1) chosen on the validation
    probabilities: 32 combinations.
(c) ``maskrcnn``: Mask R-CNN with a ResNet-18 FPN (128 channels), from scratch, whole images
    resized to a shorter side of 256 (max 512), anchors 8-128 px, up to 400 detections per
    image, flips and 90-degree rotations, AdamW with a cosine schedule, ``--maskrcnn-epochs``
    epochs (a fixed budget: on a shared 2-core CPU only a short schedule fits, so expect it
    to be weak). Its score threshold (0.05, 0.3, 0.5, 0.7) is chosen on the validation images.

torch runs with ``--threads`` threads (default 1: on a 2-core machine shared with other jobs,
2 threads were 3x slower than 1 in a ResNet-18 step).

Full run:    .venv/bin/python benchmarks/dsb_nuclei.py --out /tmp/dsb_run --json /tmp/dsb.json
Short trial: .venv/bin/python benchmarks/dsb_nuclei.py --epochs 1 --maskrcnn-epochs 1 --out /tmp/dsb_trial
Data: ../shared/data/dsb2018_stage1_test relative to the repo, or --data PATH.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dsb2018_stage1_test"
MAX_DETS = (1, 100, 1000)


def _rgb(sample: Any) -> np.ndarray:
    image = sample.image
    return image[:, :, :3] if image.ndim == 3 and image.shape[2] == 4 else image


def _rgb_dataset(ds: Any) -> Any:
    """The dataset with RGBA images read as RGB (37 of the 65 images carry an alpha channel)."""
    from segscope.core.dataset import Dataset, Sample

    samples = [
        Sample(s.id, load_image=functools.partial(_rgb, s), load_instances=s.load_instances, split=s.split)
        for s in ds
    ]
    return Dataset(samples, ds.class_map, root=ds.root, format=ds.format, task="instance")


def _scores(gt: dict[str, Any], dt: dict[str, Any]) -> dict[str, float]:
    """AP, AP50 at up to 1000 detections per image (mean of COCO's precision table), DSB score."""
    from segscope.core.instances import Instances
    from segscope.metrics.instance import coco_evaluate, dsb_score

    dt = {
        k: v
        if v.scores is not None
        else Instances(v.rles, v.labels, v.height, v.width, np.ones(len(v)), v.iscrowd)
        for k, v in dt.items()
    }
    coco = coco_evaluate(gt, dt, max_dets=MAX_DETS, categories=[1])
    precision = np.asarray(coco["precision"])[:, :, 0, 0, -1]  # (T, R): class 1, area all, 1000 dets
    thresholds = [round(t, 2) for t in coco["params"]["iou_thresholds"]]
    valid = precision > -1
    return {
        "AP": float(precision[valid].mean()) if valid.any() else -1.0,
        "AP50": float(precision[thresholds.index(0.5)].mean()),
        "AP_coco100": float(coco["AP"]),
        "DSB": dsb_score(gt, dt),
    }


def _row(name: str, predict: Any, test: Any, gt: dict[str, Any], train_s: float) -> dict[str, Any]:
    """Predict every test image, time it, score it; print and return the table row."""
    t = time.perf_counter()
    dt = {s.id: predict(s.image).instances for s in test}
    row = {"pipeline": name, "train_s": train_s, "predict_s": time.perf_counter() - t, **_scores(gt, dt)}
    print(row, flush=True)
    return row


CLASSICAL_GRID = {
    "input": ("raw", "grey-percentile"),
    "polarity": ("bright", "dark"),
    "min_distance": (3, 5, 7, 10, 14),
}
SCORE_GRID = {"score_threshold": (0.05, 0.3, 0.5, 0.7)}


def split_ids(ids: list[str], *, n_test: int = 20, n_val: int = 9, seed: int = 0) -> tuple[list[str], ...]:
    """``(train, val, test)`` ids: test = the last ``n_test`` sorted ids, val = a seeded draw of the rest."""
    ids = sorted(ids)
    dev, test = ids[:-n_test], ids[-n_test:]
    order = np.random.default_rng(seed).permutation(len(dev))
    val = sorted(dev[i] for i in order[:n_val])
    train = sorted(dev[i] for i in order[n_val:])
    return train, val, test


def _tuned(name: str, result: Any) -> dict[str, Any]:
    """Print a grid-search table; return its record for the JSON."""
    print(f"\n{name}: validation DSB score per combination (* = chosen)")
    print(result.to_markdown())
    print(f"chosen: {result.params} (validation DSB {result.score:.3f})\n", flush=True)
    return {"pipeline": name, **result.to_dict()}


def _by_score(inst: Any, *, score_threshold: float) -> Any:
    return inst[np.flatnonzero(inst.scores >= score_threshold)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the DSB 2018 stage-1 test folder")
    ap.add_argument("--out", type=Path, required=True, help="folder for the training runs (must be new)")
    ap.add_argument("--val-count", type=int, default=9, help="validation images drawn from the first 45")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation draw")
    ap.add_argument("--epochs", type=int, default=30, help="U-Net epochs")
    ap.add_argument("--repeat", type=int, default=2, help="random crops of each image per U-Net epoch")
    ap.add_argument("--crop", type=int, default=192, help="U-Net training crop size")
    ap.add_argument("--batch-size", type=int, default=8, help="U-Net batch size")
    ap.add_argument("--lr", type=float, default=3e-3, help="U-Net learning rate")
    ap.add_argument(
        "--precision",
        default="auto",
        help="U-Net training precision (auto: bfloat16 mixed on a CPU with native bfloat16; the "
        "recorded README run predates that default and used 32)",
    )
    ap.add_argument(
        "--per-image",
        default="grey-percentile",
        help="per-image normalisation stored in the model's preprocessing ('none' to use dataset mean/std)",
    )
    ap.add_argument("--boundary-width", type=int, default=2, help="boundary thickness of the targets")
    ap.add_argument(
        "--class-weights", default="1,1,5", help="CE weights of background,nucleus,boundary ('' for none)"
    )
    ap.add_argument(
        "--maskrcnn-epochs", type=int, default=15, help="Mask R-CNN epochs (its fixed budget; 0: skip it)"
    )
    ap.add_argument("--maskrcnn-lr", type=float, default=1e-3, help="Mask R-CNN learning rate")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args()

    import torch

    from segscope.classical import segment
    from segscope.formats import load_dataset
    from segscope.inference import Predictor
    from segscope.instance import SemanticInstancePredictor, grid_search, tune_postprocess
    from segscope.models.preprocessing import normalize_per_image
    from segscope.training import train

    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    per_image = None if args.per_image.lower() == "none" else args.per_image
    weights = [float(v) for v in args.class_weights.split(",")] if args.class_weights else None
    ds = _rgb_dataset(load_dataset(args.data))
    train_ids, val_ids, test_ids = split_ids(list(ds.ids), n_val=args.val_count, seed=args.split_seed)
    train_part, val_part, test_part = (
        ds._subset([ds[i] for i in part]) for part in (train_ids, val_ids, test_ids)
    )
    print(
        f"split: {len(train_ids)} train, {len(val_ids)} validation (seed {args.split_seed} draw from the "
        f"first {len(train_ids) + len(val_ids)} sorted ids), {len(test_ids)} test (last {len(test_ids)})"
    )
    print("validation ids:", " ".join(i[:8] for i in val_ids))
    print("test ids:", " ".join(i[:8] for i in test_ids))
    gt = {s.id: s.instances for s in test_part}
    val_gt = {s.id: s.instances for s in val_part}
    print(
        f"nuclei: {sum(len(g) for g in val_gt.values())} validation, {sum(len(g) for g in gt.values())} test"
    )
    rows: list[dict[str, Any]] = []
    tuning: list[dict[str, Any]] = []

    # (a) classical watershed, defaults: nothing chosen
    rows.append(
        _row(
            "classical watershed, defaults",
            functools.partial(segment, method="watershed"),
            test_part,
            gt,
            0.0,
        )
    )

    # (a') classical watershed, parameters chosen on the validation images
    def classical(image: np.ndarray, *, input: str, **params: Any) -> Any:
        x = image if input == "raw" else normalize_per_image(image, input)
        return segment(x, method="watershed", **params)

    t0 = time.perf_counter()
    val_images = {s.id: s.image for s in val_part}
    res = grid_search(classical, val_images, val_gt, grid=CLASSICAL_GRID)
    t_tune = time.perf_counter() - t0
    name = "classical watershed, tuned on validation"
    tuning.append(_tuned(name, res))
    row = _row(name, functools.partial(classical, **res.params), test_part, gt, t_tune)
    rows.append({**row, "params": res.params})

    # (b) U-Net fg-boundary + watershed
    t0 = time.perf_counter()
    result = train(
        train_part,
        args.out / "unet_fg_boundary",
        val=val_part,
        target="fg-boundary",
        model="unet",
        encoder="resnet18",
        model_kwargs={"encoder_depth": 4, "decoder_channels": [128, 64, 32, 16]},
        epochs=args.epochs,
        repeat=args.repeat,
        crop=args.crop,
        batch_size=args.batch_size,
        lr=args.lr,
        loss="ce+dice",
        class_weights=weights,
        per_image=per_image,
        boundary_width=args.boundary_width,
        augment="default",
        precision=args.precision,
        mlflow=False,
        overlays=0,
        progress_bar=False,
    )
    t_train = time.perf_counter() - t0
    predictor = Predictor.load(result.best_checkpoint)
    t0 = time.perf_counter()
    val_probs = {s.id: predictor.predict_probs(s.image) for s in val_part}
    res = tune_postprocess(val_probs, val_gt)
    t_train += time.perf_counter() - t0
    name = (
        f"U-Net r18 fg-boundary + watershed ({result.epochs_run} ep, best val mIoU "
        f"{result.best_val_miou:.3f}), post-processing tuned on validation"
    )
    tuning.append(_tuned(name, res))
    pipe = SemanticInstancePredictor(predictor, **res.params)
    rows.append({**_row(name, pipe.predict, test_part, gt, t_train), "params": res.params})

    # (c) Mask R-CNN from scratch, fixed epoch budget
    if args.maskrcnn_epochs > 0:
        from segscope.instance.maskrcnn import InstancePredictor

        t0 = time.perf_counter()
        mr = train(
            train_part,
            args.out / "maskrcnn_r18",
            val=val_part,
            task="instance",
            model="maskrcnn_resnet18_fpn",
            encoder=None,
            model_kwargs={
                "min_size": 256,
                "max_size": 512,
                "fpn_channels": 128,
                "anchor_sizes": [8, 16, 32, 64, 128],
                "box_detections_per_img": 400,
                "rpn_pre_nms_top_n_test": 2000,
                "rpn_post_nms_top_n_test": 1000,
            },
            epochs=args.maskrcnn_epochs,
            crop=None,
            batch_size=4,
            lr=args.maskrcnn_lr,
            augment="light",
            mlflow=False,
            overlays=0,
            progress_bar=False,
        )
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        low = InstancePredictor.load(mr.best_checkpoint, score_threshold=min(SCORE_GRID["score_threshold"]))
        val_dets = {s.id: low.predict(s.image).instances for s in val_part}
        res = grid_search(_by_score, val_dets, val_gt, grid=SCORE_GRID)
        t_train += time.perf_counter() - t0
        name = (
            f"Mask R-CNN r18-FPN from scratch ({mr.epochs_run} ep, best val AP {mr.best_val_miou:.3f}), "
            "score threshold tuned on validation"
        )
        tuning.append(_tuned(name, res))
        mpred = InstancePredictor.load(mr.best_checkpoint, **res.params)
        rows.append({**_row(name, mpred.predict, test_part, gt, t_train), "params": res.params})

    total = time.perf_counter() - t_start
    print()
    print(
        f"DSB 2018 stage-1 test, {len(test_ids)} test images, parameters chosen on {len(val_ids)} validation "
        f"images, {args.threads} torch thread(s), load average {os.getloadavg()[0]:.1f} (2 cores), "
        f"whole run {total:.0f} s"
    )
    print(
        "| pipeline | chosen on validation | mask AP | AP50 | DSB score | train + tune (s) | predict 20 imgs (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        chosen = ", ".join(f"{k} {v}" for k, v in r.get("params", {}).items()) or "-"
        print(
            f"| {r['pipeline']} | {chosen} | {r['AP']:.3f} | {r['AP50']:.3f} | {r['DSB']:.3f} | "
            f"{r['train_s']:.0f} | {r['predict_s']:.1f} |"
        )
    if args.json:
        from segscope.utils.files import write_json

        write_json(
            args.json,
            {
                "train_ids": train_ids,
                "val_ids": val_ids,
                "test_ids": test_ids,
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "total_s": total,
                "tuning": tuning,
                "rows": rows,
            },
        )
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
