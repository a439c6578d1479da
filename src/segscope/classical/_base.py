"""The machinery shared by every classical method: parameter specs, the registry, input rules.

A method is a plain NumPy function ``f(image, *, param=default, ...) -> Prediction``. The
:func:`method` decorator registers it in :data:`METHODS` together with a :class:`Param` spec
per keyword, so that the CLI (``--param key=value``), the app and :func:`segscope.classical.segment`
parse and check parameters in one place. Defaults come from the function signature, so the
spec and the function cannot disagree.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segscope.core.classes import ClassMap
from segscope.core.image import num_channels, validate_image
from segscope.core.prediction import Prediction
from segscope.errors import DataError, ParameterError
from segscope.registry import Registry, suggest

__all__ = [
    "METHODS",
    "Method",
    "Param",
    "method",
    "to_gray",
    "to_bands",
    "image_kind",
    "apply_polarity",
    "CHANNEL",
    "POLARITY",
]

_TYPES = ("int", "float", "str", "bool", "seeds")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Param:
    """The spec of one method parameter.

    Parameters
    ----------
    name : str
        Keyword name, as in the function signature.
    type : {'int', 'float', 'str', 'bool', 'seeds'}
        Value type; ``seeds`` is a list of ``(row, col)`` pixel positions.
    help : str
        One line for ``segscope methods show``.
    choices : tuple of str, optional
        Allowed values of a ``str`` parameter.
    low, high : float, optional
        Inclusive range of a number.
    optional : bool
        ``None`` is allowed (meaning "choose automatically", explained in ``help``).
    odd : bool
        An ``int`` that must be odd (window sizes).

    Examples
    --------
    >>> Param("classes", "int", "number of classes", low=2).parse("3")
    3
    """

    name: str
    type: str
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    optional: bool = False
    odd: bool = False
    default: Any = None  # filled in from the function signature by @method

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"Param {self.name}: type must be one of {_TYPES}, got {self.type!r}")

    # -------------------------------------------------------------- text -> value
    def parse(self, text: str, *, method: str = "method") -> Any:
        """Convert a command-line string to a value of this parameter's type (then checked)."""
        text = text.strip()
        if self.optional and text.lower() in ("none", "auto", ""):
            return None
        try:
            if self.type == "int":
                value: Any = int(text)
            elif self.type == "float":
                value = float(text)
            elif self.type == "bool":
                low = text.lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError
                value = low in _TRUE
            elif self.type == "seeds":
                value = _parse_seeds(text)
            else:
                value = text
        except ValueError:
            raise ParameterError(
                f"{method}: parameter '{self.name}' got {text!r}, which is not {self.describe_type()}"
            ) from None
        return self.check(value, method=method)

    def check(self, value: Any, *, method: str = "method") -> Any:
        """Return ``value`` normalised (seeds as a list of ``[row, col]``), or raise ParameterError."""
        if value is None:
            if self.optional:
                return None
            raise ParameterError(
                f"{method}: parameter '{self.name}' cannot be None; expected {self.describe_type()}"
            )
        if isinstance(value, str) and self.type != "str":
            return self.parse(value, method=method)
        where = f"{method}: parameter '{self.name}' = {value!r}"
        if self.type == "bool":
            if not isinstance(value, bool | np.bool_):
                raise ParameterError(f"{where} is not a bool; use true or false")
            return bool(value)
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ParameterError(f"{where} is not an integer; expected {self.describe_type()}")
            value = int(value)
            if self.odd and value % 2 == 0:
                raise ParameterError(f"{where} must be odd; use {value + 1}")
        elif self.type == "float":
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise ParameterError(f"{where} is not a number; expected {self.describe_type()}")
            value = float(value)
            if not np.isfinite(value):
                raise ParameterError(f"{where} is not finite; expected {self.describe_type()}")
        elif self.type == "str":
            if not isinstance(value, str):
                raise ParameterError(f"{where} is not a string; expected {self.describe_type()}")
            if self.choices:
                key = value.strip().lower()
                if key not in self.choices:
                    raise ParameterError(
                        f"{where} is not allowed{suggest(key, list(self.choices))}; "
                        f"valid values: {', '.join(self.choices)}"
                    )
                value = key
        elif self.type == "seeds":
            value = _check_seeds(value, where)
        if self.type in ("int", "float"):
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise ParameterError(f"{where} is out of range; expected {self.describe_type()}")
        return value

    def describe_type(self) -> str:
        """E.g. ``an int in [2, 255]``, ``one of mean, gaussian``, ``a list of (row, col)``."""
        if self.type == "str" and self.choices:
            text = f"one of {', '.join(self.choices)}"
        elif self.type == "seeds":
            text = "a list of (row, col) points like '10,20;30,40'"
        elif self.type == "bool":
            text = "true or false"
        else:
            text = ("an odd int" if self.odd else "an int") if self.type == "int" else "a number"
            if self.low is not None or self.high is not None:
                lo = "-inf" if self.low is None else f"{self.low:g}"
                hi = "inf" if self.high is None else f"{self.high:g}"
                text += f" in [{lo}, {hi}]"
        return text + (" or none" if self.optional else "")


def _parse_seeds(text: str) -> list[list[int]]:
    """``'10,20;30,40'`` or JSON ``'[[10, 20], [30, 40]]'`` -> ``[[10, 20], [30, 40]]``."""
    if text.startswith("["):
        return json.loads(text)
    points = [p for p in text.replace(" ", "").split(";") if p]
    return [[int(v) for v in p.strip("()").split(",")] for p in points]


def _check_seeds(value: Any, where: str) -> list[list[int]]:
    try:
        arr = np.asarray(value)
    except ValueError:
        arr = np.zeros((0, 3))
    if arr.ndim == 1 and arr.size == 2:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ParameterError(f"{where} is not a list of (row, col) integer points; write e.g. '10,20;30,40'")
    return arr.astype(int).tolist()


@dataclass(frozen=True)
class Method:
    """A registered classical method: the function, its parameters and what it returns.

    ``kind`` says how the mask relates to classes: ``binary`` (0 background, 1 foreground),
    ``multiclass`` (``num_classes_param`` classes ordered dark to bright, or by polarity), or
    ``segments`` (the mask holds superpixel ids 1..N, which are not classes).
    """

    name: str
    family: str
    func: Callable[..., Prediction]
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    kind: str = "binary"
    num_classes_param: str | None = None
    summary: str = ""
    doc: str = field(default="", repr=False)

    def param(self, name: str) -> Param:
        """The spec of parameter ``name``; a wrong name lists the valid ones."""
        for p in self.params:
            if p.name == name:
                return p
        names = [p.name for p in self.params]
        raise ParameterError(
            f"method '{self.name}' has no parameter '{name}'{suggest(name, names)}; "
            f"valid parameters: {', '.join(names) or '(none)'}"
        )

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` (values or strings) and fill in defaults; returns every parameter."""
        out = {p.name: p.default for p in self.params}
        for name, value in params.items():
            spec = self.param(name.replace("-", "_"))
            out[spec.name] = spec.check(value, method=self.name)
        return out

    def parse(self, items: Sequence[str]) -> dict[str, Any]:
        """``['k=3', 'polarity=dark']`` -> ``{'k': 3, 'polarity': 'dark'}`` (checked)."""
        out: dict[str, Any] = {}
        for item in items:
            key, sep, text = item.partition("=")
            if not sep or not key.strip():
                raise ParameterError(
                    f"--param {item!r} is not key=value; write e.g. --param {self.params[0].name if self.params else 'key'}=..."
                )
            spec = self.param(key.strip().replace("-", "_"))
            out[spec.name] = spec.parse(text, method=self.name)
        return out

    def class_map(self, params: Mapping[str, Any] | None = None) -> ClassMap:
        """The class map of this method's masks for ``params`` (defaults where missing)."""
        if self.kind == "segments":
            return ClassMap(("background", "segment"))
        if self.kind == "multiclass" and self.num_classes_param:
            n = dict(self.resolve(params or {}))[self.num_classes_param]
            return ClassMap.default(int(n))
        return ClassMap(("background", "foreground"))

    def __call__(self, image: np.ndarray, **params: Any) -> Prediction:
        """Check the image and parameters, run the method, and record them in ``info``."""
        image = validate_image(image)
        if image.dtype == bool:
            image = image.astype(np.uint8)
        kwargs = self.resolve(params)
        pred = self.func(image, **kwargs)
        pred.info = {"method": self.name, "params": kwargs, **pred.info}
        return pred


METHODS: Registry[Method] = Registry("method")


def method(
    name: str,
    *,
    family: str,
    params: Sequence[Param],
    outputs: tuple[str, ...] = ("mask",),
    kind: str = "binary",
    num_classes_param: str | None = None,
) -> Callable[[Callable[..., Prediction]], Callable[..., Prediction]]:
    """Register a method function in :data:`METHODS`; the returned function checks its arguments.

    Every keyword-only parameter of the function needs a :class:`Param` of the same name;
    its default is read from the signature.
    """

    def decorator(func: Callable[..., Prediction]) -> Callable[..., Prediction]:
        sig = inspect.signature(func)
        keywords = {n: p for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        specs = {p.name: p for p in params}
        if set(keywords) != set(specs):
            raise TypeError(f"method {name}: signature keywords {sorted(keywords)} != specs {sorted(specs)}")
        resolved = tuple(Param(**{**p.__dict__, "default": keywords[p.name].default}) for p in params)
        doc = inspect.getdoc(func) or ""
        spec = Method(name, family, func, resolved, outputs, kind, num_classes_param, doc.split("\n")[0], doc)
        METHODS.add(name, spec)

        @functools.wraps(func)
        def checked(image: np.ndarray, **kwargs: Any) -> Prediction:
            return spec(image, **kwargs)

        return checked

    return decorator


# ---------------------------------------------------------------------- shared parameters
CHANNEL = Param(
    "channel",
    "int",
    "channel to use; none: 1 channel as is, 3-4 channels (RGB/RGBA, alpha dropped) as luminance, "
    "other counts as the mean of channels rescaled to [0, 1]",
    low=0,
    optional=True,
)
POLARITY = Param(
    "polarity",
    "str",
    "which side is class 1 (foreground): bright or dark pixels",
    choices=("bright", "dark"),
)


# ---------------------------------------------------------------------- input rules
def image_kind(image: np.ndarray) -> str:
    """``'gray'`` for ``(H, W)``/one channel, ``'rgb'`` for 3 or 4 channels (RGBA), else ``'bands'``.

    The 3-4 channel rule is the one :func:`segscope.core.image.to_display` uses; a 4-band
    non-RGBA array is therefore read as RGBA, and ``channel=`` picks one band instead.
    """
    c = num_channels(image)
    return "gray" if c == 1 else "rgb" if c in (3, 4) else "bands"


def _rescale(band: np.ndarray) -> np.ndarray:
    band = band.astype(np.float64)
    lo, hi = float(band.min()), float(band.max())
    return (band - lo) / (hi - lo) if hi > lo else np.zeros_like(band)


def to_gray(image: np.ndarray, channel: int | None = None) -> np.ndarray:
    """Reduce an image to one ``(H, W)`` channel for single-channel algorithms.

    The rule: ``channel`` given -> that channel, as stored. Otherwise one channel stays as
    stored (any dtype, 16-bit included); RGB and RGBA become luminance in [0, 1]
    (``skimage.color.rgb2gray``, alpha dropped); any other channel count becomes the mean of
    its channels, each rescaled to [0, 1] first so bands in different units weigh the same.

    Examples
    --------
    >>> to_gray(np.zeros((2, 2, 5), np.float32)).shape
    (2, 2)
    """
    c = num_channels(image)
    if channel is not None:
        if channel >= c:
            raise ParameterError(
                f"channel={channel} but the image has {c} channel(s); use a channel in 0..{c - 1}"
            )
        return image if image.ndim == 2 else image[:, :, channel]
    if c == 1:
        return image if image.ndim == 2 else image[:, :, 0]
    if c in (3, 4):
        from skimage.color import rgb2gray

        return rgb2gray(image[:, :, :3])
    return np.mean([_rescale(image[:, :, k]) for k in range(c)], axis=0)


def to_bands(image: np.ndarray) -> np.ndarray:
    """``(H, W, C) float32`` features in [0, 1] for multichannel algorithms (alpha dropped).

    RGB(A) keeps three colour channels scaled by the dtype range (``img_as_float``); gray and
    other channel counts are rescaled per channel to [0, 1] by their min and max.
    """
    if image_kind(image) == "rgb":
        from skimage.util import img_as_float

        rgb = image[:, :, :3]
        if np.issubdtype(rgb.dtype, np.integer):
            return img_as_float(rgb).astype(np.float32)
        return np.dstack([_rescale(rgb[:, :, k]) for k in range(3)]).astype(np.float32)
    bands = image[:, :, None] if image.ndim == 2 else image
    return np.dstack([_rescale(bands[:, :, k]) for k in range(bands.shape[2])]).astype(np.float32)


def apply_polarity(fg_bright: np.ndarray, polarity: str) -> np.ndarray:
    """Boolean ``above threshold`` map -> ``uint8`` label map with the chosen side as class 1."""
    fg = fg_bright if polarity == "bright" else ~fg_bright
    return fg.view(np.uint8) if fg.dtype == bool else fg.astype(np.uint8)


def check_seeds_inside(seeds: list[list[int]], shape: tuple[int, ...], method: str) -> None:
    """Raise DataError if a seed lies outside the image."""
    h, w = shape[:2]
    for r, c in seeds:
        if not (0 <= r < h and 0 <= c < w):
            raise DataError(
                f"{method}: seed ({r}, {c}) lies outside the {h}x{w} image; give (row, col) with "
                f"0 <= row < {h} and 0 <= col < {w}"
            )
