"""Class maps: class names, colours, the ignore value and how stored pixel values map to ids."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segscope.errors import DataError, FormatError

__all__ = ["ClassMap", "voc_palette", "IGNORE_INDEX", "CLASSES_FILENAMES"]

IGNORE_INDEX = 255
CLASSES_FILENAMES = ("classes.yaml", "classes.yml", "classes.json")


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour palette, ``(n, 3) uint8``: index 0 black, 1 dark red, 255 cream.

    Examples
    --------
    >>> voc_palette(3).tolist()
    [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    """
    ids = np.arange(n)
    palette = np.zeros((n, 3), dtype=np.uint8)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= (((ids >> channel) & 1) << (7 - bit)).astype(np.uint8)
        ids = ids >> 3
    return palette


@dataclass(frozen=True)
class ClassMap:
    """Names and colours of the classes of a label map, its ignore value, and value mapping.

    Parameters
    ----------
    names : sequence of str
        Class names; the class id is the position in this list.
    colors : sequence of (r, g, b), optional
        Display colour per class; defaults to the VOC palette.
    ignore_index : int
        Label value that marks pixels to ignore in training and evaluation (default 255).
    values : mapping of int to int, optional
        Stored pixel value -> class id, for masks that do not store class ids directly
        (e.g. ``{0: 0, 255: 1}`` for masks saved as 0/255).

    Examples
    --------
    >>> cm = ClassMap(["membrane", "cell"], values={0: 0, 255: 1})
    >>> cm.encode(np.array([[0, 255]], dtype=np.uint8)).tolist()
    [[0, 1]]
    >>> cm.decode(np.array([[1, 0]])).tolist()
    [[255, 0]]
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...] = ()
    ignore_index: int = IGNORE_INDEX
    values: Mapping[int, int] | None = None
    ignore_color: tuple[int, int, int] = (224, 224, 192)
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        object.__setattr__(self, "names", names)
        if not names:
            raise DataError("a class map needs at least one class name")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise DataError(f"class names must be unique, but {dup} appear twice; rename them")
        if not self.colors:
            palette = voc_palette(max(256, len(names)))
            object.__setattr__(self, "colors", tuple(tuple(map(int, c)) for c in palette[: len(names)]))
        elif len(self.colors) != len(names):
            raise DataError(
                f"class map has {len(names)} names but {len(self.colors)} colours; give one colour per class"
            )
        else:
            object.__setattr__(self, "colors", tuple(tuple(int(v) for v in c) for c in self.colors))
        if 0 <= self.ignore_index < len(names):
            raise DataError(
                f"ignore_index {self.ignore_index} is also the id of class '{names[self.ignore_index]}'; "
                "choose an ignore_index outside 0..num_classes-1 (e.g. 255)"
            )
        if self.values is not None:
            values = {int(k): int(v) for k, v in dict(self.values).items()}
            bad = {k: v for k, v in values.items() if not (0 <= v < len(names) or v == self.ignore_index)}
            if bad:
                raise DataError(
                    f"value mapping {bad} points to class ids outside 0..{len(names) - 1}; "
                    "map each stored value to a class id or to the ignore_index"
                )
            object.__setattr__(self, "values", values)

    # ------------------------------------------------------------------ construction
    @classmethod
    def default(cls, num_classes: int, *, ignore_index: int = IGNORE_INDEX) -> ClassMap:
        """Classes named ``background``, ``class_1``, ... ``class_{n-1}``."""
        names = ["background"] + [f"class_{i}" for i in range(1, num_classes)]
        return cls(tuple(names), ignore_index=ignore_index)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "class map") -> ClassMap:
        """Build from the classes-file structure (see :meth:`to_dict`)."""
        if not isinstance(data, Mapping):
            raise FormatError(
                f"{source}: expected a mapping with a 'classes' list; see README 'Classes file'"
            )
        ignore_index = int(data.get("ignore_index", IGNORE_INDEX))
        ignore_color = tuple(data.get("ignore_color", (224, 224, 192)))
        if "names" in data and "classes" not in data:
            return cls(tuple(data["names"]), ignore_index=ignore_index, ignore_color=ignore_color)  # type: ignore[arg-type]
        entries = data.get("classes")
        if not isinstance(entries, Sequence) or not entries:
            raise FormatError(f"{source}: missing a non-empty 'classes' list; see README 'Classes file'")
        names: list[str] = []
        colors: list[tuple[int, int, int]] = []
        values: dict[int, int] = {}
        for i, entry in enumerate(entries):
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, Mapping) or "name" not in entry:
                raise FormatError(f"{source}: class entry {i} has no 'name'; write e.g. '- name: cell'")
            names.append(str(entry["name"]))
            if "color" in entry:
                color = entry["color"]
                if isinstance(color, str):
                    color = tuple(int(color.lstrip("#")[j : j + 2], 16) for j in (0, 2, 4))
                if len(color) != 3:
                    raise FormatError(f"{source}: class '{entry['name']}' colour {color!r} is not [r, g, b]")
                colors.append(tuple(int(c) for c in color))  # type: ignore[arg-type]
            if "value" in entry:
                values[int(entry["value"])] = i
        if colors and len(colors) != len(names):
            raise FormatError(f"{source}: give a colour for every class or for none")
        for stored, target in dict(data.get("values", {})).items():
            values[int(stored)] = int(target)
        return cls(
            tuple(names),
            tuple(colors),
            ignore_index=ignore_index,
            values=values or None,
            ignore_color=ignore_color,  # type: ignore[arg-type]
        )

    @classmethod
    def load(cls, path: str | Path) -> ClassMap:
        """Read a classes file (YAML or JSON)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FormatError(f"{path}: cannot read classes file ({exc.strerror}); check the path") from exc
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # noqa: BLE001 - any parser error becomes one line
            raise FormatError(f"{path}: not valid {path.suffix[1:].upper()} ({exc}); fix the syntax") from exc
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The classes-file structure, YAML/JSON serialisable."""
        inverse: dict[int, int] = {}
        for stored, cid in (self.values or {}).items():
            inverse.setdefault(cid, stored)
        classes = []
        for i, (name, color) in enumerate(zip(self.names, self.colors, strict=True)):
            entry: dict[str, Any] = {"name": name, "color": list(color)}
            if i in inverse:
                entry["value"] = inverse[i]
            classes.append(entry)
        out: dict[str, Any] = {"classes": classes, "ignore_index": self.ignore_index}
        if self.values is not None and self.ignore_index in self.values.values():
            out["values"] = {k: v for k, v in self.values.items() if v == self.ignore_index}
        return out

    def save(self, path: str | Path) -> None:
        """Write the classes file (YAML, or JSON when the suffix is ``.json``)."""
        from segscope.utils.files import write_text

        path = Path(path)
        if path.suffix.lower() == ".json":
            write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        else:
            import yaml

            write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    # ------------------------------------------------------------------ properties
    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def mask_dtype(self) -> np.dtype:
        """The smallest unsigned dtype that holds every class id and the ignore value."""
        top = max(self.num_classes - 1, self.ignore_index)
        return np.dtype(np.uint8 if top <= 255 else np.uint16)

    def palette(self) -> np.ndarray:
        """``(256, 3) uint8`` palette: class colours, the ignore colour, VOC colours elsewhere."""
        pal = voc_palette(256)
        pal[: min(self.num_classes, 256)] = np.asarray(self.colors[:256], dtype=np.uint8)
        if 0 <= self.ignore_index < 256:
            pal[self.ignore_index] = self.ignore_color
        return pal

    # ------------------------------------------------------------------ conversions
    def encode(self, stored: np.ndarray, *, source: str = "mask") -> np.ndarray:
        """Stored pixel values -> class ids, checking every value is known.

        Raises
        ------
        DataError
            If a value is neither a class id, the ignore value, nor in the value mapping.
        """
        stored = np.asarray(stored)
        if stored.ndim != 2 or not np.issubdtype(stored.dtype, np.integer):
            raise DataError(
                f"{source}: a label map must be a 2-D integer array, got shape {stored.shape} dtype {stored.dtype}"
            )
        if self.values is None:
            self.check(stored, source=source)
            return stored.astype(self.mask_dtype, copy=False)
        if stored.size and (stored.min() < 0):
            raise DataError(f"{source}: negative label value {int(stored.min())}; label values must be >= 0")
        top = int(stored.max()) if stored.size else 0
        lut = np.full(max(top + 1, self.ignore_index + 1), -1, dtype=np.int64)
        if self.ignore_index >= 0:
            lut[self.ignore_index] = self.ignore_index
        for value, cid in self.values.items():
            if value <= top:
                lut[value] = cid
        out = lut[stored]
        if (out < 0).any():
            unknown = np.unique(stored[out < 0])[:10].tolist()
            raise DataError(
                f"{source}: label values {unknown} are not in the class map's value mapping "
                f"{dict(self.values)}; add them to the classes file"
            )
        return out.astype(self.mask_dtype)

    def decode(self, mask: np.ndarray) -> np.ndarray:
        """Class ids -> stored pixel values (inverse of :meth:`encode`)."""
        mask = np.asarray(mask)
        if self.values is None:
            return mask
        inverse = np.arange(max(int(mask.max()) if mask.size else 0, self.ignore_index) + 1, dtype=np.int64)
        for stored, cid in self.values.items():
            inverse[cid] = stored
        out = inverse[mask]
        dtype = np.uint8 if out.size == 0 or out.max() <= 255 else np.uint16
        return out.astype(dtype)

    def check(self, mask: np.ndarray, *, source: str = "mask") -> None:
        """Raise :class:`DataError` if ``mask`` holds a value that is not a class id or ignore."""
        values = np.unique(mask)
        bad = values[(values != self.ignore_index) & ((values < 0) | (values >= self.num_classes))]
        if bad.size:
            raise DataError(
                f"{source}: label values {bad[:10].tolist()} are not classes 0..{self.num_classes - 1} "
                f"nor ignore_index {self.ignore_index}; add them to the classes file or remap the mask"
            )

    def colorize(self, mask: np.ndarray) -> np.ndarray:
        """Label map -> ``(H, W, 3) uint8`` colour image."""
        mask = np.asarray(mask)
        pal = self.palette()
        if mask.size and int(mask.max()) >= 256:
            big = np.zeros((int(mask.max()) + 1, 3), np.uint8)
            big[: len(pal)] = pal
            pal = big
        return pal[mask]

    def encode_rgb(self, rgb: np.ndarray, *, source: str = "mask") -> np.ndarray:
        """RGB colour-coded mask ``(H, W, 3)`` -> class ids, using the class colours.

        Pixels with the ignore colour become ``ignore_index``; any other colour is an error.
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise DataError(f"{source}: an RGB mask must be (H, W, 3), got shape {rgb.shape}")
        code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
        table = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(self.colors)}
        ir, ig, ib = self.ignore_color
        table.setdefault((ir << 16) | (ig << 8) | ib, self.ignore_index)
        uniq, inverse = np.unique(code, return_inverse=True)
        lut = np.array([table.get(int(u), -1) for u in uniq], dtype=np.int64)
        if (lut < 0).any():
            unknown = [((int(u) >> 16) & 255, (int(u) >> 8) & 255, int(u) & 255) for u in uniq[lut < 0][:5]]
            raise DataError(
                f"{source}: colours {unknown} are not in the class colour table; "
                "add them to the classes file ('color: [r, g, b]')"
            )
        return lut[inverse.reshape(code.shape)].astype(self.mask_dtype)

    def describe(self) -> str:
        return ", ".join(f"{i}={n}" for i, n in enumerate(self.names))
