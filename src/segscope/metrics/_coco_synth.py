"""Seeded synthetic instance sets for testing and benchmarking COCO evaluation.

Objects are ellipses of log-uniform size (so all three COCO area ranges occur), detections
are jittered copies of the ground truth plus random false positives, scores are rounded to
two decimals so that ties (and pycocotools' tie-breaking) are exercised.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segscope.core.instances import Instances

__all__ = ["synthetic_instances", "to_coco_json"]


def _ellipses(
    rng: np.random.Generator, n: int, h: int, w: int, *, like: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, H, W)`` bool ellipses and their ``(n, 4)`` cy, cx, ry, rx; ``like`` is jittered if given."""
    if like is None:
        cy = rng.uniform(0, h, n)
        cx = rng.uniform(0, w, n)
        ry = np.exp(rng.uniform(np.log(1.5), np.log(h / 3), n))
        rx = ry * np.exp(rng.uniform(-0.5, 0.5, n))
    else:
        cy, cx, ry, rx = like.T
        scale = np.maximum(ry, rx)
        cy = cy + rng.normal(0, 0.15, n) * scale
        cx = cx + rng.normal(0, 0.15, n) * scale
        ry = ry * np.exp(rng.normal(0, 0.12, n))
        rx = rx * np.exp(rng.normal(0, 0.12, n))
    yy = np.arange(h, dtype=np.float64)[None, :, None]
    xx = np.arange(w, dtype=np.float64)[None, None, :]
    masks = ((yy - cy[:, None, None]) / ry[:, None, None]) ** 2 + (
        (xx - cx[:, None, None]) / rx[:, None, None]
    ) ** 2 <= 1.0
    return masks, np.stack([cy, cx, ry, rx], axis=1)


def synthetic_instances(
    num_images: int,
    *,
    height: int = 64,
    width: int = 64,
    gt_per_image: float = 7.0,
    dt_per_image: int = 100,
    num_classes: int = 3,
    crowd_fraction: float = 0.05,
    seed: int = 0,
) -> tuple[dict[int, Instances], dict[int, Instances]]:
    """Random ``(gt, dt)`` mappings ``image_id -> Instances`` for COCO-style evaluation.

    Image ids are ``1..num_images``. Some images have no ground truth and some no
    detections; the number of detections per image varies around ``dt_per_image`` (so some
    images exceed 100). Class ``num_classes`` (the last) only appears in detections.

    Examples
    --------
    >>> gt, dt = synthetic_instances(2, seed=1)
    >>> sorted(gt), dt[1].scores is not None
    ([1, 2], True)
    """
    rng = np.random.default_rng(seed)
    gt: dict[int, Instances] = {}
    dt: dict[int, Instances] = {}
    gt_classes = max(1, num_classes - 1)
    for image_id in range(1, num_images + 1):
        n_gt = int(rng.poisson(gt_per_image)) if rng.random() > 0.05 else 0
        g_masks, g_params = _ellipses(rng, n_gt, height, width)
        keep = g_masks.reshape(n_gt, height * width).any(axis=1)
        g_masks, g_params = g_masks[keep], g_params[keep]
        n_gt = len(g_masks)
        g_labels = rng.integers(1, gt_classes + 1, n_gt)
        crowd = rng.random(n_gt) < crowd_fraction
        gt[image_id] = Instances.from_masks(g_masks.reshape(n_gt, height, width), g_labels, iscrowd=crowd)

        n_dt = (
            0 if rng.random() < 0.05 else int(rng.integers(dt_per_image * 3 // 4, dt_per_image * 5 // 4 + 1))
        )
        copies = rng.integers(0, 3, n_gt) if n_gt else np.zeros(0, np.int64)
        src = np.repeat(np.arange(n_gt), copies)[:n_dt]
        t_masks, _ = _ellipses(rng, len(src), height, width, like=g_params[src])
        t_labels = g_labels[src].copy()
        flip = rng.random(len(src)) < 0.1
        t_labels[flip] = rng.integers(1, num_classes + 1, int(flip.sum()))
        t_scores = rng.uniform(0.3, 1.0, len(src))
        n_fp = n_dt - len(src)
        f_masks, _ = _ellipses(rng, n_fp, height, width)
        f_labels = rng.integers(1, num_classes + 1, n_fp)
        f_scores = rng.uniform(0.0, 0.7, n_fp)
        masks = np.concatenate([t_masks, f_masks]).reshape(-1, height, width)
        labels = np.concatenate([t_labels, f_labels])
        scores = np.round(np.concatenate([t_scores, f_scores]), 2)
        order = rng.permutation(len(masks))
        dt[image_id] = Instances.from_masks(masks[order], labels[order], scores[order])
    return gt, dt


def to_coco_json(
    gt: dict[Any, Instances], dt: dict[Any, Instances], *, num_classes: int = 3
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """COCO ground-truth dict and results list for integer-keyed instance mappings."""
    images, annotations, results = [], [], []
    for image_id, inst in gt.items():
        images.append(
            {"id": int(image_id), "width": inst.width, "height": inst.height, "file_name": f"{image_id}.png"}
        )
        annotations.extend(inst.to_coco(int(image_id), first_id=len(annotations) + 1))
    for image_id, inst in dt.items():
        for ann in inst.to_coco(int(image_id)):
            results.append({k: ann[k] for k in ("image_id", "category_id", "segmentation", "score")})
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, num_classes + 1)]
    return {"images": images, "annotations": annotations, "categories": categories}, results
