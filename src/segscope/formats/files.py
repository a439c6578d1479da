"""Reading and writing single image, mask and array files.

PNG, JPEG, TIFF and BMP go through Pillow (which reports truncated files, unlike OpenCV's
silent ``None``); ``.npy``/``.npz`` through NumPy. Every write is atomic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segscope.errors import DataError, FormatError
from segscope.utils.files import atomic_path

__all__ = [
    "IMAGE_SUFFIXES",
    "ARRAY_SUFFIXES",
    "read_image",
    "read_mask",
    "read_palette_mask",
    "write_image",
    "write_mask",
    "write_palette_mask",
    "list_files",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
ARRAY_SUFFIXES = (".npy", ".npz")


def list_files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES + ARRAY_SUFFIXES) -> list[Path]:
    """Files directly in ``folder`` with one of ``suffixes``, sorted, hidden files skipped."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )


def _read_array(path: Path) -> np.ndarray:
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                if not keys:
                    raise FormatError(f"{path}: .npz file holds no arrays; save one with numpy.savez")
                key = next((k for k in ("image", "mask", "arr_0") if k in keys), keys[0])
                return data[key]
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot read NumPy array ({exc}); re-save it with numpy.save") from exc


def _open_pil(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found; check the path") from exc
    except UnidentifiedImageError as exc:
        raise FormatError(f"{path}: not a readable image file; re-export it as PNG or TIFF") from exc
    except OSError as exc:
        raise FormatError(f"{path}: unreadable or truncated image ({exc}); re-export or remove it") from exc


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``(H, W)`` or ``(H, W, C)``, keeping dtype and channels.

    RGBA stays 4 channels, 16-bit stays uint16, float TIFF stays float32; palette images are
    converted to RGB. ``.npy``/``.npz`` arrays are returned as stored.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> write_image(p, np.full((2, 3), 40000, np.uint16))
    >>> read_image(p).dtype, read_image(p).shape
    (dtype('uint16'), (2, 3))
    """
    path = Path(path)
    if path.suffix.lower() in ARRAY_SUFFIXES:
        return _read_array(path)
    img = _open_pil(path)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(img).astype(np.uint16)
    elif img.mode == "1":
        img = img.convert("L")
    return np.asarray(img)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask file as stored: ``(H, W)`` integers, or ``(H, W, 3)`` for RGB-coded masks.

    Palette PNGs return their palette indices (VOC style); 16-bit PNGs return uint16.
    """
    path = Path(path)
    if path.suffix.lower() in ARRAY_SUFFIXES:
        return _read_array(path)
    img = _open_pil(path)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(img).astype(np.uint16 if img.mode.startswith("I;16") else np.int32)
    if img.mode == "RGBA":
        img = img.convert("RGB")
    return np.asarray(img)


def read_palette_mask(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices and ``(256, 3) uint8`` palette of a palette PNG (palette ``None`` otherwise)."""
    img = _open_pil(Path(path))
    if img.mode != "P":
        return read_mask(path), None
    pal = np.zeros((256, 3), np.uint8)
    raw = np.frombuffer(bytes(img.getpalette() or []), np.uint8).reshape(-1, 3)[:256]
    pal[: len(raw)] = raw
    return np.asarray(img), pal


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an image atomically. PNG takes uint8 (1, 3, 4 channels) and uint16 (1 channel);
    other dtypes or channel counts need ``.npy``/``.tif``.

    Raises
    ------
    DataError
        If the format cannot hold the array, naming a suffix that can.
    """
    path = Path(path)
    image = np.asarray(image)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            np.save(tmp, image)
            return
        if suffix == ".npz":
            np.savez_compressed(tmp, image=image)
            return
        channels = 1 if image.ndim == 2 else image.shape[2]
        if image.dtype == np.uint16 and channels == 1:
            Image.fromarray(image.reshape(image.shape[:2]), mode=None).save(tmp)
            return
        if image.dtype == np.uint8 and channels in (1, 3, 4):
            Image.fromarray(image.reshape(image.shape[:2]) if channels == 1 else image).save(tmp)
            return
        if suffix in (".tif", ".tiff") and channels == 1 and image.dtype == np.float32:
            Image.fromarray(image.reshape(image.shape[:2])).save(tmp)
            return
        raise DataError(
            f"{path}: {suffix} cannot hold a {image.dtype} image with {channels} channels; "
            "save it as .npy (any dtype and channel count)"
        )


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a label or instance-id map: 8-bit PNG when values fit, else 16-bit."""
    mask = np.asarray(mask)
    path = Path(path)
    if path.suffix.lower() in ARRAY_SUFFIXES:
        write_image(path, mask)
        return
    if mask.ndim != 2:
        raise DataError(f"{path}: a mask must be (H, W), got shape {mask.shape}")
    top = int(mask.max()) if mask.size else 0
    if mask.size and int(mask.min()) < 0 or top > 65535:
        raise DataError(
            f"{path}: mask values span {int(mask.min())}..{top}, outside PNG's 0..65535; save as .npy"
        )
    write_image(path, mask.astype(np.uint8 if top <= 255 else np.uint16))


def write_palette_mask(path: str | Path, mask: np.ndarray, palette: np.ndarray) -> None:
    """Write a VOC-style palette PNG: indices in the pixels, ``(256, 3)`` palette in the file."""
    mask = np.asarray(mask)
    if mask.size and int(mask.max()) > 255:
        raise DataError(
            f"{path}: palette PNGs hold values 0..255 but the mask has {int(mask.max())}; use 16-bit PNG"
        )
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    img.putpalette(np.asarray(palette, np.uint8).reshape(-1).tolist())
    with atomic_path(path) as tmp:
        img.save(tmp)
