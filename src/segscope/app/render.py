"""Pictures for the app: display images, mask / error / confusion layers and thumbnails as PNG bytes.

Every function works on NumPy arrays and returns arrays or PNG bytes; they call
:func:`segscope.core.image.to_display`, :meth:`ClassMap.colorize` and
:func:`segscope.evaluation.report.error_map` rather than re-implementing them. Layers are RGBA
with a transparent background so the browser stacks them over the image and the opacity slider
is a CSS property. Large masks are downsampled (nearest neighbour) on the server before they
are coloured, so a 4096x4096 mask costs what a 1024x1024 one does.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from segscope.core.classes import ClassMap
from segscope.core.image import overlay, to_display
from segscope.errors import ParameterError

__all__ = [
    "COLORMAPS",
    "CONFUSION_COLOR",
    "LRUCache",
    "confusion_layer",
    "display_image",
    "error_layer",
    "mask_layer",
    "png_bytes",
    "shrink",
    "thumbnail",
]

#: Colour maps offered for single-channel scientific images (matplotlib names).
COLORMAPS = ("gray", "viridis", "magma", "inferno", "plasma", "cividis", "turbo", "coolwarm")
#: Colour of the "truth a, predicted b" pixels in the confusion-pair layer.
CONFUSION_COLOR = (255, 0, 255)


def _step(shape: Sequence[int], max_side: int | None) -> int:
    if not max_side or max(shape[:2]) <= max_side:
        return 1
    return int(np.ceil(max(shape[:2]) / max_side))


def shrink(array: np.ndarray, max_side: int | None) -> np.ndarray:
    """Nearest-neighbour downsample by an integer stride so the longest side is ``<= max_side``.

    Striding keeps label values exact (no blending of class ids) and works for any dtype and
    channel count.

    Examples
    --------
    >>> shrink(np.zeros((3000, 1000), np.uint16), 1024).shape
    (1000, 334)
    """
    step = _step(array.shape, max_side)
    return array if step == 1 else np.ascontiguousarray(array[::step, ::step])


def display_image(
    image: np.ndarray,
    *,
    channels: tuple[int, ...] | None = None,
    cmap: str | None = None,
    max_side: int | None = None,
) -> np.ndarray:
    """Any image ``(H, W[, C])`` of any dtype -> ``(h, w, 3) uint8`` for the browser.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        uint8, uint16, float, N channels.
    channels : tuple of int, optional
        One channel (shown with ``cmap``) or three (shown as RGB); see :func:`to_display`.
    cmap : str, optional
        One of :data:`COLORMAPS`, applied when one channel is shown.
    max_side : int, optional
        Downsample so the longest side is at most this (area averaging, for display).

    Examples
    --------
    >>> display_image(np.random.default_rng(0).random((8, 8, 5)), channels=(4,), cmap="viridis").shape
    (8, 8, 3)
    """
    if cmap is not None and cmap not in COLORMAPS:
        raise ParameterError(f"colour map '{cmap}' is not offered; choose one of {', '.join(COLORMAPS)}")
    rgb = to_display(image, channels=channels)
    step = _step(rgb.shape, max_side)
    if step > 1:
        import cv2

        h, w = rgb.shape[:2]
        rgb = cv2.resize(rgb, (max(1, w // step), max(1, h // step)), interpolation=cv2.INTER_AREA)
    one_channel = (channels is not None and len(channels) == 1) or (
        channels is None and (np.ndim(image) == 2 or np.shape(image)[2] not in (3, 4))
    )
    if cmap and cmap != "gray" and one_channel:
        from matplotlib import colormaps

        lut = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
        rgb = lut[rgb[:, :, 0]]
    return np.ascontiguousarray(rgb)


def _rgba(colors: np.ndarray, where: np.ndarray, alpha: int = 255) -> np.ndarray:
    out = np.zeros((*where.shape, 4), np.uint8)
    out[..., :3] = colors
    out[..., 3] = np.where(where, alpha, 0)
    return out


def mask_layer(
    mask: np.ndarray,
    class_map: ClassMap,
    *,
    instance_ids: np.ndarray | None = None,
    max_side: int | None = 1024,
    background: int | None = 0,
) -> np.ndarray:
    """``(h, w, 4) uint8`` RGBA layer: class colours, background transparent, boundaries opaque.

    With ``instance_ids`` (``(H, W)``, 0 = none) each object gets its own colour so touching
    objects are told apart. Downsampled to ``max_side`` first.

    Examples
    --------
    >>> layer = mask_layer(np.array([[0, 1]], np.uint8), ClassMap(["bg", "cell"], colors=[(0, 0, 0), (255, 0, 0)]))
    >>> layer[0, 0].tolist(), layer[0, 1].tolist()
    ([0, 0, 0, 0], [255, 0, 0, 255])
    """
    from skimage.segmentation import find_boundaries

    mask = shrink(np.asarray(mask), max_side)
    if instance_ids is not None:
        ids = shrink(np.asarray(instance_ids), max_side).astype(np.int64)
        colors = class_map.palette()[(ids % 254) + 1]
        where = ids > 0
        bounds = find_boundaries(ids, mode="inner") & where
    else:
        colors = class_map.colorize(mask)
        where = mask != background if background is not None else np.ones(mask.shape, bool)
        bounds = find_boundaries(mask, mode="inner") & where
    out = _rgba(colors, where, 170)
    out[bounds, 3] = 255
    return out


def error_layer(
    gt: np.ndarray, pred: np.ndarray, *, ignore_index: int = 255, max_side: int | None = 1024
) -> np.ndarray:
    """RGBA error map (TP green, FP red, FN blue, wrong class orange, ignore grey) from
    :func:`segscope.evaluation.report.error_map`; correct background is transparent."""
    from segscope.evaluation.report import error_map

    gt, pred = shrink(np.asarray(gt), max_side), shrink(np.asarray(pred), max_side)
    colors, where = error_map(gt, pred, ignore_index=ignore_index)
    return _rgba(colors, where)


def confusion_layer(
    gt: np.ndarray,
    pred: np.ndarray,
    class_map: ClassMap,
    *,
    a: int | None = None,
    b: int | None = None,
    max_side: int | None = 1024,
) -> np.ndarray:
    """RGBA "truth ``a``, predicted ``b``" map.

    With ``a`` and ``b`` the pixels of that pair are magenta (:data:`CONFUSION_COLOR`); with
    either left out, every wrongly predicted pixel matching the given side is drawn in the
    colour of the class it was predicted as.
    """
    gt, pred = shrink(np.asarray(gt), max_side), shrink(np.asarray(pred), max_side)
    wrong = (gt != pred) & (gt != class_map.ignore_index)
    if a is not None:
        wrong &= gt == a
    if b is not None:
        wrong &= pred == b
    if a is not None and b is not None:
        colors = np.broadcast_to(np.array(CONFUSION_COLOR, np.uint8), (*gt.shape, 3))
    else:
        colors = class_map.colorize(pred)
    return _rgba(colors, wrong)


def thumbnail(image: np.ndarray, layer: np.ndarray | None = None, *, size: int = 192) -> np.ndarray:
    """``(h, w, 3) uint8`` thumbnail: the display image with an RGBA ``layer`` blended over it
    (via :func:`segscope.core.image.overlay`), longest side ``size``."""
    import cv2

    rgb = np.asarray(image)
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
    if layer is None:
        return small
    lay = cv2.resize(layer, (tw, th), interpolation=cv2.INTER_NEAREST)
    return overlay(small, lay[..., :3], where=lay[..., 3] > 0, alpha=0.5)


def png_bytes(array: np.ndarray) -> bytes:
    """Encode ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 as PNG (fast compression)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class LRUCache:
    """A small thread-safe least-recently-used cache of rendered PNG bytes.

    Examples
    --------
    >>> cache = LRUCache(2)
    >>> cache.get_or_make("a", lambda: b"1"), cache.get_or_make("a", lambda: b"2")
    (b'1', b'1')
    """

    def __init__(self, max_items: int = 1024) -> None:
        self.max_items = max_items
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = make()
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value
