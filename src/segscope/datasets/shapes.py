"""A synthetic "shapes" dataset: textured images of ellipses, rectangles and triangles.

Every sample has a semantic mask, an instance-id map and per-instance class labels that are
consistent by construction, so it serves as a small, exact, licence-free dataset for tests,
demos and the first training run. Objects touch, overlap (later objects hide earlier ones)
and cross the image border, so instance and boundary metrics have something to measure.

Layout: ``images/<id>.png`` (``.npy`` for dtypes or channel counts PNG cannot hold),
``masks/<id>.png`` class ids, ``instances/<id>.png`` instance ids, ``classes.yaml`` and
``splits/{train,val,test}.txt`` (one id per line).

No library generates this kind of data, so the layout and texture code is written here;
the drawing itself is scikit-image's (``skimage.draw``) and the filtering SciPy's and OpenCV's.
"""

from __future__ import annotations

import colorsys
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
from scipy import ndimage
from skimage import draw

from segscope.core.classes import ClassMap
from segscope.errors import DataError, ParameterError
from segscope.formats._common import prepare_output
from segscope.formats.files import read_mask, write_image, write_mask
from segscope.utils.files import write_text
from segscope.utils.progress import progress

__all__ = [
    "SHAPE_CLASSES",
    "SPLIT_FRACTIONS",
    "ShapesArrays",
    "shapes_class_map",
    "generate_sample",
    "make_shapes",
    "make_shapes_arrays",
    "shape_ids",
    "shapes_splits",
    "summarize_shapes",
]

SHAPE_CLASSES = ("background", "ellipse", "rectangle", "triangle")
_CLASS_COLORS = ((0, 0, 0), (230, 90, 40), (60, 180, 75), (70, 110, 230))
SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}

MIN_SIZE = 32
MAX_OBJECTS = 8
_MODES = ("free", "overlap", "touch", "border")
_MODE_P = (0.40, 0.25, 0.20, 0.15)
# An earlier object keeps at least this share of its in-image area when later ones land on
# it, and an object crossing the border keeps at least _MIN_INSIDE of its area in the image.
_MIN_VISIBLE = 0.4
_MIN_INSIDE = 0.3
_ID_PATTERN = re.compile(r"^shape_\d+$")


def shapes_class_map() -> ClassMap:
    """The class map of the shapes dataset: background, ellipse, rectangle, triangle.

    Examples
    --------
    >>> shapes_class_map().names
    ('background', 'ellipse', 'rectangle', 'triangle')
    """
    return ClassMap(SHAPE_CLASSES, colors=_CLASS_COLORS)


# --------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class _Shape:
    """One object: class, centre and shape parameters, in pixel units."""

    label: int  # 1 ellipse, 2 rectangle, 3 triangle
    cy: float
    cx: float
    a: float  # ellipse radius / rectangle half-height / triangle radius
    b: float  # ellipse radius / rectangle half-width / unused
    angle: float
    offsets: tuple[tuple[float, float], ...] = ()  # triangle vertices relative to the centre

    @property
    def radius(self) -> float:
        """Radius of a circle around the centre that holds the whole shape."""
        if self.label == 2:
            return math.hypot(self.a, self.b)
        if self.label == 3:
            return max(math.hypot(dy, dx) for dy, dx in self.offsets)
        return max(self.a, self.b)

    @property
    def area(self) -> float:
        if self.label == 1:
            return math.pi * self.a * self.b
        if self.label == 2:
            return 4.0 * self.a * self.b
        (y0, x0), (y1, x1), (y2, x2) = self.offsets
        return abs((y1 - y0) * (x2 - x0) - (y2 - y0) * (x1 - x0)) / 2.0

    def vertices(self) -> np.ndarray:
        """``(V, 2)`` polygon vertices (row, col) of a rectangle or triangle."""
        if self.label == 2:
            c, s = math.cos(self.angle), math.sin(self.angle)
            corners = [(-self.a, -self.b), (-self.a, self.b), (self.a, self.b), (self.a, -self.b)]
            pts = [(dy * c - dx * s, dy * s + dx * c) for dy, dx in corners]
        else:
            pts = list(self.offsets)
        return np.array([(self.cy + dy, self.cx + dx) for dy, dx in pts])

    def at(self, cy: float, cx: float) -> _Shape:
        return replace(self, cy=float(cy), cx=float(cx))

    def rasterize(self, size: int) -> np.ndarray:
        """``(size, size)`` bool mask of the pixels whose centres fall inside the shape."""
        out = np.zeros((size, size), bool)
        if self.label == 1:
            rr, cc = draw.ellipse(self.cy, self.cx, self.a, self.b, shape=out.shape, rotation=self.angle)
        else:
            v = self.vertices()
            rr, cc = draw.polygon(v[:, 0], v[:, 1], shape=out.shape)
        out[rr, cc] = True
        return out


def _random_shape(rng: np.random.Generator, size: int, class_probs: np.ndarray | None = None) -> _Shape:
    # The uniform default keeps the original random stream, so existing seeds give the same data.
    label = int(rng.integers(1, 4)) if class_probs is None else int(rng.choice(3, p=class_probs)) + 1
    r = float(rng.uniform(0.06, 0.17)) * size
    angle = float(rng.uniform(0, math.pi))
    cy, cx = rng.uniform(0, size, 2)
    if label == 1:
        aspect = float(rng.uniform(0.5, 1.0))
        return _Shape(1, cy, cx, r, r * aspect, angle)
    if label == 2:
        aspect = float(rng.uniform(0.35, 1.0))
        return _Shape(2, cy, cx, r * 0.8, r * 0.8 * aspect, angle)
    # A roughly equilateral triangle with jittered corners: never a sliver.
    phis = angle + np.array([0.0, 2 * math.pi / 3, 4 * math.pi / 3]) + rng.uniform(-0.35, 0.35, 3)
    radii = r * rng.uniform(0.8, 1.15, 3)
    offsets = tuple(
        (float(q * math.sin(p)), float(q * math.cos(p))) for q, p in zip(radii, phis, strict=True)
    )
    return _Shape(3, cy, cx, r, r, angle, offsets)


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _dilate(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """Grow ``mask`` by ``steps`` pixels in 4-connectivity (OpenCV: several times faster than SciPy)."""
    return cv2.dilate(mask.view(np.uint8), _CROSS, iterations=steps).view(bool)


def _touching(mask: np.ndarray, other: np.ndarray) -> bool:
    """True when ``mask`` and ``other`` do not overlap but share a pixel edge."""
    return not (mask & other).any() and (_dilate(mask) & other).any()


class _Layout:
    """Objects placed one by one; ``occ`` holds the id of the top object at each pixel."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.shapes: list[_Shape] = []
        self.masks: list[np.ndarray] = []
        self.inside: list[int] = []  # in-image pixel count of each object when placed
        self.occ = np.zeros((size, size), np.uint8)

    def fits(self, shape: _Shape, mask: np.ndarray) -> bool:
        """Whether ``mask`` is large enough and leaves every earlier object visible enough."""
        inside = int(mask.sum())
        if inside < max(_MIN_INSIDE * shape.area, 12):
            return False
        k = len(self.shapes)
        if k == 0:
            return True
        visible = np.bincount(self.occ.ravel(), minlength=k + 1) - np.bincount(
            self.occ[mask], minlength=k + 1
        )
        return bool(np.all(visible[1:] >= _MIN_VISIBLE * np.asarray(self.inside)))

    def add(self, shape: _Shape, mask: np.ndarray) -> None:
        self.shapes.append(shape)
        self.masks.append(mask)
        self.inside.append(int(mask.sum()))
        self.occ[mask] = len(self.shapes)

    def place(self, rng: np.random.Generator, shape: _Shape, mode: str) -> tuple[_Shape, np.ndarray] | None:
        """Move ``shape`` according to ``mode``; ``None`` when this try does not work out."""
        size, r = self.size, shape.radius
        if mode == "free":
            lo, hi = min(r, size / 2), max(size - r, size / 2)
            moved = shape.at(*rng.uniform(lo, hi, 2))
            mask = moved.rasterize(size)
            # Keep a gap of two pixels so "free" objects neither touch nor overlap.
            if (self.occ[_dilate(mask, 2)] > 0).any():
                return None
            return moved, mask
        if mode == "border":
            along = rng.uniform(r, size - r) if size > 2 * r else size / 2
            depth = rng.uniform(-0.3, 0.5) * r  # centre up to 0.3 r outside the image
            edge = int(rng.integers(4))
            cy, cx = [(depth, along), (size - 1 - depth, along), (along, depth), (along, size - 1 - depth)][
                edge
            ]
            moved = shape.at(cy, cx)
            return moved, moved.rasterize(size)
        j = int(rng.integers(len(self.shapes)))
        target, target_mask = self.shapes[j], self.masks[j]
        phi = rng.uniform(0, 2 * math.pi)
        uy, ux = math.sin(phi), math.cos(phi)
        if mode == "overlap":
            d = rng.uniform(0.35, 0.8) * (r + target.radius)
            moved = shape.at(target.cy + d * uy, target.cx + d * ux)
            mask = moved.rasterize(size)
            return (moved, mask) if (mask & target_mask).any() else None
        # mode == "touch": bisect the distance along phi at which the two shapes stop
        # overlapping; both are convex, so overlap is one interval of distances.
        lo, hi = 0.0, r + target.radius + 2.0
        for _ in range(12):
            mid = (lo + hi) / 2
            if (shape.at(target.cy + mid * uy, target.cx + mid * ux).rasterize(size) & target_mask).any():
                lo = mid
            else:
                hi = mid
        moved = shape.at(target.cy + hi * uy, target.cx + hi * ux)
        mask = moved.rasterize(size)
        if (self.occ[mask] > 0).any() or not _touching(mask, target_mask):
            return None
        return moved, mask


def _layout(rng: np.random.Generator, size: int, class_probs: np.ndarray | None = None) -> _Layout:
    """Place 2-8 objects: free, overlapping an earlier one, touching one, or on the border."""
    layout = _Layout(size)
    target = int(rng.integers(2, MAX_OBJECTS + 1))
    tries = 0
    while len(layout.shapes) < target and (tries < 80 or len(layout.shapes) < 2) and tries < 2000:
        tries += 1
        shape = _random_shape(rng, size, class_probs)
        if layout.shapes:
            mode = str(rng.choice(_MODES, p=_MODE_P))
        else:
            mode = "border" if rng.random() < 0.2 else "free"
        if tries > 200:  # a crowded small image: take any spot that fits
            mode = "border"
        placed = layout.place(rng, shape, mode)
        if placed is not None and layout.fits(*placed):
            layout.add(*placed)
    return layout


# --------------------------------------------------------------------------- appearance
def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise, about unit variance: a coarse random grid upsampled bicubically."""
    grid = rng.standard_normal((cells, cells, channels)).astype(np.float32)
    up = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return up.reshape(size, size, channels)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel of a float32 ``(H, W[, C])`` image, edges reflected."""
    out = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(image.shape)


def _colours(rng: np.random.Generator, labels: Sequence[int], channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Background colour ``(C,)`` and one jittered colour per object ``(K, C)``, in 0..1.

    Classes differ in hue (RGB), in brightness (grey) or in spectral signature (N bands),
    with jitter wide enough that no single pixel value gives the class away.
    """
    if channels in (1, 3):
        bg = np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.05, 0.25), rng.uniform(0.3, 0.6)))
        hues = {1: 15 / 360, 2: 120 / 360, 3: 225 / 360}
        objs = np.array(
            [
                colorsys.hsv_to_rgb(
                    (hues[lab] + rng.uniform(-30, 30) / 360) % 1.0,
                    rng.uniform(0.35, 0.75),
                    rng.uniform(0.5, 0.9),
                )
                for lab in labels
            ]
        ).reshape(-1, 3)
        if channels == 1:
            luma = np.array([0.299, 0.587, 0.114])
            return bg[None] @ luma, (objs @ luma)[:, None]
        return bg, objs
    # Multispectral: each class has a bump at its own place in the band range.
    bands = np.linspace(0.0, 1.0, channels)
    centres = {1: 0.15, 2: 0.5, 3: 0.85}
    bg = rng.uniform(0.3, 0.45) + rng.uniform(-0.1, 0.1) * bands
    objs = np.array(
        [
            (0.3 + 0.45 * np.exp(-(((bands - centres[lab] - rng.uniform(-0.1, 0.1)) / 0.3) ** 2)))
            * rng.uniform(0.85, 1.15, channels)
            for lab in labels
        ]
    ).reshape(-1, channels)
    return bg, objs


def _texture(rng: np.random.Generator, shape: _Shape, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Relative brightness variation of one object on the open grid ``yy`` (h, 1), ``xx`` (1, w).

    Ellipses are shaded like blobs (bright centre), rectangles carry stripes along a side,
    triangles a fine speckle.
    """
    size_scale = max(shape.radius, 4.0)
    if shape.label == 1:
        rho2 = ((yy - shape.cy) ** 2 + (xx - shape.cx) ** 2) / size_scale**2
        return 0.3 * (0.4 - np.minimum(rho2, 1.0)) + 0.03 * rng.standard_normal(rho2.shape, dtype=np.float32)
    if shape.label == 2:
        period = rng.uniform(0.25, 0.45) * size_scale
        proj = xx * math.cos(shape.angle) + yy * math.sin(shape.angle)
        return 0.14 * np.sin(2 * math.pi * proj / max(period, 3.0) + rng.uniform(0, 2 * math.pi))
    speckle = _blur(rng.standard_normal(np.broadcast_shapes(yy.shape, xx.shape), dtype=np.float32), 1.0)
    return 0.22 * speckle / max(float(speckle.std()), 1e-6)


def _to_dtype(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return np.round(image * 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.round(image * 65535).astype(np.uint16)
    return image.astype(np.float32)


def _check_class_probs(class_probs: Sequence[float] | None) -> np.ndarray | None:
    if class_probs is None:
        return None
    p = np.asarray(class_probs, dtype=np.float64)
    if p.shape != (3,) or not np.all(np.isfinite(p)) or (p < 0).any() or p.sum() <= 0:
        raise ParameterError(
            f"class_probs={list(class_probs)} must be 3 non-negative weights (ellipse, rectangle, triangle), "
            "e.g. (0.6, 0.35, 0.05)"
        )
    return p / p.sum()


def _check_options(size: int, channels: int, dtype: Any) -> np.dtype:
    if int(size) != size or size < MIN_SIZE:
        raise ParameterError(f"size={size} is too small for 2-8 objects; use size >= {MIN_SIZE}")
    if int(channels) != channels or not 1 <= channels <= 64:
        raise ParameterError(f"channels={channels} is not 1..64; use 1 (grey), 3 (RGB) or N bands")
    if dtype is None:
        return np.dtype(np.uint8 if channels in (1, 3) else np.float32)
    try:
        out = np.dtype(dtype)
    except TypeError as exc:
        raise ParameterError(f"dtype={dtype!r} is not a NumPy dtype; use uint8, uint16 or float32") from exc
    if out not in (np.uint8, np.uint16, np.float32):
        raise ParameterError(f"dtype={dtype!r} is not supported; use uint8, uint16 or float32")
    return out


# --------------------------------------------------------------------------- samples
def generate_sample(
    rng: np.random.Generator | int | np.random.SeedSequence,
    *,
    size: int = 256,
    channels: int = 3,
    dtype: str | np.dtype | type | None = None,
    class_probs: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw one synthetic image with 2-8 ellipses, rectangles and triangles.

    The background is a colour gradient with low-frequency and per-pixel noise; each object
    has its class's colour with jitter and a class texture. Some objects touch, some overlap
    (later objects hide earlier ones, each earlier object keeps at least 40 % of its area),
    some cross the image border.

    Parameters
    ----------
    rng : numpy.random.Generator, int or SeedSequence
        Source of randomness; the same seed gives the same sample.
    size : int
        Height and width in pixels (at least 32).
    channels : int
        1 (grey), 3 (RGB) or N bands with a spectral signature per class.
    dtype : {None, 'uint8', 'uint16', 'float32'}
        Pixel type: 0..255, 0..65535 or 0..1. ``None``: uint8 for 1 or 3 channels, else
        float32.
    class_probs : (3,) sequence of float, optional
        Relative frequency of ellipses, rectangles and triangles among the drawn objects
        (normalised to sum 1), for long-tailed class distributions such as
        ``(0.6, 0.35, 0.05)``. ``None``: uniform, and the same samples as before this option.

    Returns
    -------
    image : (size, size) or (size, size, channels) ndarray of ``dtype``
    mask : (size, size) uint8 ndarray
        Class ids: 0 background, 1 ellipse, 2 rectangle, 3 triangle.
    id_map : (size, size) uint8 ndarray
        Instance ids 1..K in drawing order, 0 background; only visible pixels count.
    labels : (K,) int64 ndarray
        Class of instance ``i`` at ``labels[i - 1]``, so
        ``mask == np.r_[0, labels][id_map]``.

    Raises
    ------
    ParameterError
        If ``size``, ``channels``, ``dtype`` or ``class_probs`` is out of range.

    Examples
    --------
    >>> image, mask, id_map, labels = generate_sample(0, size=64)
    >>> image.shape, image.dtype.name
    ((64, 64, 3), 'uint8')
    >>> bool((np.r_[0, labels][id_map] == mask).all()) and 2 <= len(labels) <= 8
    True
    """
    out_dtype = _check_options(size, channels, dtype)
    probs = _check_class_probs(class_probs)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    # The layout is drawn first, so masks do not depend on channels or dtype.
    layout = _layout(rng, size, probs)

    present = np.unique(layout.occ)
    present = present[present > 0]
    renumber = np.zeros(len(layout.shapes) + 1, np.uint8)
    renumber[present] = np.arange(1, present.size + 1)
    id_map = renumber[layout.occ]
    labels = np.array([layout.shapes[i - 1].label for i in present], np.int64)
    mask = np.r_[0, labels].astype(np.uint8)[id_map]

    bg, colours = (c.astype(np.float32) for c in _colours(rng, [s.label for s in layout.shapes], channels))
    yy, xx = np.ogrid[0:size, 0:size]
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    cells = int(rng.integers(3, 8))
    phi = rng.uniform(0, 2 * math.pi)
    ramp = ((xx - size / 2) * math.cos(phi) + (yy - size / 2) * math.sin(phi)) / size
    shade = 1.0 + rng.uniform(0.15, 0.45) * ramp + 0.08 * _smooth_noise(rng, size, cells)[..., 0]
    grain = _blur(rng.standard_normal((size, size), dtype=np.float32), 1.5 * size / 256)
    grain /= max(float(grain.std()), 1e-6)
    canvas = bg[None, None, :] * (shade + 0.03 * grain)[..., None]
    canvas += 0.03 * _smooth_noise(rng, size, cells, channels)

    # Painting the visible pixels of each object equals drawing them in order; textures
    # are computed on each object's bounding box only.
    boxes = ndimage.find_objects(layout.occ, max_label=len(layout.shapes))
    for i, (shape, colour, box) in enumerate(zip(layout.shapes, colours, boxes, strict=True), start=1):
        if box is None:  # fully hidden (cannot happen with _MIN_VISIBLE > 0, kept for safety)
            continue
        where = layout.occ[box] == i
        tex = _texture(rng, shape, yy[box[0]], xx[:, box[1]])[where]
        canvas[box][where] = colour[None, :] * (1.0 + tex[:, None])

    light = 1.0 + 0.08 * _smooth_noise(rng, size, 3)[..., 0]
    canvas *= light[..., None]
    sigma = rng.uniform(0.5, 1.0) * size / 256
    canvas = _blur(canvas, sigma)
    canvas += np.float32(rng.uniform(0.012, 0.03)) * rng.standard_normal(canvas.shape, dtype=np.float32)
    image = _to_dtype(np.clip(canvas, 0.0, 1.0), out_dtype)
    if channels == 1:
        image = image[..., 0]
    return image, mask, id_map, labels


class ShapesArrays(NamedTuple):
    """In-memory shapes samples (see :func:`make_shapes_arrays`)."""

    ids: list[str]
    images: np.ndarray  # (N, H, W[, C])
    masks: np.ndarray  # (N, H, W) uint8 class ids
    id_maps: np.ndarray  # (N, H, W) uint8 instance ids
    labels: list[np.ndarray]  # N arrays (K_i,): class of instance k at [k - 1]


def shape_ids(n: int) -> list[str]:
    """Sample ids ``shape_0000`` ... , zero-padded to at least four digits.

    >>> shape_ids(2)
    ['shape_0000', 'shape_0001']
    """
    width = max(4, len(str(max(n - 1, 0))))
    return [f"shape_{i:0{width}d}" for i in range(n)]


def _sample_rngs(n: int, seed: int) -> list[np.random.Generator]:
    # spawn() gives child i the key (i,), so sample i is the same whatever n is.
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def _check_count(n: int, seed: int) -> None:
    if int(n) != n or n < 1:
        raise ParameterError(f"n={n} samples: give at least 1")
    if int(seed) != seed or seed < 0:
        raise ParameterError(f"seed={seed} must be a non-negative integer")


def make_shapes_arrays(
    n: int,
    *,
    size: int = 128,
    seed: int = 0,
    channels: int = 3,
    dtype: str | np.dtype | type | None = None,
    class_probs: Sequence[float] | None = None,
) -> ShapesArrays:
    """The shapes dataset as arrays in memory, sample for sample what :func:`make_shapes` writes.

    Parameters
    ----------
    n : int
        Number of samples.
    size, channels, dtype, class_probs
        As in :func:`generate_sample`.
    seed : int
        Seed of the whole set; sample ``i`` is the same for any ``n > i``.

    Returns
    -------
    ShapesArrays
        ``ids``, ``images`` ``(n, size, size[, channels])``, ``masks`` and ``id_maps``
        ``(n, size, size)`` uint8, and ``labels`` (a list of ``(K_i,)`` arrays).

    Examples
    --------
    >>> data = make_shapes_arrays(2, size=48)
    >>> data.images.shape, data.masks.shape, data.ids[1]
    ((2, 48, 48, 3), (2, 48, 48), 'shape_0001')
    """
    _check_count(n, seed)
    _check_options(size, channels, dtype)
    _check_class_probs(class_probs)
    samples = [
        generate_sample(rng, size=size, channels=channels, dtype=dtype, class_probs=class_probs)
        for rng in _sample_rngs(n, seed)
    ]
    return ShapesArrays(
        ids=shape_ids(n),
        images=np.stack([s[0] for s in samples]),
        masks=np.stack([s[1] for s in samples]),
        id_maps=np.stack([s[2] for s in samples]),
        labels=[s[3] for s in samples],
    )


def shapes_splits(ids: Sequence[str], *, seed: int = 0) -> dict[str, list[str]]:
    """Shuffle ``ids`` with ``seed`` and cut them 70/15/15 into train, val and test.

    Each split keeps the ids in their original order.

    >>> {k: len(v) for k, v in shapes_splits(shape_ids(20)).items()}
    {'train': 14, 'val': 3, 'test': 3}
    """
    n = len(ids)
    order = np.random.default_rng(np.random.SeedSequence([seed, 0x5917])).permutation(n)
    n_train = int(round(SPLIT_FRACTIONS["train"] * n))
    n_val = int(round(SPLIT_FRACTIONS["val"] * n))
    cuts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {name: [ids[i] for i in sorted(idx.tolist())] for name, idx in cuts.items()}


def _image_suffix(channels: int, dtype: np.dtype) -> str:
    png = (dtype == np.uint8 and channels in (1, 3)) or (dtype == np.uint16 and channels == 1)
    return ".png" if png else ".npy"


def make_shapes(
    out: str | Path,
    *,
    n: int = 200,
    size: int = 256,
    seed: int = 0,
    channels: int = 3,
    dtype: str | np.dtype | type | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the synthetic shapes dataset to the folder ``out``.

    Writes ``images/<id>.png`` (``.npy`` when PNG cannot hold the dtype and channels),
    ``masks/<id>.png`` (class ids), ``instances/<id>.png`` (instance ids),
    ``classes.yaml`` and ``splits/train.txt``, ``val.txt``, ``test.txt`` (70/15/15).
    The same arguments give byte-identical files.

    Parameters
    ----------
    out : str or Path
        Output folder; created if missing.
    n : int
        Number of samples, ids ``shape_0000`` ... .
    size, channels, dtype
        As in :func:`generate_sample`.
    seed : int
        Seed of the whole set; sample ``i`` does not depend on ``n``.
    overwrite : bool
        Write into a non-empty folder. Stale ``shape_*`` files from an earlier, larger run
        are removed from ``images/``, ``masks/`` and ``instances/``; nothing else is.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    DataError
        If ``out`` is a file, or a non-empty folder and ``overwrite`` is false.
    ParameterError
        If an option is out of range.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = make_shapes(pathlib.Path(tempfile.mkdtemp()) / "shapes", n=4, size=48)
    >>> sorted(p.name for p in root.iterdir())
    ['classes.yaml', 'images', 'instances', 'masks', 'splits']
    """
    _check_count(n, seed)
    out_dtype = _check_options(size, channels, dtype)
    out = Path(out)
    prepare_output(out, overwrite=overwrite)
    ids = shape_ids(n)
    suffix = _image_suffix(channels, out_dtype)
    rngs = _sample_rngs(n, seed)
    for sample_id, rng in progress(zip(ids, rngs, strict=True), total=n, desc="make-shapes"):
        image, mask, id_map, _ = generate_sample(rng, size=size, channels=channels, dtype=out_dtype)
        write_image(out / "images" / f"{sample_id}{suffix}", image)
        write_mask(out / "masks" / f"{sample_id}.png", mask)
        write_mask(out / "instances" / f"{sample_id}.png", id_map)
    shapes_class_map().save(out / "classes.yaml")
    for name, split_ids in shapes_splits(ids, seed=seed).items():
        write_text(out / "splits" / f"{name}.txt", "".join(f"{i}\n" for i in split_ids))
    keep = {f"{i}{suffix}" for i in ids} | {f"{i}.png" for i in ids}
    for folder in ("images", "masks", "instances"):
        for path in (out / folder).iterdir():
            if path.is_file() and _ID_PATTERN.match(path.stem) and path.name not in keep:
                path.unlink()
    return out


def summarize_shapes(root: str | Path) -> dict[str, Any]:
    """Count samples, instances per class and split sizes of a shapes folder.

    Returns
    -------
    dict
        ``samples``, ``instances``, ``per_class`` (class name -> instance count),
        ``splits`` (split name -> sample count) and ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = make_shapes(pathlib.Path(tempfile.mkdtemp()) / "s", n=3, size=48)
    >>> summarize_shapes(root)["samples"]
    3
    """
    root = Path(root)
    if not (root / "instances").is_dir():
        raise DataError(f"{root}: no instances/ folder; is this a shapes dataset written by make_shapes?")
    names = shapes_class_map().names
    per_class = dict.fromkeys(names[1:], 0)
    inst_files = sorted(p for p in (root / "instances").iterdir() if p.suffix == ".png")
    for path in inst_files:
        id_map = read_mask(path)
        mask = read_mask(root / "masks" / path.name)
        ids, first = np.unique(id_map, return_index=True)
        for cid in mask.ravel()[first[ids > 0]]:
            per_class[names[int(cid)]] += 1
    splits = {}
    for name in SPLIT_FRACTIONS:
        split_file = root / "splits" / f"{name}.txt"
        if split_file.is_file():
            splits[name] = sum(1 for line in split_file.read_text().splitlines() if line.strip())
    return {
        "samples": len(inst_files),
        "instances": sum(per_class.values()),
        "per_class": per_class,
        "splits": splits,
        "path": str(root),
    }
