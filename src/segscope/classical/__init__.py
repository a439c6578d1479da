"""Classical segmentation: thresholds, edges, regions and clustering, on NumPy arrays.

Every method is a plain function ``f(image, *, params) -> Prediction`` registered by name in
:data:`METHODS` with a spec of its parameters, so the same names and checks serve the Python
API, ``segscope segment --method NAME --param key=value`` and the app.

Images may be ``(H, W)`` or ``(H, W, C)`` of any dtype (8/16-bit, float, N channels).
Single-channel algorithms reduce them with :func:`to_gray` (or take ``channel=``);
multichannel ones (k-means, SLIC, Felzenszwalb, quickshift, random walker) use every channel
through :func:`to_bands`. RGBA alpha is always dropped.

>>> import numpy as np
>>> from segscope.classical import segment
>>> segment(np.array([[10, 10], [200, 200]], np.uint8), "otsu").mask.tolist()
[[0, 0], [1, 1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

# isort: off
# Import order is registration order, i.e. the order of `segscope methods list`.
from segscope.classical import thresholding, edges, regions, clustering

# isort: on
from segscope.classical._base import METHODS, Method, Param, image_kind, to_bands, to_gray
from segscope.classical._run import SegmentSummary, collect_images, segment_files
from segscope.classical.clustering import felzenszwalb, kmeans, quickshift, slic
from segscope.classical.edges import canny_fill, sobel_fill
from segscope.classical.regions import random_walker, region_growing, watershed
from segscope.classical.thresholding import (
    adaptive,
    li,
    multi_otsu,
    niblack,
    otsu,
    sauvola,
    threshold,
    triangle,
    yen,
)
from segscope.core.prediction import Prediction

__all__ = [
    "METHODS",
    "Method",
    "Param",
    "segment",
    "segment_files",
    "collect_images",
    "SegmentSummary",
    "get_method",
    "list_methods",
    "to_gray",
    "to_bands",
    "image_kind",
    "threshold",
    "otsu",
    "multi_otsu",
    "li",
    "yen",
    "triangle",
    "adaptive",
    "sauvola",
    "niblack",
    "canny_fill",
    "sobel_fill",
    "region_growing",
    "watershed",
    "random_walker",
    "kmeans",
    "slic",
    "felzenszwalb",
    "quickshift",
    "clustering",
    "edges",
    "regions",
    "thresholding",
]


def get_method(name: str) -> Method:
    """The registered :class:`Method` called ``name`` (case-insensitive, ``_`` = ``-``)."""
    return METHODS.get(name)


def list_methods(pattern: str | None = None) -> list[str]:
    """Method names in registry order, optionally filtered by a wildcard (``'*otsu'``)."""
    return METHODS.list(pattern)


def segment(image: np.ndarray, method: str, **params: Any) -> Prediction:
    """Segment ``image`` with the classical method called ``method``.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        Any numeric dtype and channel count.
    method : str
        A name from :func:`list_methods`, e.g. ``'otsu'``, ``'watershed'``, ``'slic'``.
    **params
        The method's parameters, as values or as strings (``'3'``, ``'dark'``,
        ``'10,20;30,40'``); unknown names and bad values raise with the valid choices.

    Returns
    -------
    Prediction
        ``mask``, and ``probs``/``instances`` where the method has them; ``info`` holds
        ``method``, the resolved ``params`` and method extras (thresholds, counts).

    Raises
    ------
    ParameterError
        Unknown method or parameter name, or a value of the wrong type or range.
    DataError
        An image the method cannot segment (constant, NaN, wrong shape), with the fix.

    Examples
    --------
    >>> img = np.zeros((8, 8), np.uint8); img[2:6, 2:6] = 200
    >>> p = segment(img, "otsu", polarity="dark")
    >>> int(p.mask.sum()), p.info["method"]
    (48, 'otsu')
    """
    return METHODS.get(method)(image, **params)
