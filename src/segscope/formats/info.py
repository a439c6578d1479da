"""Dataset summaries: counts, classes and their pixel frequency, image sizes, channel statistics."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from segscope.core.dataset import Dataset
from segscope.errors import SegscopeError
from segscope.utils.progress import progress

__all__ = ["dataset_info"]


class _ChannelStats:
    """Streaming per-channel count, mean, variance (Chan et al. pairwise merge), min and max."""

    def __init__(self) -> None:
        self.n: list[int] = []
        self.mean: list[float] = []
        self.m2: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, image: np.ndarray) -> None:
        flat = image.reshape(image.shape[0] * image.shape[1], -1)
        for c in range(flat.shape[1]):
            x = flat[:, c].astype(np.float64)
            if c == len(self.n):
                self.n.append(0), self.mean.append(0.0), self.m2.append(0.0)
                self.lo.append(np.inf), self.hi.append(-np.inf)
            n_b, mean_b = x.size, float(x.mean())
            m2_b = float(((x - mean_b) ** 2).sum())
            n_a, mean_a = self.n[c], self.mean[c]
            n = n_a + n_b
            delta = mean_b - mean_a
            self.mean[c] = mean_a + delta * n_b / n
            self.m2[c] += m2_b + delta**2 * n_a * n_b / n
            self.n[c] = n
            self.lo[c] = min(self.lo[c], float(x.min()))
            self.hi[c] = max(self.hi[c], float(x.max()))

    def to_list(self) -> list[dict[str, float]]:
        return [
            {
                "channel": c,
                "pixels": self.n[c],
                "mean": self.mean[c],
                "std": float(np.sqrt(self.m2[c] / self.n[c])),
                "min": self.lo[c],
                "max": self.hi[c],
            }
            for c in range(len(self.n))
        ]


def dataset_info(ds: Dataset, *, progress_desc: str = "info") -> dict[str, Any]:
    """Summarise a dataset by reading every sample once (images, masks and instances).

    Returns
    -------
    dict
        JSON-serialisable: ``samples``, ``splits``, ``with_gt``/``without_gt``, ``instances``
        (total, or ``None`` when the dataset has none), ``classes`` (id, name, colour, pixels,
        percent of ground-truth pixels), ``ignore``, ``image_sizes`` (``"HxW"`` -> count),
        ``dtypes``, ``channels``, ``channel_stats`` (per channel mean/std/min/max),
        ``notes``, ``warnings`` and ``errors`` (samples that could not be read).

    Examples
    --------
    >>> from segscope.core import ClassMap, Dataset, Sample
    >>> s = Sample("a", load_image=lambda: np.zeros((2, 2), np.uint8), load_mask=lambda: np.array([[0, 1], [1, 1]]))
    >>> info = dataset_info(Dataset([s], ClassMap.default(2)))
    >>> info["samples"], [c["percent"] for c in info["classes"]]
    (1, [25.0, 75.0])
    """
    cm = ds.class_map
    counts = np.zeros(max(cm.num_classes, cm.ignore_index + 1), np.int64)
    sizes: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    stats = _ChannelStats()
    with_gt = with_image = 0
    has_instances = any(s.load_instances is not None for s in ds)
    per_image: list[int] = []
    errors: list[str] = []
    for s in progress(ds, total=len(ds), desc=progress_desc):
        try:
            if s.load_image is not None:
                image = np.asarray(s.image)
                with_image += 1
                sizes[f"{image.shape[0]}x{image.shape[1]}"] += 1
                dtypes[str(image.dtype)] += 1
                channels[str(1 if image.ndim == 2 else image.shape[2])] += 1
                stats.add(image)
            if s.has_gt:
                mask = s.mask
                with_gt += 1
                if mask is not None:
                    counts += np.bincount(mask.ravel().astype(np.int64), minlength=counts.size)[: counts.size]
                    if s.load_image is None:
                        sizes[f"{mask.shape[0]}x{mask.shape[1]}"] += 1
                if s.load_instances is not None:
                    per_image.append(len(s.instances))  # type: ignore[arg-type]
        except SegscopeError as exc:
            errors.append(str(exc))
    total = int(counts.sum())

    def pct(n: int) -> float:
        return round(100.0 * n / total, 3) if total else 0.0

    splits = Counter(s.split for s in ds if s.split is not None)
    return {
        "root": str(ds.root) if ds.root else None,
        "format": ds.format,
        "task": ds.task,
        "samples": len(ds),
        "splits": dict(splits),
        "with_image": with_image,
        "with_gt": with_gt,
        "without_gt": len(ds) - with_gt,
        "instances": int(sum(per_image)) if has_instances else None,
        "instances_per_image": (
            {"min": int(min(per_image)), "median": float(np.median(per_image)), "max": int(max(per_image))}
            if per_image
            else None
        ),
        "num_classes": cm.num_classes,
        "classes": [
            {
                "id": i,
                "name": name,
                "color": list(cm.colors[i]),
                "pixels": int(counts[i]),
                "percent": pct(int(counts[i])),
            }
            for i, name in enumerate(cm.names)
        ],
        "ignore": {
            "index": cm.ignore_index,
            "pixels": int(counts[cm.ignore_index]),
            "percent": pct(int(counts[cm.ignore_index])),
        },
        "gt_pixels": total,
        "image_sizes": dict(sizes.most_common()),
        "dtypes": dict(dtypes.most_common()),
        "channels": dict(channels.most_common()),
        "channel_stats": stats.to_list(),
        "notes": list(ds.notes),
        "warnings": list(ds.warnings),
        "errors": errors,
    }
