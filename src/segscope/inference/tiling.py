"""Sliding-window prediction with overlapping tiles and smooth (Gaussian) blending. NumPy only.

Written by hand: no maintained library does batched, bounded-memory tiled inference for an
arbitrary backend (torch, ONNX Runtime) on channel-last NumPy images. Tiles are cut from the
raw image and preprocessed one batch at a time; overlapping predictions are summed in a band
of tile height that moves down the image, so memory stays at the image, the ``(H, W, K)
float32`` result (optionally a memmap) and two bands of ``tile`` rows, whatever the image size.
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
        Write the result to the memory-mapped file ``probs.npy`` there (for images larger than RAM).

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
        out = np.lib.format.open_memmap(Path(memmap_dir) / "probs.npy", "w+", np.float32, (h, w, num_classes))
    else:
        out = np.empty((h, w, num_classes), np.float32)
    window = gaussian_window(th, tw)
    # Row-band accumulation: only the th rows under the current row of tiles are summed; rows
    # above the next row of tiles are final, so they are divided and written out. Per pixel the
    # tiles are added in the same order as with a full-size accumulator, so the result is
    # identical, but the extra memory is two (th, W) bands instead of (H, W, K) + (H, W).
    acc = np.zeros((th, w, num_classes), np.float32)
    wsum = np.zeros((th, w), np.float32)
    from segscope.utils.progress import progress

    batches = [
        (y, xs[i : i + batch_size]) for y in ys for i in range(0, len(xs), batch_size)
    ]  # batches never span two rows of tiles, so a band is finished when its row is
    for k, (y, row) in enumerate(progress(batches, total=len(batches), desc="tiles")):
        x = np.stack([prepare(image[y : y + th, x0 : x0 + tw]) for x0 in row]).astype(np.float32, copy=False)
        for x0, p in zip(row, fn(x), strict=True):
            acc[:, x0 : x0 + tw] += np.moveaxis(p, 0, -1) * window[:, :, None]
            wsum[:, x0 : x0 + tw] += window
        next_y = batches[k + 1][0] if k + 1 < len(batches) else h
        if next_y != y:  # rows [y, next_y) receive no more tiles
            done = min(next_y - y, th)
            out[y : y + done] = acc[:done] / wsum[:done, :, None]
            acc[: th - done] = acc[done:]
            wsum[: th - done] = wsum[done:]
            acc[th - done :] = 0
            wsum[th - done :] = 0
    return out
