"""Format registry, detection, and the two entry points ``load_dataset`` / ``save_dataset``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset
from segscope.errors import DataError, FormatError, ParameterError
from segscope.formats import _coco, _folder
from segscope.formats._classes import read_classes
from segscope.formats.files import ARRAY_SUFFIXES
from segscope.registry import Registry

__all__ = ["Format", "FORMATS", "detect_format", "load_dataset", "save_dataset"]


@dataclass(frozen=True)
class Format:
    """A dataset format: how to read it (``None``: read by another format) and how to write it."""

    name: str
    description: str
    read: Callable[..., Dataset] | None
    write: Callable[..., Path] | None


FORMATS: Registry[Format] = Registry("format")


def _add(
    name: str, description: str, read: Callable[..., Dataset] | None, write: Callable[..., Path] | None
) -> None:
    FORMATS.add(name, Format(name, description, read, write))


def _write_style(style: str, arrays_only: bool = False) -> Callable[..., Path]:
    def write(dataset: Dataset, path: Path, *, overwrite: bool = False) -> Path:
        return _folder.write_mask_folder(
            dataset, path, overwrite=overwrite, style=style, arrays_only=arrays_only
        )

    return write


_add(
    "mask-folder",
    "images/ + masks/ label maps (8/16-bit PNG or .npy), classes.yaml, splits",
    _folder.read_mask_folder,
    _write_style("label"),
)
_add(
    "palette",
    "mask folder with VOC-style palette PNG masks (read as mask-folder)",
    _folder.read_mask_folder,
    _write_style("palette"),
)
_add(
    "rgb",
    "mask folder with RGB colour-coded masks, colours in classes.yaml (read as mask-folder)",
    _folder.read_mask_folder,
    _write_style("rgb"),
)
_add(
    "instance-folder",
    "images/ + masks/ instance-id maps (0 = background, k = object k)",
    _folder.read_instance_folder,
    _folder.write_instance_folder,
)
_add("coco", "COCO instance JSON (polygons or RLE) + images/", _coco.read_coco, _coco.write_coco)
_add(
    "numpy",
    "images/*.npy|npz + masks/*.npy|npz, any dtype and channel count",
    _folder.read_numpy_folder,
    _write_style("label", arrays_only=True),
)


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name of the format of the dataset at ``path`` (a folder or a COCO ``.json`` file).

    A ``.json`` file or a folder with ``annotations.json`` / ``annotations/*.json`` is
    ``coco``; a folder whose images and masks are all ``.npy``/``.npz`` is ``numpy``; a
    folder whose inspected masks are uint16 with values exactly ``1..k`` is
    ``instance-folder``; any other folder with ``images/`` or ``masks/`` is ``mask-folder``.

    Raises
    ------
    FormatError
        If nothing recognisable is there; the message lists the formats.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "annotations.json").write_text('{"images": [], "annotations": [], "categories": []}')
    >>> detect_format(root)
    'coco'
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; check the path")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "coco"
        raise FormatError(f"{path}: a single file is read only as COCO JSON (.json); give the dataset folder")
    if path.is_dir() and _coco.coco_jsons(path) and not (path / "masks").is_dir():
        return "coco"
    lay = _folder.scan_folder(path)
    files = [*lay.images.values(), *lay.masks.values(), *lay.instances.values()]
    if not files:
        raise FormatError(
            f"{path}: no images/, masks/ or annotations.json found; point at the dataset root or pass "
            f"--format (one of {', '.join(FORMATS.list())})"
        )
    if all(p.suffix.lower() in ARRAY_SUFFIXES for p in files):
        return "numpy"
    if lay.masks and not lay.instances and _folder.inspect_masks(list(lay.masks.values())).id_maps:
        return "instance-folder"
    if lay.instances and not lay.masks:
        return "instance-folder"
    return "mask-folder"


def load_dataset(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    classes: str | os.PathLike[str] | ClassMap | None = None,
    strict: bool = False,
) -> Dataset:
    """Read a dataset; samples load their image and ground truth lazily.

    Parameters
    ----------
    path : str or Path
        Dataset folder, or a COCO ``.json`` file.
    format : str, optional
        A name from :data:`FORMATS`; detected with :func:`detect_format` when omitted.
    classes : str, Path or ClassMap, optional
        Classes file (YAML/JSON) or class map overriding the dataset's own.
    strict : bool
        Validate every sample now and raise the first problem (missing masks included).

    Returns
    -------
    Dataset
        With ``notes`` saying what the reader assumed (e.g. 0/255 masks read as 2 classes).

    Raises
    ------
    DataError, FormatError
        The path, the format or (with ``strict``) a sample is wrong; the message says how to fix it.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from segscope.formats.files import write_mask
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> write_mask(root / "masks" / "a.png", np.array([[0, 255]], np.uint8))
    >>> ds = load_dataset(root)
    >>> ds.format, ds.class_map.names, ds[0].mask.tolist()
    ('mask-folder', ('class_0', 'class_1'), [[0, 1]])
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; check the path")
    detected = format is None
    name = detect_format(path) if format is None else format
    fmt = FORMATS.get(name)
    if fmt.read is None:  # pragma: no cover - every registered format reads
        raise ParameterError(f"format '{name}' cannot be read; pass one of {', '.join(FORMATS.list())}")
    cm = read_classes(classes) if isinstance(classes, (str, os.PathLike)) else classes
    ds = fmt.read(path, classes=cm)
    if detected and fmt.name == "instance-folder" and (path / "masks").is_dir():
        ds.notes.insert(
            0,
            "masks/ hold 16-bit maps whose values are exactly 1..k in every inspected mask: read as instance-id "
            "maps (instance-folder); pass --format mask-folder (format='mask-folder') to read them as class labels",
        )
    if strict:
        from segscope.formats.validate import validate_dataset

        validate_dataset(ds, strict=True).raise_first()
    return ds


def save_dataset(
    dataset: Dataset, path: str | os.PathLike[str], *, format: str = "mask-folder", **options: Any
) -> Path:
    """Write ``dataset`` to ``path`` in a registered format; every file is written atomically.

    Parameters
    ----------
    dataset : Dataset
    path : str or Path
        Output folder (for ``coco`` also a ``.json`` path, images going beside it).
    format : str
        A name from :data:`FORMATS` (default ``mask-folder``).
    overwrite : bool, keyword
        Write into a non-empty folder (files of the same name are replaced, others kept).

    Returns
    -------
    Path
        The folder written.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from segscope.core import ClassMap, Dataset, Sample
    >>> ds = Dataset([Sample("a", load_mask=lambda: np.array([[0, 1]], np.uint8))], ClassMap.default(2))
    >>> out = save_dataset(ds, pathlib.Path(tempfile.mkdtemp()) / "out")
    >>> load_dataset(out)[0].mask.tolist()
    [[0, 1]]
    """
    fmt = FORMATS.get(format)
    if fmt.write is None:  # pragma: no cover - every registered format writes
        raise ParameterError(f"format '{format}' cannot be written")
    unknown = set(options) - {"overwrite"}
    if unknown:
        raise ParameterError(f"unknown option(s) {sorted(unknown)} for save_dataset; valid: overwrite")
    return fmt.write(dataset, Path(path), **options)
