"""Clustering: k-means on pixel values (``cv2.kmeans``) and superpixels (``skimage.segmentation``
``slic``, ``felzenszwalb``, ``quickshift``).

k-means gives classes: clusters are ordered by the mean of their centre's value features, so
class 0 is the darkest cluster (the brightest with ``polarity='dark'``).

Superpixels are not classes. Their methods return ``info['kind'] = 'segments'``, the segment
ids 1..N as the ``mask`` (int32) and every segment as an instance (label 1). Use them to
over-segment, then label or merge segments; do not score their mask as classes.
"""

from __future__ import annotations

import warnings

import numpy as np
from skimage import segmentation

from segscope.classical._base import POLARITY, Param, image_kind, method, to_bands
from segscope.core.instances import Instances
from segscope.core.prediction import Prediction
from segscope.errors import DataError

__all__ = ["kmeans", "slic", "felzenszwalb", "quickshift"]


@method(
    "kmeans",
    family="clustering",
    params=[
        Param("k", "int", "number of clusters (classes)", low=2, high=64),
        Param(
            "spatial",
            "float",
            "weight of the (row, col) position features, scaled to [0, 1]; 0: values only",
            low=0,
        ),
        Param("attempts", "int", "k-means restarts; the most compact result is kept", low=1, high=100),
        Param("max_iter", "int", "iterations per attempt", low=1),
        Param("seed", "int", "random seed of the k-means++ initialisation", low=0),
        POLARITY,
    ],
    outputs=("mask", "probs"),
    kind="multiclass",
    num_classes_param="k",
)
def kmeans(
    image: np.ndarray,
    *,
    k: int = 2,
    spatial: float = 0.0,
    attempts: int = 3,
    max_iter: int = 50,
    seed: int = 0,
    polarity: str = "bright",
) -> Prediction:
    """k-means clustering of pixels (``cv2.kmeans``, k-means++ starts) on all their channels.

    Features are the channels from :func:`segscope.classical.to_bands` (RGB(A) by dtype range,
    alpha dropped; other channel counts rescaled to [0, 1] each), plus ``spatial`` times the
    pixel position scaled to [0, 1] when ``spatial > 0``.

    Returns
    -------
    Prediction
        ``mask`` (H, W) uint8, the nearest centre; ``probs`` (H, W, k) float32, the fuzzy
        c-means memberships (fuzzifier m = 2) of each pixel to the final centres,
        ``u_j = d_j^-2 / sum_i d_i^-2``: a soft assignment that sums to 1, not a calibrated
        probability.

    Examples
    --------
    >>> img = np.zeros((4, 4, 3), np.uint8); img[:, 2:] = (250, 10, 10)
    >>> kmeans(img, k=2).mask[0].tolist()
    [0, 0, 1, 1]
    """
    import cv2

    bands = to_bands(image)
    h, w, c = bands.shape
    feats = bands.reshape(-1, c)
    if spatial > 0:
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        pos = np.stack([yy.ravel() / max(h - 1, 1), xx.ravel() / max(w - 1, 1)], axis=1) * spatial
        feats = np.hstack([feats, pos.astype(np.float32)])
    feats = np.ascontiguousarray(feats, np.float32)
    n_unique = len(np.unique(feats, axis=0)) if feats.shape[0] <= 4096 else k
    if n_unique < k:
        raise DataError(f"kmeans: the image has {n_unique} distinct values, fewer than k={k}; lower k")
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, max_iter, 1e-4)
    compactness, _, centers = cv2.kmeans(feats, k, None, criteria, attempts, cv2.KMEANS_PP_CENTERS)
    order = np.argsort(centers[:, :c].mean(axis=1), kind="stable")
    if polarity == "dark":
        order = order[::-1]
    centers = centers[order]
    d2 = ((feats[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    inv = 1.0 / np.maximum(d2, 1e-12)
    probs = (inv / inv.sum(axis=1, keepdims=True)).astype(np.float32).reshape(h, w, k)
    mask = np.argmin(d2, axis=1).astype(np.uint8).reshape(h, w)
    info = {"centers": centers[:, :c].tolist(), "compactness": float(compactness)}
    return Prediction(mask, probs=probs, info=info)


def _segments(labels: np.ndarray, **info: object) -> Prediction:
    labels = labels.astype(np.int32, copy=False)
    return Prediction(
        labels,
        instances=Instances.from_id_map(labels),
        info={"kind": "segments", "segments": int(labels.max()), **info},
    )


def _channel_axis(image: np.ndarray) -> tuple[np.ndarray, int | None, bool]:
    """(image, channel_axis, is_rgb) as superpixel functions want them: RGB(A) kept as colour
    (alpha dropped), one channel as 2-D, other counts rescaled per channel to [0, 1]."""
    kind = image_kind(image)
    if kind == "rgb":
        return image[:, :, :3], -1, True
    bands = to_bands(image)
    if bands.shape[2] == 1:
        return bands[:, :, 0], None, False
    return bands, -1, False


@method(
    "slic",
    family="superpixels",
    params=[
        Param("n_segments", "int", "approximate number of superpixels", low=1),
        Param("compactness", "float", "colour vs space balance; higher gives squarer superpixels", low=0),
        Param("sigma", "float", "Gaussian smoothing before clustering, in pixels", low=0),
    ],
    outputs=("mask", "instances"),
    kind="segments",
)
def slic(
    image: np.ndarray, *, n_segments: int = 100, compactness: float = 10.0, sigma: float = 1.0
) -> Prediction:
    """SLIC superpixels (``skimage.segmentation.slic``): k-means in colour + position.

    RGB(A) images are clustered in CIELAB (alpha dropped); other images use all channels
    rescaled to [0, 1], where a ``compactness`` around 0.1 balances values and space.

    Returns
    -------
    Prediction
        ``mask`` (H, W) int32 segment ids from 1, ``instances`` one per segment,
        ``info['kind'] = 'segments'``.

    Examples
    --------
    >>> yy, xx = np.mgrid[:64, :64] / 63
    >>> slic(np.dstack([yy, xx, xx]), n_segments=16).info["segments"]
    16
    """
    data, axis, rgb = _channel_axis(image)
    labels = segmentation.slic(
        data,
        n_segments=n_segments,
        compactness=compactness,
        sigma=sigma,
        channel_axis=axis,
        convert2lab=rgb if axis is not None else None,
        start_label=1,
    )
    return _segments(labels)


@method(
    "felzenszwalb",
    family="superpixels",
    params=[
        Param("scale", "float", "higher means larger segments", low=0),
        Param("sigma", "float", "Gaussian smoothing before segmenting, in pixels", low=0),
        Param("min_size", "int", "smallest segment in pixels (merged into a neighbour)", low=1),
    ],
    outputs=("mask", "instances"),
    kind="segments",
)
def felzenszwalb(
    image: np.ndarray, *, scale: float = 100.0, sigma: float = 0.8, min_size: int = 50
) -> Prediction:
    """Felzenszwalb-Huttenlocher graph segmentation (``skimage.segmentation.felzenszwalb``).

    Works on any channel count (alpha dropped from RGBA, non-RGB channels rescaled to [0, 1]).

    Examples
    --------
    >>> img = np.zeros((20, 20), np.uint8); img[:, 10:] = 255
    >>> felzenszwalb(img, min_size=5).info["segments"] >= 2
    True
    """
    data, axis, _ = _channel_axis(image)
    with warnings.catch_warnings():
        # skimage asks whether >3 channels are intended; here they are.
        warnings.filterwarnings("ignore", "Got image with third dimension", RuntimeWarning)
        labels = segmentation.felzenszwalb(
            data, scale=scale, sigma=sigma, min_size=min_size, channel_axis=axis
        )
    return _segments(labels + 1)


@method(
    "quickshift",
    family="superpixels",
    params=[
        Param(
            "ratio", "float", "colour vs space balance in [0, 1]; higher weighs colour more", low=0, high=1
        ),
        Param("kernel_size", "float", "width of the Gaussian density kernel in pixels", low=0.5),
        Param("max_dist", "float", "cut-off distance for linking points; higher gives fewer segments", low=0),
        Param("sigma", "float", "Gaussian smoothing before segmenting, in pixels", low=0),
    ],
    outputs=("mask", "instances"),
    kind="segments",
)
def quickshift(
    image: np.ndarray,
    *,
    ratio: float = 1.0,
    kernel_size: float = 5.0,
    max_dist: float = 10.0,
    sigma: float = 0.0,
) -> Prediction:
    """Quickshift mode seeking (``skimage.segmentation.quickshift``); slow on large images.

    RGB(A) is segmented in CIELAB (alpha dropped); one channel is given as a single band;
    other channel counts use all channels rescaled to [0, 1].

    Examples
    --------
    >>> img = np.zeros((20, 20), np.uint8); img[:, 10:] = 255
    >>> quickshift(img, kernel_size=2, max_dist=5).info["segments"] >= 2
    True
    """
    data, axis, rgb = _channel_axis(image)
    if axis is None:
        data = data[:, :, None]
    labels = segmentation.quickshift(
        data,
        ratio=ratio,
        kernel_size=kernel_size,
        max_dist=max_dist,
        sigma=sigma,
        convert2lab=rgb,
        channel_axis=-1,
    )
    return _segments(labels + 1)
