"""Images: ``(H, W)`` or ``(H, W, C)`` arrays of any dtype and channel count.

A radar field, a 13-band satellite tile and an RGBA microscopy PNG are all first-class
images. Only display needs 8-bit RGB, and :func:`to_display` makes it.
"""

from __future__ import annotations

import numpy as np

from segscope.errors import DataError

__all__ = ["validate_image", "num_channels", "to_display", "overlay"]


def validate_image(image: np.ndarray, *, source: str = "image") -> np.ndarray:
    """Check that ``image`` is ``(H, W)`` or ``(H, W, C)`` and finite; return it as an array.

    Raises
    ------
    DataError
        On a wrong number of dimensions, an empty image, a non-numeric dtype, or NaN/inf in
        float data.

    Examples
    --------
    >>> validate_image(np.zeros((4, 5, 13), np.float32)).shape
    (4, 5, 13)
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise DataError(f"{source}: image must be (H, W) or (H, W, C), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0 or (image.ndim == 3 and image.shape[2] == 0):
        raise DataError(f"{source}: image is empty (shape {image.shape})")
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
        raise DataError(f"{source}: image dtype {image.dtype} is not numeric")
    if np.issubdtype(image.dtype, np.floating):
        bad = ~np.isfinite(image)
        if bad.any():
            raise DataError(
                f"{source}: {int(bad.sum())} values are NaN or infinite; "
                "replace them (e.g. numpy.nan_to_num) before segmenting"
            )
    return image


def num_channels(image: np.ndarray) -> int:
    """Number of channels: 1 for ``(H, W)``, ``C`` for ``(H, W, C)``."""
    return 1 if image.ndim == 2 else int(image.shape[2])


def to_display(
    image: np.ndarray,
    *,
    channels: tuple[int, ...] | None = None,
    percentiles: tuple[float, float] = (1.0, 99.0),
) -> np.ndarray:
    """Any image -> ``(H, W, 3) uint8`` RGB for overlays and the app.

    uint8 data is shown as is; other dtypes are stretched between the given percentiles per
    channel. By default RGB(A) images show their first three channels, other channel counts
    their first channel in grey; ``channels`` picks 1 or 3 channels.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    c = image.shape[2]
    if channels is None:
        channels = (0, 1, 2) if c in (3, 4) else (0,)
    if any(not 0 <= ch < c for ch in channels):
        raise DataError(f"channels {channels} out of range for an image with {c} channels")
    picked = image[:, :, list(channels)]
    if picked.dtype != np.uint8:
        data = picked.astype(np.float32)
        out = np.empty(data.shape, np.uint8)
        for k in range(data.shape[2]):
            lo, hi = np.percentile(data[:, :, k], percentiles)
            scale = 255.0 / (hi - lo) if hi > lo else 0.0
            out[:, :, k] = np.clip((data[:, :, k] - lo) * scale, 0, 255).astype(np.uint8)
        picked = out
    if picked.shape[2] == 1:
        picked = np.repeat(picked, 3, axis=2)
    return np.ascontiguousarray(picked)


def overlay(
    image: np.ndarray,
    colors: np.ndarray,
    *,
    where: np.ndarray | None = None,
    alpha: float = 0.5,
    boundaries: np.ndarray | None = None,
    boundary_color: tuple[int, int, int] = (255, 255, 0),
) -> np.ndarray:
    """Blend a colour layer ``(H, W, 3)`` over an image where ``where`` is true.

    ``boundaries`` (boolean ``(H, W)``), if given, is drawn opaque in ``boundary_color``.
    """
    base = to_display(image).astype(np.float32)
    layer = np.asarray(colors, np.float32)
    if where is None:
        where = np.ones(base.shape[:2], bool)
    out = base.copy()
    out[where] = (1 - alpha) * base[where] + alpha * layer[where]
    out = out.astype(np.uint8)
    if boundaries is not None:
        out[boundaries] = boundary_color
    return out
