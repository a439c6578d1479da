"""Edge-based segmentation: edges -> closed contours -> filled regions -> objects.

``canny-fill`` finds edges with ``skimage.feature.canny``, ``sobel-fill`` thresholds the
``skimage.filters.sobel`` gradient magnitude (Otsu by default). Both close small gaps with a
morphological closing (``skimage.morphology.closing`` with a disk), fill enclosed regions
(``scipy.ndimage.binary_fill_holes``), drop specks (``skimage.morphology.remove_small_objects``)
and return each connected component as an instance. The channel is rescaled to [0, 1] by its
min and max first, so edge thresholds mean the same for 8-bit, 16-bit and float data.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import feature, filters, morphology

from segscope.classical._base import CHANNEL, Param, _rescale, method, to_gray
from segscope.core.instances import Instances
from segscope.core.prediction import Prediction

__all__ = ["canny_fill", "sobel_fill", "close_and_fill"]

_CLOSING = Param(
    "closing", "int", "radius in pixels of the disk that closes gaps in the edges (0: none)", low=0, high=50
)
_MIN_SIZE = Param("min_size", "int", "objects smaller than this many pixels are dropped", low=0)
_FILL = Param("fill", "bool", "fill closed contours (true) or return the closed edges themselves (false)")


def close_and_fill(
    edges: np.ndarray, *, closing: int, min_size: int, fill: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean edge map -> (``uint8`` foreground mask, ``int32`` component ids).

    Examples
    --------
    >>> ring = np.zeros((7, 7), bool); ring[1, 1:6] = ring[5, 1:6] = ring[1:6, 1] = ring[1:6, 5] = True
    >>> mask, ids = close_and_fill(ring, closing=0, min_size=0, fill=True)
    >>> int(mask.sum()), int(ids.max())
    (25, 1)
    """
    region = morphology.closing(edges, morphology.disk(closing)) if closing > 0 else edges
    if fill:
        region = ndimage.binary_fill_holes(region)
    if min_size > 1:
        region = morphology.remove_small_objects(region, max_size=min_size - 1)
    ids, _ = ndimage.label(region)
    return region.view(np.uint8), ids


def _prediction(edges: np.ndarray, closing: int, min_size: int, fill: bool, **info: object) -> Prediction:
    mask, ids = close_and_fill(edges, closing=closing, min_size=min_size, fill=fill)
    instances = Instances.from_id_map(ids) if fill else None
    return Prediction(mask, instances=instances, info={**info, "objects": int(ids.max())})


@method(
    "canny-fill",
    family="edges",
    params=[
        Param("sigma", "float", "Gaussian smoothing before edge detection, in pixels", low=0, high=50),
        Param(
            "low_threshold",
            "float",
            "hysteresis low threshold on the gradient of the [0, 1] image; none: 0.1",
            low=0,
            optional=True,
        ),
        Param("high_threshold", "float", "hysteresis high threshold; none: 0.2", low=0, optional=True),
        _CLOSING,
        _MIN_SIZE,
        _FILL,
        CHANNEL,
    ],
    outputs=("mask", "instances"),
)
def canny_fill(
    image: np.ndarray,
    *,
    sigma: float = 2.0,
    low_threshold: float | None = None,
    high_threshold: float | None = None,
    closing: int = 2,
    min_size: int = 16,
    fill: bool = True,
    channel: int | None = None,
) -> Prediction:
    """Canny edges, closed and filled: class 1 inside closed contours, one instance per region.

    Parameters
    ----------
    image : (H, W[, C]) ndarray
        Any dtype; reduced to one channel by :func:`to_gray` and rescaled to [0, 1].

    Returns
    -------
    Prediction
        ``mask`` (H, W) uint8 {0, 1}; ``instances`` one per connected region (when ``fill``).

    Examples
    --------
    >>> img = np.zeros((32, 32), np.uint8); img[8:24, 8:24] = 200
    >>> p = canny_fill(img, sigma=1.0)
    >>> len(p.instances), int(p.mask[16, 16])
    (1, 1)
    """
    gray = _rescale(to_gray(image, channel))
    edges = feature.canny(gray, sigma=sigma, low_threshold=low_threshold, high_threshold=high_threshold)
    return _prediction(edges, closing, min_size, fill)


@method(
    "sobel-fill",
    family="edges",
    params=[
        Param(
            "threshold",
            "float",
            "edge threshold on the Sobel magnitude of the [0, 1] image; none: Otsu",
            low=0,
            optional=True,
        ),
        _CLOSING,
        _MIN_SIZE,
        _FILL,
        CHANNEL,
    ],
    outputs=("mask", "instances"),
)
def sobel_fill(
    image: np.ndarray,
    *,
    threshold: float | None = None,
    closing: int = 2,
    min_size: int = 16,
    fill: bool = True,
    channel: int | None = None,
) -> Prediction:
    """Sobel gradient magnitude above a threshold, closed and filled; one instance per region.

    Examples
    --------
    >>> img = np.zeros((32, 32), np.uint8); img[8:24, 8:24] = 200
    >>> p = sobel_fill(img)
    >>> len(p.instances), int(p.mask[16, 16])
    (1, 1)
    """
    gray = _rescale(to_gray(image, channel))
    magnitude = filters.sobel(gray)
    thr = float(filters.threshold_otsu(magnitude)) if threshold is None else threshold
    return _prediction(magnitude > thr, closing, min_size, fill, threshold=thr)
