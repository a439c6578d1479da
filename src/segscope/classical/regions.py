"""Region-based segmentation: seeded region growing, watershed and the random walker.

All three come from ``skimage.segmentation`` (``flood``, ``watershed``, ``random_walker``);
this module only prepares seeds and markers. Foregrounds come from Otsu's threshold on the
channel given by :func:`segscope.classical.to_gray`, with ``polarity`` choosing the side.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import feature, filters, segmentation

from segscope.classical._base import (
    CHANNEL,
    POLARITY,
    Param,
    apply_polarity,
    check_seeds_inside,
    method,
    to_bands,
    to_gray,
)
from segscope.core.instances import Instances
from segscope.core.prediction import Prediction
from segscope.errors import DataError

__all__ = ["region_growing", "watershed", "random_walker"]

_SEEDS = "seeds"


def _otsu_foreground(gray: np.ndarray, polarity: str, name: str) -> tuple[np.ndarray, float]:
    if gray.min() == gray.max():
        raise DataError(
            f"{name}: the image is constant, so Otsu finds no foreground; check the channel or give seeds"
        )
    thr = float(filters.threshold_otsu(gray))
    return apply_polarity(gray > thr, polarity).view(bool), thr


@method(
    "region-growing",
    family="regions",
    params=[
        Param(
            _SEEDS,
            "seeds",
            "(row, col) start points; none: the brightest pixel (darkest with polarity=dark)",
            optional=True,
        ),
        Param(
            "tolerance",
            "float",
            "grow to neighbours within this distance of the seed value (channel units); none: 10% of the value range",
            low=0,
            optional=True,
        ),
        Param("connectivity", "int", "1: 4-neighbours, 2: 8-neighbours", low=1, high=2),
        POLARITY,
        CHANNEL,
    ],
    outputs=("mask", "instances"),
)
def region_growing(
    image: np.ndarray,
    *,
    seeds: list[list[int]] | None = None,
    tolerance: float | None = None,
    connectivity: int = 1,
    polarity: str = "bright",
    channel: int | None = None,
) -> Prediction:
    """Seeded region growing (``skimage.segmentation.flood``): one region per seed.

    A region is the connected set of pixels whose value is within ``tolerance`` of the
    seed's value. Regions of later seeds do not overwrite earlier ones.

    Parameters
    ----------
    image : (H, W[, C]) ndarray
        Any dtype; one channel is used (see ``channel``).
    seeds : list of (row, col), optional
        Start points.

    Returns
    -------
    Prediction
        ``mask`` (H, W) uint8, 1 inside any region; ``instances`` one per seed that grew.

    Examples
    --------
    >>> img = np.zeros((5, 5), np.uint8); img[:, 3] = 255
    >>> region_growing(img, seeds=[[0, 0]], tolerance=10).mask[0].tolist()
    [1, 1, 1, 0, 0]
    """
    gray = to_gray(image, channel)
    if seeds is None:
        flat = np.argmax(gray) if polarity == "bright" else np.argmin(gray)
        seeds = [[int(v) for v in np.unravel_index(flat, gray.shape)]]
    check_seeds_inside(seeds, gray.shape, "region-growing")
    if tolerance is None:
        tolerance = 0.1 * float(gray.max() - gray.min())
    if np.issubdtype(gray.dtype, np.integer):
        gray = gray.astype(np.float64)  # flood clips tolerance to the dtype range; float avoids wrap-around
    taken = np.zeros(gray.shape, bool)
    regions = []
    for r, c in seeds:
        region = segmentation.flood(gray, (r, c), tolerance=tolerance, connectivity=connectivity) & ~taken
        if region.any():
            regions.append(region)
            taken |= region
    # A few whole-image masks encode faster than Instances.from_id_map's sort of every pixel.
    instances = Instances.from_masks(np.stack(regions))
    info = {"seeds": seeds, "tolerance": tolerance}
    return Prediction(taken.view(np.uint8), instances=instances, info=info)


@method(
    "watershed",
    family="regions",
    params=[
        Param("min_distance", "int", "smallest distance in pixels between two object centres", low=1),
        Param(
            _SEEDS,
            "seeds",
            "(row, col) object centres as markers; none: peaks of the distance transform",
            optional=True,
        ),
        Param("compactness", "float", "> 0 gives more regular regions (compact watershed)", low=0),
        POLARITY,
        CHANNEL,
    ],
    outputs=("mask", "instances"),
)
def watershed(
    image: np.ndarray,
    *,
    min_distance: int = 5,
    seeds: list[list[int]] | None = None,
    compactness: float = 0.0,
    polarity: str = "bright",
    channel: int | None = None,
) -> Prediction:
    """Split an Otsu foreground into touching objects with the distance-transform watershed.

    Markers are the local maxima of the Euclidean distance to the background
    (``skimage.feature.peak_local_max``; touching maxima on a plateau merge into one marker),
    or the given ``seeds``; ``skimage.segmentation.watershed`` floods ``-distance`` from
    them inside the foreground.

    Returns
    -------
    Prediction
        ``mask`` (H, W) uint8, the Otsu foreground; ``instances`` one per watershed basin.

    Examples
    --------
    >>> yy, xx = np.mgrid[:40, :60]
    >>> img = (((yy - 20) ** 2 + (xx - 18) ** 2 < 144) | ((yy - 20) ** 2 + (xx - 40) ** 2 < 144)).astype(np.uint8)
    >>> len(watershed(img).instances)
    2
    """
    gray = to_gray(image, channel)
    fg, thr = _otsu_foreground(gray, polarity, "watershed")
    distance = ndimage.distance_transform_edt(fg)
    peaks = np.zeros(fg.shape, bool)
    if seeds is None:
        coords = feature.peak_local_max(
            distance, min_distance=min_distance, labels=fg.view(np.uint8), exclude_border=False
        )
        peaks[tuple(coords.T)] = True
        markers, n = ndimage.label(peaks, structure=np.ones((3, 3)))
    else:
        check_seeds_inside(seeds, fg.shape, "watershed")
        markers = np.zeros(fg.shape, np.int32)
        for k, (r, c) in enumerate(seeds, start=1):
            markers[r, c] = k
        n = len(seeds)
    labels = segmentation.watershed(-distance, markers, mask=fg, compactness=compactness)
    info = {"threshold": thr, "markers": int(n)}
    return Prediction(fg.view(np.uint8), instances=Instances.from_id_map(labels), info=info)


@method(
    "random-walker",
    family="regions",
    params=[
        Param("beta", "float", "edge penalty: larger keeps walkers from crossing intensity edges", low=0),
        Param(
            "margin",
            "float",
            "markers lie beyond this fraction of the way from the Otsu threshold to the min (background) and max (foreground)",
            low=0,
            high=0.5,
        ),
        Param(_SEEDS, "seeds", "extra (row, col) foreground markers", optional=True),
        Param("mode", "str", "linear solver of skimage.segmentation.random_walker", choices=("cg_j", "bf")),
        Param(
            "tol",
            "float",
            "solver tolerance (cg_j); 1e-3 can leave probabilities outside [0, 1]",
            low=1e-12,
            high=0.1,
        ),
        POLARITY,
        CHANNEL,
    ],
    outputs=("mask", "probs"),
)
def random_walker(
    image: np.ndarray,
    *,
    beta: float = 130.0,
    margin: float = 0.1,
    seeds: list[list[int]] | None = None,
    mode: str = "cg_j",
    tol: float = 1e-4,
    polarity: str = "bright",
    channel: int | None = None,
) -> Prediction:
    """Random-walker segmentation (``skimage.segmentation.random_walker``) from Otsu markers.

    With Otsu's threshold ``t``, background markers are pixels at or below
    ``t - margin * (t - min)``, foreground markers pixels above ``t + margin * (max - t)``
    (sides swapped for ``polarity='dark'``), plus ``seeds`` as foreground.
    The walk uses every channel (alpha dropped, each rescaled to [0, 1]) unless ``channel``
    picks one.

    Returns
    -------
    Prediction
        ``mask`` (H, W) uint8 {0, 1}; ``probs`` (H, W, 2) float32: for each pixel the
        probability that a random walker started there reaches a background (0) or foreground
        (1) marker first; 1 on the markers themselves.

    Examples
    --------
    >>> img = np.tile([0.0, 0.1, 0.2, 0.2, 0.3, 0.7, 0.8, 0.8, 0.9, 1.0], (6, 1))
    >>> p = random_walker(img, margin=0.5)
    >>> p.mask[0].tolist(), p.probs.shape
    ([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], (6, 10, 2))
    """
    gray = to_gray(image, channel)
    fg, thr = _otsu_foreground(gray, polarity, "random-walker")
    lo, hi = float(gray.min()), float(gray.max())
    bright = gray > thr + margin * (hi - thr)
    dark = gray <= thr - margin * (thr - lo)
    fg_marks, bg_marks = (bright, dark) if polarity == "bright" else (dark, bright)
    markers = np.zeros(gray.shape, np.int32)
    markers[bg_marks] = 1
    markers[fg_marks] = 2
    if seeds is not None:
        check_seeds_inside(seeds, gray.shape, "random-walker")
        markers[tuple(np.asarray(seeds).T)] = 2
    if not (markers == 1).any() or not (markers == 2).any():
        raise DataError(
            f"random-walker: margin={margin} leaves no background or no foreground markers; lower margin"
        )
    if (markers == 0).any():
        data = to_bands(image if channel is None else gray)
        probs = segmentation.random_walker(
            data, markers, beta=beta, mode=mode, tol=tol, return_full_prob=True, channel_axis=-1
        )
        probs = np.clip(np.moveaxis(probs, 0, -1), 0, 1).astype(np.float32)
        probs /= probs.sum(axis=2, keepdims=True)  # solver round-off, bounded by tol
    else:  # every pixel is a marker: skimage would return the markers themselves
        probs = np.eye(2, dtype=np.float32)[markers - 1]
    mask = np.argmax(probs, axis=2).astype(np.uint8)
    return Prediction(mask, probs=probs, info={"threshold": thr, "margin": margin})
