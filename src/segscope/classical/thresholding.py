"""Thresholding: global (fixed, Otsu, multi-Otsu, Li, Yen, triangle) and local (adaptive,
Sauvola, Niblack), all from ``skimage.filters``.

Each works on one channel (see :func:`segscope.classical.to_gray` for how RGB, RGBA and
N-channel arrays are reduced, or pass ``channel=``). Thresholds in ``info`` are in the units
of that channel: stored values for one channel (16-bit stays 0..65535), [0, 1] for luminance.
Class 1 is the bright side unless ``polarity='dark'``. Thresholding gives no probabilities:
a sigmoid of the distance to the threshold would need a scale that nothing estimates, so no
``probs`` are returned rather than invented ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from skimage import filters

from segscope.classical._base import CHANNEL, POLARITY, Param, apply_polarity, method, to_gray
from segscope.core.prediction import Prediction
from segscope.errors import DataError

__all__ = ["threshold", "otsu", "multi_otsu", "li", "yen", "triangle", "adaptive", "sauvola", "niblack"]

_NBINS = Param("nbins", "int", "histogram bins", low=2, high=65536)
_WINDOW = Param("window_size", "int", "odd side of the local window in pixels", low=3, odd=True)
_K = Param("k", "float", "weight of the local standard deviation", low=-10, high=10)


def _binary(gray: np.ndarray, thr: float | np.ndarray, polarity: str, **info: object) -> Prediction:
    return Prediction(apply_polarity(gray > thr, polarity), info=info)


def _flat_guard(gray: np.ndarray, name: str) -> None:
    # Histogram-based thresholds are undefined on a constant image; skimage returns the value
    # itself (Otsu) or raises deep inside (multi-Otsu), so say it once here.
    if gray.size and gray.min() == gray.max():
        raise DataError(
            f"{name}: the image is constant (every value {gray.flat[0]!r}), so there is nothing to "
            "threshold; check the channel or use method 'threshold' with a fixed value"
        )


def _global(
    name: str, func: Callable[..., float], image: np.ndarray, polarity: str, channel: int | None, **kw: Any
) -> Prediction:
    """One skimage global threshold on the reduced channel -> binary prediction."""
    gray = to_gray(image, channel)
    _flat_guard(gray, name)
    thr = float(func(gray, **kw))
    return _binary(gray, thr, polarity, threshold=thr)


def _local(
    func: Callable[..., np.ndarray], image: np.ndarray, polarity: str, channel: int | None, **kw: Any
) -> Prediction:
    """One skimage local threshold (an array of thresholds) -> binary prediction."""
    gray = to_gray(image, channel)
    return _binary(
        gray,
        func(gray, **kw),
        polarity,
        **{k: v for k, v in kw.items() if k in ("block_size", "window_size")},
    )


@method(
    "threshold",
    family="thresholding",
    params=[
        Param(
            "value",
            "float",
            "fixed global threshold in the units of the channel; none: the midpoint of min and max",
            optional=True,
        ),
        POLARITY,
        CHANNEL,
    ],
)
def threshold(
    image: np.ndarray, *, value: float | None = None, polarity: str = "bright", channel: int | None = None
) -> Prediction:
    """Fixed global threshold: class 1 where the channel is above ``value`` (bright polarity).

    Parameters
    ----------
    image : (H, W[, C]) ndarray
        Any dtype and channel count.
    value : float, optional
        Threshold in the units of the channel; ``None`` takes ``(min + max) / 2``.

    Returns
    -------
    Prediction
        ``mask`` (H, W) uint8 in {0, 1}; ``info['threshold']``.

    Examples
    --------
    >>> threshold(np.array([[1, 5], [9, 2]]), value=4).mask.tolist()
    [[0, 1], [1, 0]]
    """
    gray = to_gray(image, channel)
    thr = float(gray.min() + gray.max()) / 2 if value is None else value
    return _binary(gray, thr, polarity, threshold=thr)


@method("otsu", family="thresholding", params=[_NBINS, POLARITY, CHANNEL])
def otsu(
    image: np.ndarray, *, nbins: int = 256, polarity: str = "bright", channel: int | None = None
) -> Prediction:
    """Otsu's threshold (``skimage.filters.threshold_otsu``): maximal between-class variance.

    Examples
    --------
    >>> otsu(np.array([[10, 10], [200, 200]], np.uint8)).mask.tolist()
    [[0, 0], [1, 1]]
    """
    return _global("otsu", filters.threshold_otsu, image, polarity, channel, nbins=nbins)


@method(
    "multi-otsu",
    family="thresholding",
    params=[Param("classes", "int", "number of classes", low=2, high=32), _NBINS, POLARITY, CHANNEL],
    kind="multiclass",
    num_classes_param="classes",
)
def multi_otsu(
    image: np.ndarray,
    *,
    classes: int = 3,
    nbins: int = 256,
    polarity: str = "bright",
    channel: int | None = None,
) -> Prediction:
    """Multi-Otsu (``skimage.filters.threshold_multiotsu``): ``classes - 1`` thresholds.

    Class ``k`` is the k-th intensity band from dark to bright (bright polarity), or from
    bright to dark with ``polarity='dark'``.

    Examples
    --------
    >>> img = np.repeat(np.array([[0, 100, 200]], np.uint8), 2, axis=0)
    >>> multi_otsu(img, classes=3).mask.tolist()
    [[0, 1, 2], [0, 1, 2]]
    """
    gray = to_gray(image, channel)
    _flat_guard(gray, "multi-otsu")
    try:
        hist = None
        if np.issubdtype(gray.dtype, np.integer) and int(gray.max()) - int(gray.min()) >= nbins:
            # skimage gives integer images one bin per value, which makes multi-Otsu's search
            # over 16-bit data take hours; honour nbins instead. Bins are runs of whole values
            # and each is represented by its largest value, so `gray > t` splits between bins.
            lo = int(gray.min())
            width = -(-(int(gray.max()) - lo + 1) // nbins)
            counts = np.bincount(((gray.astype(np.int64) - lo) // width).ravel())
            hist = (counts, lo + width * (np.arange(counts.size) + 1) - 1)
        thresholds = filters.threshold_multiotsu(gray, classes=classes, nbins=nbins, hist=hist)
    except ValueError as exc:
        raise DataError(
            f"multi-otsu: cannot find {classes - 1} thresholds ({exc}); use fewer classes or more nbins"
        ) from exc
    labels = np.zeros(gray.shape, np.uint8)
    for t in thresholds:  # class = number of thresholds below the value (x > t), faster than digitize
        labels += gray > t
    if polarity == "dark":
        labels = (classes - 1 - labels).astype(np.uint8)
    return Prediction(labels, info={"thresholds": [float(t) for t in thresholds]})


@method("li", family="thresholding", params=[POLARITY, CHANNEL])
def li(image: np.ndarray, *, polarity: str = "bright", channel: int | None = None) -> Prediction:
    """Li's minimum cross-entropy threshold (``skimage.filters.threshold_li``).

    Examples
    --------
    >>> li(np.array([[10, 12], [200, 210]], np.uint8)).mask.tolist()
    [[0, 0], [1, 1]]
    """
    return _global("li", filters.threshold_li, image, polarity, channel)


@method("yen", family="thresholding", params=[_NBINS, POLARITY, CHANNEL])
def yen(
    image: np.ndarray, *, nbins: int = 256, polarity: str = "bright", channel: int | None = None
) -> Prediction:
    """Yen's maximum-correlation threshold (``skimage.filters.threshold_yen``).

    Examples
    --------
    >>> yen(np.array([[10, 12], [200, 210]], np.uint8)).mask.tolist()
    [[0, 0], [1, 1]]
    """
    return _global("yen", filters.threshold_yen, image, polarity, channel, nbins=nbins)


@method("triangle", family="thresholding", params=[_NBINS, POLARITY, CHANNEL])
def triangle(
    image: np.ndarray, *, nbins: int = 256, polarity: str = "bright", channel: int | None = None
) -> Prediction:
    """Triangle threshold (``skimage.filters.threshold_triangle``), for one dominant peak.

    Examples
    --------
    >>> img = np.r_[np.zeros(90), np.arange(10) * 20 + 60].reshape(10, 10).astype(np.uint8)
    >>> int(triangle(img).mask.sum()) > 0
    True
    """
    return _global("triangle", filters.threshold_triangle, image, polarity, channel, nbins=nbins)


@method(
    "adaptive",
    family="thresholding",
    params=[
        Param("block_size", "int", "odd side of the local neighbourhood in pixels", low=3, odd=True),
        Param(
            "local",
            "str",
            "local threshold: weighted mean (gaussian), mean or median",
            choices=("gaussian", "mean", "median"),
        ),
        Param("offset", "float", "subtracted from the local threshold (channel units)"),
        POLARITY,
        CHANNEL,
    ],
)
def adaptive(
    image: np.ndarray,
    *,
    block_size: int = 35,
    local: str = "gaussian",
    offset: float = 0.0,
    polarity: str = "bright",
    channel: int | None = None,
) -> Prediction:
    """Local threshold (``skimage.filters.threshold_local``): each pixel against its neighbourhood.

    Examples
    --------
    >>> img = np.tile(np.array([0, 0, 9], np.uint8), (3, 3))
    >>> adaptive(img, block_size=3, local="mean").mask[0].tolist()
    [0, 0, 1, 0, 0, 1, 0, 0, 1]
    """
    return _local(
        filters.threshold_local, image, polarity, channel, block_size=block_size, method=local, offset=offset
    )


@method(
    "sauvola",
    family="thresholding",
    params=[
        _WINDOW,
        _K,
        Param(
            "r",
            "float",
            "dynamic range of the standard deviation; none: half the dtype range",
            low=0,
            optional=True,
        ),
        POLARITY,
        CHANNEL,
    ],
)
def sauvola(
    image: np.ndarray,
    *,
    window_size: int = 15,
    k: float = 0.2,
    r: float | None = None,
    polarity: str = "bright",
    channel: int | None = None,
) -> Prediction:
    """Sauvola's local threshold (``skimage.filters.threshold_sauvola``), made for documents.

    Examples
    --------
    >>> img = np.full((9, 9), 200, np.uint8); img[4, :] = 20
    >>> int(sauvola(img, window_size=3, polarity="dark").mask[4].sum())
    9
    """
    return _local(filters.threshold_sauvola, image, polarity, channel, window_size=window_size, k=k, r=r)


@method("niblack", family="thresholding", params=[_WINDOW, _K, POLARITY, CHANNEL])
def niblack(
    image: np.ndarray,
    *,
    window_size: int = 15,
    k: float = 0.2,
    polarity: str = "bright",
    channel: int | None = None,
) -> Prediction:
    """Niblack's local threshold (``skimage.filters.threshold_niblack``): mean - k * std.

    Examples
    --------
    >>> img = np.full((9, 9), 200, np.uint8); img[4, :] = 20
    >>> int(niblack(img, window_size=3, polarity="dark").mask[4].sum())
    9
    """
    return _local(filters.threshold_niblack, image, polarity, channel, window_size=window_size, k=k)
