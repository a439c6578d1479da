"""Helpers shared by the format readers and writers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from segscope.errors import DataError, SegscopeError
from segscope.formats.files import ARRAY_SUFFIXES, IMAGE_SUFFIXES, write_image
from segscope.utils.files import atomic_path

__all__ = ["tag", "kind_of", "rel", "prepare_output", "put_image", "png_can_hold", "sample_evenly"]


def tag(exc: SegscopeError, kind: str) -> SegscopeError:
    """Label an error with the kind of problem it is, for the validation summary."""
    exc.kind = kind  # type: ignore[attr-defined]
    return exc


def kind_of(exc: BaseException, default: str) -> str:
    return str(getattr(exc, "kind", default))


def rel(path: Path | None, root: Path | None) -> str:
    """``path`` relative to the dataset root when it lies inside it (shorter error messages)."""
    if path is None:
        return "?"
    if root is not None:
        base = root if root.is_dir() else root.parent
        try:
            return str(path.relative_to(base))
        except ValueError:
            pass
    return str(path)


def prepare_output(path: Path, *, overwrite: bool) -> Path:
    """Create ``path`` as a folder, refusing a non-empty one unless ``overwrite``."""
    if path.exists() and not path.is_dir():
        raise DataError(f"{path}: exists and is a file; give a folder path for the dataset")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise DataError(
            f"{path}: folder is not empty; choose an empty folder or pass overwrite=True (--overwrite)"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def png_can_hold(image: np.ndarray) -> bool:
    channels = 1 if image.ndim == 2 else image.shape[2]
    return (image.dtype == np.uint8 and channels in (1, 3, 4)) or (image.dtype == np.uint16 and channels == 1)


def put_image(
    sample_id: str, src: Path | None, load: Callable[[], Any], folder: Path, *, arrays_only: bool = False
) -> Path:
    """Write a sample's image into ``folder`` as ``<id><suffix>`` and return the path.

    The source file is copied byte for byte when its format can be kept (exact, and no JPEG
    re-encoding); otherwise the array is written as PNG when PNG can hold it, else ``.npy``.
    """
    keep = ARRAY_SUFFIXES if arrays_only else IMAGE_SUFFIXES + ARRAY_SUFFIXES
    if src is not None and src.is_file() and src.suffix.lower() in keep:
        dst = folder / f"{sample_id}{src.suffix.lower()}"
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
        return dst
    image = np.asarray(load())
    suffix = ".png" if png_can_hold(image) and not arrays_only else ".npy"
    dst = folder / f"{sample_id}{suffix}"
    write_image(dst, image)
    return dst


def sample_evenly(items: list, most: int) -> list:
    """Up to ``most`` items spread evenly over ``items`` (first and last included)."""
    if len(items) <= most:
        return list(items)
    idx = np.linspace(0, len(items) - 1, most).round().astype(int)
    return [items[i] for i in dict.fromkeys(idx.tolist())]
