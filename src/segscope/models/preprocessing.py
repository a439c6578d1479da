"""Preprocessing that travels with a model: channel count, dtype scaling, per-channel mean/std.

NumPy (and SciPy for a sub-pixel image shift). It is computed from the training set (or given),
saved in the checkpoint, the run folder and the ONNX metadata, and applied automatically at
prediction time, so a model is never fed data scaled differently from what it was trained on.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from segscope.core.image import validate_image
from segscope.errors import DataError, ParameterError

__all__ = ["PER_IMAGE_MODES", "Preprocessing", "dtype_scale", "normalize_per_image", "shift_image"]

#: Per-image normalisations (``Preprocessing.per_image``): ``grey-percentile`` turns each image
#: grey, stretches it between its own 1st and 99.8th percentiles and inverts it when its
#: background is bright, so objects are bright on dark in [0, 1] whatever the modality;
#: ``percentile`` stretches each channel between its own percentiles and never inverts (one
#: modality whose exposure or contrast varies from image to image).
PER_IMAGE_MODES = ("grey-percentile", "percentile")
#: grey-percentile images whose stretched median lies this close to the 0.5 inversion cut have
#: no clear polarity (see :meth:`Preprocessing.from_images`).
AMBIGUOUS_MEDIAN = 0.05
#: Percentiles that per-image normalisation maps to 0 and 1 unless told otherwise.
LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.8


def dtype_scale(dtype: np.dtype | str) -> float:
    """The value that maps an image dtype to [0, 1]: 255 for uint8, 65535 for uint16, 1 for floats.

    Examples
    --------
    >>> dtype_scale("uint8"), dtype_scale("float32")
    (255.0, 1.0)
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "b" or np.issubdtype(dtype, np.floating):
        return 1.0
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    raise DataError(f"image dtype {dtype} is not numeric")


def normalize_per_image(
    image: np.ndarray,
    mode: str = "grey-percentile",
    *,
    low: float = LOW_PERCENTILE,
    high: float = HIGH_PERCENTILE,
) -> np.ndarray:
    """One image normalised on its own statistics, for datasets of mixed modalities or exposures.

    Written by hand (a percentile stretch is two lines; no library offers the auto-invert):
    DSB 2018 mixes dark-background fluorescence with bright-background H&E and brightfield, and
    one dataset-wide mean/std cannot serve both.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        Grey, RGB or RGBA (alpha dropped) image of any numeric dtype.
    mode : {'grey-percentile', 'percentile'}
        ``grey-percentile``: mean of the colour channels, ``low``/``high`` percentiles mapped to
        0/1 (clipped), then inverted when the median is above 0.5 (a bright background).
        ``percentile``: each channel mapped the same way on its own percentiles, never inverted.
    low, high : float
        Percentiles mapped to 0 and 1.

    Returns
    -------
    float32 ndarray in [0, 1]
        ``(H, W)`` for ``grey-percentile``; the input's shape for ``percentile``.

    Examples
    --------
    >>> img = np.full((4, 4, 3), 230, np.uint8); img[1:3, 1:3] = 40  # dark object, bright background
    >>> normalize_per_image(img)[1:3, 1:3].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    if mode not in PER_IMAGE_MODES:
        raise ParameterError(
            f"unknown per-image normalisation '{mode}'; use one of {', '.join(PER_IMAGE_MODES)}"
        )
    if not 0 <= low < high <= 100:
        raise ParameterError(f"percentiles low={low}, high={high} must satisfy 0 <= low < high <= 100")
    x = np.asarray(validate_image(image, source="image"), np.float32)
    if mode == "percentile":
        return _stretch(x, low, high)
    return _grey_percentile(x, low, high)[0]


def shift_image(image: np.ndarray, shift: Sequence[float]) -> np.ndarray:
    """An image moved a (sub-)pixel distance, for masks drawn a fixed distance off their images.

    ISBI 2012's masks sit about 0.6 pixels above their membranes; ``shift=(-0.6, 0)`` moves the
    images up onto them, so up-down flips and quarter turns (in training and at test time) keep
    image and mask together. SciPy's cubic spline (``scipy.ndimage.shift``, order 3), with the
    edge pixels repeated outwards.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        Any numeric dtype; channels move together.
    shift : (dy, dx)
        Pixels down and right (negative: up, left).

    Returns
    -------
    ndarray
        The moved image, in the input's shape and dtype (integers rounded and clipped to the
        dtype's range).

    Examples
    --------
    >>> img = np.zeros((5, 3), np.uint8); img[2] = 200
    >>> shift_image(img, (1, 0))[:, 0].tolist()
    [0, 0, 0, 200, 0]
    """
    from scipy import ndimage as ndi

    image = np.asarray(image)
    moved = ndi.shift(
        image.astype(np.float32), tuple(shift) + (0.0,) * (image.ndim - 2), order=3, mode="nearest"
    )
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        moved = np.clip(np.rint(moved), info.min, info.max)
    return moved.astype(image.dtype)


def _stretch(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Each channel of float32 ``x`` ((H, W) or (H, W, C)) mapped from its percentiles to [0, 1]."""
    lo, hi = np.percentile(x, [low, high], axis=(0, 1))
    return np.clip((x - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)


def _grey_percentile(x: np.ndarray, low: float, high: float) -> tuple[np.ndarray, float]:
    """Float32 ``x`` made grey, stretched and inverted if bright, and the median that decided it."""
    if x.ndim == 3:
        x = x[:, :, :3].mean(axis=2) if x.shape[2] >= 3 else x[:, :, 0]
    x = _stretch(x, low, high)
    median = float(np.median(x))
    return (1.0 - x if median > 0.5 else x), median


def _grey_percentile_noting_median(image: np.ndarray, medians: list[float]) -> np.ndarray:
    """``normalize_per_image(image, "grey-percentile")``, appending to ``medians`` the one that decided inversion."""
    x, median = _grey_percentile(
        np.asarray(validate_image(image, source="image"), np.float32), LOW_PERCENTILE, HIGH_PERCENTILE
    )
    medians.append(median)
    return x


def _warn_ambiguous_polarity(medians: list[float]) -> None:
    """Warn when grey-percentile inverted some training images and not others, and some of them
    sit at the cut: their polarity then depends on noise, not on their modality."""
    inverted = [m > 0.5 for m in medians]
    ambiguous = [k for k, m in enumerate(medians) if abs(m - 0.5) < AMBIGUOUS_MEDIAN]
    if not ambiguous or all(inverted) or not any(inverted):
        return
    shown = ", ".join(f"{k} ({medians[k]:.2f})" for k in ambiguous[:5]) + (
        ", ..." if len(ambiguous) > 5 else ""
    )
    warnings.warn(
        f"per-image grey-percentile inverted {sum(inverted)} of {len(medians)} training images and not "
        f"the others, and training images {shown} have a stretched median within {AMBIGUOUS_MEDIAN} of "
        "the 0.5 cut, so which way they turn is chance; for one modality use per_image='percentile' "
        "(--per-image percentile), which never inverts",
        stacklevel=3,
    )


def _as_shift(shift: float | Sequence[float]) -> tuple[float, float]:
    """``(dy, dx)`` floats of a shift given as ``dy`` or ``(dy, dx)``; a clear error otherwise."""
    values = [shift] if np.isscalar(shift) else list(shift)  # type: ignore[arg-type]
    try:
        pair = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) == 1:
        pair = (pair[0], 0.0)
    if len(pair) != 2 or not all(np.isfinite(pair)):
        raise ParameterError(f"image shift {shift!r} is not dy or (dy, dx) in pixels; e.g. (-0.6, 0)")
    return pair  # type: ignore[return-value]


def _as_hwc(image: np.ndarray) -> np.ndarray:
    return image[:, :, None] if image.ndim == 2 else image


@dataclass(frozen=True)
class Preprocessing:
    """How raw images become network input.

    ``x = (image / scale - mean) / std`` per channel, then ``(H, W, C) -> (C, H, W) float32``.

    Parameters
    ----------
    in_channels : int
        Channels the network takes.
    mean, std : sequence of float
        Per-channel statistics of ``image / scale`` (one value per input channel).
    scale : float
        Divides raw values first (255 for uint8 data, 65535 for uint16, 1 for float data).
    input_dtype : str
        dtype of the training images, recorded for the user.
    class_map : dict, optional
        :meth:`segscope.ClassMap.to_dict` of the classes the model predicts.
    per_image : {None, 'grey-percentile', 'percentile'}
        Per-image normalisation (:func:`normalize_per_image`) applied first; ``scale`` is then 1,
        and with ``grey-percentile`` the network takes 1 channel.
    image_shift : (dy, dx) or dy
        Pixels every image is moved down and right (:func:`shift_image`) before anything else,
        for masks drawn a fixed sub-pixel distance off their images; ``(0, 0)``: none.

    Examples
    --------
    >>> pre = Preprocessing(1, mean=(0.5,), std=(0.25,), scale=255.0)
    >>> pre.apply(np.full((2, 2), 255, np.uint8))[0, 0].tolist()
    [2.0, 2.0]
    """

    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = 1.0
    input_dtype: str = "float32"
    class_map: dict[str, Any] | None = field(default=None, compare=False)
    per_image: str | None = None
    image_shift: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.per_image is not None and self.per_image not in PER_IMAGE_MODES:
            raise ParameterError(
                f"unknown per-image normalisation '{self.per_image}'; use one of {', '.join(PER_IMAGE_MODES)}"
            )
        object.__setattr__(self, "image_shift", _as_shift(self.image_shift))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ParameterError(
                f"preprocessing has {len(self.mean)} means and {len(self.std)} stds for "
                f"{self.in_channels} channels; give one value per channel"
            )
        if any(s <= 0 for s in self.std) or self.scale <= 0:
            raise ParameterError(f"std {self.std} and scale {self.scale} must be > 0")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_images(
        cls,
        images: Iterable[np.ndarray],
        *,
        in_channels: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        scale: float | None = None,
        class_map: Mapping[str, Any] | None = None,
        per_image: str | None = None,
        image_shift: float | Sequence[float] | None = None,
    ) -> Preprocessing:
        """Per-channel mean and std of ``images`` (after scaling), streamed in float64.

        With ``per_image``, the statistics are those of the per-image normalised images. With
        ``grey-percentile``, a warning names the images whose inversion is a coin toss (see
        ``_warn_ambiguous_polarity``) when the set holds both polarities.

        ``mean``/``std`` given explicitly skip the computation. Channels of every image must
        agree. Standard deviations below 1e-6 (constant channels) become 1.
        """
        total = None
        total_sq = None
        count = 0
        dtype = None
        channels = in_channels
        medians: list[float] = []
        shift = _as_shift(0.0 if image_shift is None else image_shift)
        if any(shift):
            images = (shift_image(im, shift) for im in images)
        if per_image == "grey-percentile":
            images = (_grey_percentile_noting_median(im, medians) for im in images)
            scale = 1.0
        elif per_image is not None:
            images = (normalize_per_image(im, per_image) for im in images)
            scale = 1.0
        for k, image in enumerate(images):
            image = _as_hwc(validate_image(image, source=f"training image {k}"))
            if dtype is None:
                dtype = image.dtype
                scale = dtype_scale(dtype) if scale is None else scale
                channels = image.shape[2] if channels is None else channels
            if image.shape[2] != channels:
                raise DataError(
                    f"training image {k} has {image.shape[2]} channels but earlier ones have {channels}; "
                    "convert the dataset to one channel count"
                )
            if mean is not None and std is not None:
                break
            data = image.reshape(-1, channels).astype(np.float64) / scale
            total = data.sum(0) if total is None else total + data.sum(0)
            total_sq = (data**2).sum(0) if total_sq is None else total_sq + (data**2).sum(0)
            count += data.shape[0]
        if dtype is None:
            raise DataError("cannot compute preprocessing from an empty training set")
        _warn_ambiguous_polarity(medians)
        if mean is None or std is None:
            m = total / count
            s = np.sqrt(np.maximum(total_sq / count - m**2, 0.0))
            s[s < 1e-6] = 1.0
            mean = m.tolist() if mean is None else mean
            std = s.tolist() if std is None else std
        return cls(
            int(channels),  # type: ignore[arg-type]
            tuple(mean),
            tuple(std),
            scale=float(scale),  # type: ignore[arg-type]
            input_dtype=str(dtype),
            class_map=dict(class_map) if class_map is not None else None,
            per_image=per_image,
            image_shift=shift,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        return cls(
            int(data["in_channels"]),
            tuple(data["mean"]),
            tuple(data["std"]),
            scale=float(data.get("scale", 1.0)),
            input_dtype=str(data.get("input_dtype", "float32")),
            class_map=data.get("class_map"),
            per_image=data.get("per_image"),
            image_shift=data.get("image_shift", (0.0, 0.0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def needs_whole_image(self) -> bool:
        """Whether a step needs the whole image (per-image statistics, the shift's edges), so a
        tiled prediction must run :meth:`channels_last` on the whole image before tiling."""
        return self.per_image is not None or any(self.image_shift)

    # ------------------------------------------------------------------ use
    def channels_last(self, image: np.ndarray, *, source: str = "image") -> np.ndarray:
        """``(H, W, C)`` float32 of ``image / scale``, with the channel count adapted.

        RGBA images feed 3-channel models without their alpha; grey images feed 3-channel models
        repeated. Any other mismatch is an error. With ``per_image``, the image is first
        normalised on its own (:func:`normalize_per_image`) to [0, 1]: to one channel with
        ``grey-percentile``, channel by channel with ``percentile``. With ``image_shift``, the
        image is moved (:func:`shift_image`) before all of that.
        """
        image = _as_hwc(validate_image(image, source=source))
        if any(self.image_shift):
            image = shift_image(image, self.image_shift)
        if self.per_image == "percentile":
            image = normalize_per_image(image, self.per_image)  # channels kept: adapted below, scale 1
        elif self.per_image is not None:
            image = normalize_per_image(image, self.per_image)[:, :, None]
            if self.in_channels != 1:
                raise DataError(
                    f"preprocessing with per_image={self.per_image!r} gives 1 channel, not {self.in_channels}"
                )
            return image
        c = image.shape[2]
        if c != self.in_channels:
            if c == 4 and self.in_channels == 3:
                image = image[:, :, :3]
            elif c == 1 and self.in_channels == 3:
                image = np.repeat(image, 3, axis=2)
            else:
                raise DataError(
                    f"{source} has {c} channels but the model takes {self.in_channels}; "
                    f"use a model trained on {c}-channel images or convert the images"
                )
        return image.astype(np.float32) / np.float32(self.scale)

    def normalize(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` scaled float32 -> ``(C, H, W)`` normalised float32."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        return np.ascontiguousarray(((image - mean) / std).transpose(2, 0, 1), dtype=np.float32)

    def apply(self, image: np.ndarray, *, source: str = "image") -> np.ndarray:
        """Raw ``(H, W[, C])`` image -> ``(C, H, W)`` float32 network input."""
        return self.normalize(self.channels_last(image, source=source))
