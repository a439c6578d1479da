"""Classical methods on ISBI 2012 membranes: segscope's overhead over the bare library call, and IoU.

For every registered method this times ``segscope.classical.segment`` next to the same
scikit-image/OpenCV pipeline written directly (no segscope code), checks that both give the
same mask, and scores the membrane IoU (membrane = ``mask == 0`` in the ground truth, the
positive class; methods run with ``polarity=dark`` where they have one).

Run:  .venv/bin/python benchmarks/classical.py [--data ../shared/data/isbi2012_membrane]

Timings are the best of ``--repeat`` runs per image (after one warm-up call of each),
summed over images, then divided by the number of images. Slow methods (random walker, quickshift) run on the first
``--slow-images`` images only; the table says how many images each row used.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from skimage import feature, filters, morphology, segmentation

from segscope.classical import METHODS, segment
from segscope.formats.files import read_image, read_mask

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "isbi2012_membrane"

# Parameters used on ISBI (membranes are dark, thin lines); everything else is the default.
PARAMS: dict[str, dict[str, Any]] = {
    "threshold": {"value": 100.0},
    "multi-otsu": {"classes": 3},
    "canny-fill": {"fill": False},  # the membrane is the edge itself, not what it encloses
    "sobel-fill": {"fill": False},
    "kmeans": {"k": 2},
}
SLOW = {"random-walker", "quickshift"}


# ---------------------------------------------------------------------- direct pipelines
# Each mirrors what the segscope method does, calling the libraries only, on a 2-D uint8 image.
def _dark(img: np.ndarray, thr: Any) -> np.ndarray:
    return ~(img > thr)


def _rescale(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float64)
    return (img - img.min()) / (img.max() - img.min())


def _closed(edges: np.ndarray) -> np.ndarray:
    region = morphology.closing(edges, morphology.disk(2))
    region = morphology.remove_small_objects(region, max_size=15)
    ndimage.label(region)
    return region


def _watershed(img: np.ndarray) -> np.ndarray:
    fg = _dark(img, filters.threshold_otsu(img))
    dist = ndimage.distance_transform_edt(fg)
    coords = feature.peak_local_max(dist, min_distance=5, labels=fg.astype(np.uint8), exclude_border=False)
    peaks = np.zeros(fg.shape, bool)
    peaks[tuple(coords.T)] = True
    markers, _ = ndimage.label(peaks, structure=np.ones((3, 3)))
    segmentation.watershed(-dist, markers, mask=fg)
    return fg


def _region_growing(img: np.ndarray) -> np.ndarray:
    seed = np.unravel_index(np.argmin(img), img.shape)
    tol = 0.1 * float(img.max() - img.min())
    return segmentation.flood(img.astype(np.float64), seed, tolerance=tol, connectivity=1)


def _random_walker(img: np.ndarray) -> np.ndarray:
    t = filters.threshold_otsu(img)
    lo, hi = float(img.min()), float(img.max())
    markers = np.zeros(img.shape, np.int32)
    markers[img > t + 0.1 * (hi - t)] = 1
    markers[img <= t - 0.1 * (t - lo)] = 2
    data = _rescale(img).astype(np.float32)[:, :, None]
    prob = segmentation.random_walker(
        data, markers, beta=130, mode="cg_j", tol=1e-4, return_full_prob=True, channel_axis=-1
    )
    return prob.argmax(axis=0) == 1


def _kmeans(img: np.ndarray) -> np.ndarray:
    import cv2

    feats = _rescale(img).astype(np.float32).reshape(-1, 1)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    _, labels, centers = cv2.kmeans(feats, 2, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    return (labels.ravel() == np.argmin(centers[:, 0])).reshape(img.shape)


def _superpixels(func: Callable[..., np.ndarray], **kw: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda img: func(_rescale(img).astype(np.float32), **kw)


DIRECT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "threshold": lambda img: _dark(img, 100.0),
    "otsu": lambda img: _dark(img, filters.threshold_otsu(img)),
    "multi-otsu": lambda img: np.digitize(img, filters.threshold_multiotsu(img, classes=3), right=True) == 0,
    "li": lambda img: _dark(img, filters.threshold_li(img)),
    "yen": lambda img: _dark(img, filters.threshold_yen(img)),
    "triangle": lambda img: _dark(img, filters.threshold_triangle(img)),
    "adaptive": lambda img: _dark(img, filters.threshold_local(img, 35, method="gaussian", offset=0.0)),
    "sauvola": lambda img: _dark(img, filters.threshold_sauvola(img, window_size=15, k=0.2)),
    "niblack": lambda img: _dark(img, filters.threshold_niblack(img, window_size=15, k=0.2)),
    "canny-fill": lambda img: _closed(feature.canny(_rescale(img), sigma=2.0)),
    "sobel-fill": lambda img: _closed((m := filters.sobel(_rescale(img))) > filters.threshold_otsu(m)),
    "region-growing": _region_growing,
    "watershed": _watershed,
    "random-walker": _random_walker,
    "kmeans": _kmeans,
    "slic": _superpixels(segmentation.slic, n_segments=100, compactness=10.0, sigma=1.0, channel_axis=None, start_label=1),
    "felzenszwalb": _superpixels(segmentation.felzenszwalb, scale=100.0, sigma=0.8, min_size=50, channel_axis=None),
    "quickshift": lambda img: segmentation.quickshift(
        _rescale(img).astype(np.float32)[:, :, None], ratio=1.0, kernel_size=5.0, max_dist=10.0, sigma=0.0,
        convert2lab=False, channel_axis=-1,
    ),
}  # fmt: skip


def _params(name: str) -> dict[str, Any]:
    spec = METHODS.get(name)
    params = dict(PARAMS.get(name, {}))
    if any(p.name == "polarity" for p in spec.params):
        params["polarity"] = "dark"
    return params


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _positive(name: str, pred: Any) -> np.ndarray:
    """The membrane prediction: the polarity-side class (the last class of multi-class methods)."""
    spec = METHODS.get(name)
    top = spec.class_map(pred.info["params"]).num_classes - 1
    return pred.mask == top


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=3, help="runs per image for methods under 50 ms")
    ap.add_argument("--slow-images", type=int, default=3)
    ap.add_argument("--methods", nargs="*", default=None)
    args = ap.parse_args(argv)

    names = sorted((args.data / "images").glob("*.png"), key=lambda p: int(p.stem))
    images = [read_image(p) for p in names]
    gts = [read_mask(args.data / "masks" / p.name) == 0 for p in names]
    print(f"ISBI 2012: {len(images)} images {images[0].shape} {images[0].dtype}; membrane = mask==0 "
          f"({np.mean([g.mean() for g in gts]):.1%} of pixels)")  # fmt: skip

    header = f"| {'method':<15}| {'images':>6} | {'direct ms':>9} | {'segscope ms':>11} | {'ratio':>5} | {'same mask':>9} | {'membrane IoU':>12} | notes"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|---|")
    for name in args.methods or METHODS.list():
        spec = METHODS.get(name)
        params = _params(name)
        n = args.slow_images if name in SLOW else len(images)
        direct_t = seg_t = 0.0
        inter = union = 0
        same = True
        segments = []
        DIRECT[name](images[0])  # warm-up: lazy imports and caches are not part of the timing
        segment(images[0], name, **params)
        for img, gt in zip(images[:n], gts[:n], strict=True):
            # time once to decide how many repeats are affordable
            direct, wrapped = (
                functools.partial(DIRECT[name], img),
                functools.partial(segment, img, name, **params),
            )
            t_once, direct_out = _best(direct, 1)
            rep = args.repeat if t_once < 0.05 else 1
            t_dir, direct_out = _best(direct, rep) if rep > 1 else (t_once, direct_out)
            t_seg, pred = _best(wrapped, rep)
            direct_t += t_dir
            seg_t += t_seg
            if spec.kind == "segments":
                same &= bool(np.array_equal(pred.mask, np.asarray(direct_out) + (0 if name == "slic" else 1)))
                segments.append(pred.info["segments"])
            else:
                pos = _positive(name, pred)
                same &= bool(np.array_equal(pos, direct_out))
                inter += int((pos & gt).sum())
                union += int((pos | gt).sum())
        iou = "n/a" if spec.kind == "segments" else f"{inter / union:.3f}"
        notes = []
        if name in SLOW:
            notes.append(f"slow: first {n} images only")
        if spec.kind == "segments":
            notes.append(f"segments, not classes (mean {np.mean(segments):.0f}/image)")
        if "instances" in spec.outputs:
            notes.append("segscope also encodes instances (COCO RLE)")
        if "probs" in spec.outputs:
            notes.append("segscope also computes probs")
        if params:
            notes.append(", ".join(f"{k}={v}" for k, v in params.items()))
        print(
            f"| {name:<15}| {n:>6} | {1000 * direct_t / n:>9.1f} | {1000 * seg_t / n:>11.1f} | "
            f"{seg_t / direct_t:>5.2f} | {'yes' if same else 'NO':>9} | {iou:>12} | {'; '.join(notes)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
