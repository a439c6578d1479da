"""Sliding-window prediction with overlapping tiles and smooth (Gaussian) blending. NumPy only.

Written by hand: no maintained library does batched, bounded-memory tiled inference for an
arbitrary backend (torch, ONNX Runtime) on channel-last NumPy images. Tiles are cut from the
raw image and preprocessed one batch at a time, so memory stays at the image plus one
``(H, W, K) float32`` accumulator and one ``(H, W) float32`` weight sum (either may be a
memmap), whatever the image size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from segscope.errors import ParameterError

__all__ = ["tile_starts", "gaussian_window", "sliding_window"]

BatchFn = Callable[[np.ndarray], np.ndarray]


def tile_starts(size: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering ``[0, size)`` with tiles of ``tile`` every ``stride``; the last ends at ``size``.

    Examples
    --------
    >>> tile_starts(10, 4, 3)
    [0, 3, 6]
    >>> tile_starts(3, 4, 3)
    [0]
    """
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def gaussian_window(h: int, w: int, *, sigma_scale: float = 0.125) -> np.ndarray:
    """``(h, w) float32`` Gaussian weights peaking at 1 in the centre (sigma = ``sigma_scale`` x size).

    The minimum is clipped to 1e-4 so every pixel keeps some weight.
    """
    ys = np.arange(h, dtype=np.float64) - (h - 1) / 2
    xs = np.arange(w, dtype=np.float64) - (w - 1) / 2
    gy = np.exp(-(ys**2) / (2 * (sigma_scale * h) ** 2))
    gx = np.exp(-(xs**2) / (2 * (sigma_scale * w) ** 2))
    win = np.outer(gy, gx)
    return np.maximum(win / win.max(), 1e-4).astype(np.float32)


def sliding_window(
    image: np.ndarray,
    fn: BatchFn,
    *,
    num_classes: int,
    tile: int | tuple[int, int],
    overlap: int = 64,
    batch_size: int = 4,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    memmap_dir: str | Path | None = None,
) -> np.ndarray:
    """Class probabilities ``(H, W, K)`` of a large image, predicted tile by tile.

    Parameters
    ----------
    image : (H, W[, C]) array
        Raw image, any dtype.
    fn : callable
        ``(B, C, h, w) float32 -> (B, K, h, w)`` probabilities for a batch of prepared tiles.
    num_classes : int
        ``K``.
    tile : int or (int, int)
        Tile height and width; clipped to the image size. One tile covering the whole image
        gives exactly ``fn`` of the whole image.
    overlap : int
        Pixels shared by neighbouring tiles; blended with a Gaussian window.
    batch_size : int
        Tiles per call of ``fn``.
    prepare : callable, optional
        Raw ``(h, w[, C])`` tile -> ``(C, h, w) float32`` (the model's preprocessing).
    memmap_dir : path, optional
        Keep the accumulators in memory-mapped files there (for images larger than RAM).

    Examples
    --------
    >>> probs = sliding_window(np.zeros((50, 70), np.float32), lambda x: np.ones((len(x), 1) + x.shape[2:]),
    ...                        num_classes=1, tile=32, overlap=8, prepare=lambda t: t[None])
    >>> probs.shape, float(probs.min())
    ((50, 70, 1), 1.0)
    """
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    h, w = image.shape[:2]
    th, tw = min(th, h), min(tw, w)
    if th < 1 or tw < 1 or overlap < 0 or batch_size < 1:
        raise ParameterError(f"tile {tile}, overlap {overlap} and batch_size {batch_size} must be positive")
    if overlap >= min(th, tw) and (th < h or tw < w):
        raise ParameterError(f"overlap {overlap} must be smaller than the tile ({th}, {tw}); lower --overlap")
    prepare = prepare or (
        lambda t: np.ascontiguousarray((t[:, :, None] if t.ndim == 2 else t).transpose(2, 0, 1))
    )
    ys = tile_starts(h, th, th - overlap)
    xs = tile_starts(w, tw, tw - overlap)
    coords = [(y, x) for y in ys for x in xs]
    if len(coords) == 1:
        probs = fn(prepare(image)[None].astype(np.float32, copy=False))[0]
        return np.ascontiguousarray(np.moveaxis(probs, 0, -1), dtype=np.float32)

    if memmap_dir is not None:
        Path(memmap_dir).mkdir(parents=True, exist_ok=True)
        acc = np.lib.format.open_memmap(Path(memmap_dir) / "acc.npy", "w+", np.float32, (h, w, num_classes))
        wsum = np.lib.format.open_memmap(Path(memmap_dir) / "wsum.npy", "w+", np.float32, (h, w))
    else:
        acc = np.zeros((h, w, num_classes), np.float32)
        wsum = np.zeros((h, w), np.float32)
    window = gaussian_window(th, tw)
    from segscope.utils.progress import progress

    batches = [coords[i : i + batch_size] for i in range(0, len(coords), batch_size)]
    for batch in progress(batches, total=len(batches), desc="tiles"):
        x = np.stack([prepare(image[y : y + th, x0 : x0 + tw]) for y, x0 in batch]).astype(
            np.float32, copy=False
        )
        out = fn(x)
        for (y, x0), p in zip(batch, out, strict=True):
            acc[y : y + th, x0 : x0 + tw] += np.moveaxis(p, 0, -1) * window[:, :, None]
            wsum[y : y + th, x0 : x0 + tw] += window
    for y0 in range(0, h, 1024):  # in row blocks, so no full-size temporary is made
        acc[y0 : y0 + 1024] /= wsum[y0 : y0 + 1024, :, None]
    del wsum
    return acc
