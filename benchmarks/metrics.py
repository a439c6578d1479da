"""segscope's metrics against their peers, side by side in one run on the same data.

Run ``python benchmarks/metrics.py`` (``--quick`` for a smaller run, ``--data PATH`` for the
folder holding ``dsb2018_stage1_test``, ``--skip-coco`` to leave out the COCO rows).

* Semantic metrics: 64 label maps 512x512, 21 classes, 5% ignore pixels. segscope's
  :class:`~segscope.metrics.ConfusionMatrix` (per-class IoU, Dice, precision, recall, pixel
  accuracy, and the means) against a torchmetrics ``MetricCollection`` of
  ``MulticlassJaccardIndex``, ``F1Score``, ``Precision``, ``Recall`` (``average="none"``) and
  ``Accuracy`` (``average="micro"``), fed the same uint8 tensors, with and without its
  argument validation (``validate_args``), and against ``MulticlassJaccardIndex`` alone. ``identical``: integer states equal and every per-class value equal to
  torchmetrics' float32 result after rounding ours to float32 (torchmetrics divides in float32).
* Boundary IoU: 2,000 nucleus masks of DSB 2018 stage 1 test (full-image masks, as Boundary
  AP evaluates them), :func:`~segscope.metrics.mask_to_boundary` and
  :func:`~segscope.metrics.boundary_iou` against the reference construction of the Boundary
  IoU authors (copied below). ``identical``: every boundary pixel / every IoU value equal.
* COCO rows from ``benchmarks/coco_bench.py`` (the instance-metrics engineer's benchmark).

Times are the median of ``repeat`` runs; the speed-up is peer time / our time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segscope.metrics import ConfusionMatrix, boundary_iou, mask_to_boundary

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --------------------------------------------------------------------------- references
def reference_mask_to_boundary(mask: np.ndarray, dilation_ratio: float = 0.02) -> np.ndarray:
    """``mask_to_boundary`` of the Boundary IoU authors (boundary_iou/utils/boundary_utils.py)."""
    h, w = mask.shape
    img_diag = np.sqrt(h**2 + w**2)
    dilation = int(round(dilation_ratio * img_diag))
    if dilation < 1:
        dilation = 1
    new_mask = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    kernel = np.ones((3, 3), dtype=np.uint8)
    new_mask_erode = cv2.erode(new_mask, kernel, iterations=dilation)
    mask_erode = new_mask_erode[1 : h + 1, 1 : w + 1]
    return mask - mask_erode


def reference_boundary_iou(gt: np.ndarray, dt: np.ndarray, dilation_ratio: float = 0.02) -> float:
    """``boundary_iou`` of the Boundary IoU authors' README."""
    gt_boundary = reference_mask_to_boundary(gt, dilation_ratio)
    dt_boundary = reference_mask_to_boundary(dt, dilation_ratio)
    intersection = ((gt_boundary * dt_boundary) > 0).sum()
    union = ((gt_boundary + dt_boundary) > 0).sum()
    return intersection / union


def _median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _time_loop(fn: Callable[..., Any], items: list[tuple]) -> float:
    """Seconds to call ``fn`` on every item, each result dropped at once (as a streaming
    evaluation does; keeping thousands of full-image results alive would time the allocator)."""
    t0 = time.perf_counter()
    for item in items:
        fn(*item)
    return time.perf_counter() - t0


def _row(benchmark: str, ours_s: float, peer: str, peer_s: float, identical: bool) -> dict[str, Any]:
    return {
        "benchmark": benchmark,
        "ours_s": ours_s,
        "peer": peer,
        "peer_s": peer_s,
        "ratio": ours_s / peer_s,
        "identical": identical,
    }


# --------------------------------------------------------------------------- semantic
def label_maps(n: int, size: int, num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Blocky ground truth with 5% ignore pixels, and a prediction with ~20% of pixels wrong."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, num_classes, (n, size // 32, size // 32)).astype(np.uint8)
    gt = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_NEAREST) for c in coarse])
    pred = gt.copy()
    wrong = rng.random(gt.shape) < 0.2
    pred[wrong] = rng.integers(0, num_classes, int(wrong.sum()))
    gt[rng.random(gt.shape) < 0.05] = 255
    return gt, pred


def semantic_rows(*, quick: bool, repeat: int) -> list[dict[str, Any]]:
    import torch
    from torchmetrics import MetricCollection
    from torchmetrics.classification import (
        MulticlassAccuracy,
        MulticlassF1Score,
        MulticlassJaccardIndex,
        MulticlassPrecision,
        MulticlassRecall,
    )

    n, size, c = (16 if quick else 64), 512, 21
    gt, pred = label_maps(n, size, c)
    tgt = [torch.from_numpy(g) for g in gt]
    tpred = [torch.from_numpy(p) for p in pred]

    def ours() -> dict[str, Any]:
        cm = ConfusionMatrix(c, ignore_index=255)
        for g, p in zip(gt, pred, strict=True):
            cm.update(g, p)
        return cm.compute()

    def peer(validate: bool, only_iou: bool = False) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            kw = {"num_classes": c, "ignore_index": 255, "validate_args": validate}
            metrics = {"iou": MulticlassJaccardIndex(average="none", **kw)}
            if not only_iou:
                metrics |= {
                    "dice": MulticlassF1Score(average="none", **kw),
                    "precision": MulticlassPrecision(average="none", **kw),
                    "recall": MulticlassRecall(average="none", **kw),
                    "pixel_accuracy": MulticlassAccuracy(average="micro", **kw),
                }
            col = MetricCollection(metrics)
            for g, p in zip(tgt, tpred, strict=True):
                col.update(p, g)
            return {k: v.numpy() for k, v in col.compute().items()}

        return run

    ours()  # warm-up: first calls pay for imports and allocator growth on both sides
    ours_s, res = _median_time(ours, repeat)
    rows = []
    name = f"semantic metrics, {n} maps {size}x{size}, {c} classes"
    for validate, only_iou in ((False, True), (False, False), (True, False)):
        peer(validate, only_iou)()
        peer_s, ref = _median_time(peer(validate, only_iou), repeat)
        identical = all(np.array_equal(np.float32(res[k]), v) for k, v in ref.items())
        label = (
            "torchmetrics"
            + (" JaccardIndex only" if only_iou else "")
            + ("" if validate else ", no validation")
        )
        rows.append(_row(name, ours_s, label, peer_s, identical))
    return rows


# --------------------------------------------------------------------------- boundary
def nucleus_masks(data: Path, limit: int) -> Iterator[list[np.ndarray]]:
    """Full-image uint8 masks of DSB 2018 nuclei, one list per image, ``limit`` masks in all."""
    from segscope.formats.files import list_files, read_mask

    folder = data / "dsb2018_stage1_test" / "masks"
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found; pass --data with the folder holding dsb2018_stage1_test")
    left = limit
    for path in list_files(folder):
        ids = read_mask(path)
        masks = [(ids == k).astype(np.uint8) for k in range(1, int(ids.max()) + 1)][:left]
        left -= len(masks)
        yield masks
        if left <= 0:
            return


def boundary_rows(data: Path, *, quick: bool, repeat: int) -> list[dict[str, Any]]:
    limit = 500 if quick else 2000
    kernel = np.ones((3, 3), np.uint8)
    t_ours = {"mask_to_boundary": [0.0] * repeat, "boundary_iou": [0.0] * repeat}
    t_ref = {"mask_to_boundary": [0.0] * repeat, "boundary_iou": [0.0] * repeat}
    same = {"mask_to_boundary": True, "boundary_iou": True}
    count = 0
    # One image at a time, so that 2,000 full-image masks never sit in memory together.
    for masks in nucleus_masks(data, limit):
        count += len(masks)
        # A plausible prediction: the nucleus grown or shrunk by one pixel, alternately.
        preds = [cv2.dilate(m, kernel) if i % 2 else cv2.erode(m, kernel) for i, m in enumerate(masks)]
        singles = [(m,) for m in masks]
        pairs = list(zip(masks, preds, strict=True))
        for r in range(repeat):
            t_ours["mask_to_boundary"][r] += _time_loop(mask_to_boundary, singles)
            t_ref["mask_to_boundary"][r] += _time_loop(reference_mask_to_boundary, singles)
            t_ours["boundary_iou"][r] += _time_loop(boundary_iou, pairs)
            t_ref["boundary_iou"][r] += _time_loop(reference_boundary_iou, pairs)
        same["mask_to_boundary"] &= all(
            np.array_equal(mask_to_boundary(m), reference_mask_to_boundary(m) != 0) for m in masks
        )
        same["boundary_iou"] &= all(boundary_iou(g, p) == reference_boundary_iou(g, p) for g, p in pairs)
    return [
        _row(
            f"{key}, {count} DSB nucleus masks" + (" (gt vs pred)" if key == "boundary_iou" else ""),
            statistics.median(t_ours[key]),
            "Boundary IoU reference code",
            statistics.median(t_ref[key]),
            same[key],
        )
        for key in ("mask_to_boundary", "boundary_iou")
    ]


# --------------------------------------------------------------------------- coco
def coco_bench_rows(*, quick: bool) -> list[dict[str, Any]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from coco_bench import coco_rows
    except ImportError as exc:
        print(f"COCO rows left out: benchmarks/coco_bench.py could not be imported ({exc})", file=sys.stderr)
        return []
    return coco_rows(quick=quick)


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding dsb2018_stage1_test")
    parser.add_argument("--repeat", type=int, default=None, help="repeats per measurement (median)")
    parser.add_argument("--skip-coco", action="store_true", help="leave out the COCO rows")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)

    rows = semantic_rows(quick=args.quick, repeat=repeat)
    rows += boundary_rows(args.data, quick=args.quick, repeat=repeat)
    if not args.skip_coco:
        rows += coco_bench_rows(quick=args.quick)

    table = Table(title=f"segscope metrics vs peers (median of {repeat}; COCO rows: their own repeats)")
    for col in ("benchmark", "ours (s)", "peer", "peer (s)", "speed-up", "identical"):
        table.add_column(col, justify="right" if "(s)" in col or col == "speed-up" else "left")
    for r in rows:
        table.add_row(
            r["benchmark"],
            f"{r['ours_s']:.3f}",
            r["peer"],
            f"{r['peer_s']:.3f}",
            f"{r['peer_s'] / r['ours_s']:.1f}x",
            str(r["identical"]),
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
