"""Augmentation with Albumentations: named presets, YAML pipelines, and a start-up sanity check.

Images reach the pipeline as ``(H, W, C) float32`` scaled to about [0, 1] (any channel count);
masks as ``(H, W) uint8`` class ids. Geometric transforms resize masks with nearest neighbour
and fill new mask pixels with the ignore index.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segscope.errors import DataError, ParameterError

__all__ = ["AUGMENT_PRESETS", "make_augmentation", "check_augmentation"]

AUGMENT_PRESETS = ("default", "none", "light", "strong")


def _albumentations() -> Any:
    """The ``albumentations`` module, imported without its update check.

    Albumentations asks PyPI for its latest version on every import unless
    ``NO_ALBUMENTATIONS_UPDATE`` is set: a network request from each training run (and
    worker process) that waits up to 2 s and warns on an offline machine. A user's own
    ``NO_ALBUMENTATIONS_UPDATE=0`` keeps the check.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations

    return albumentations


def _crop(crop: int | None, ignore_index: int) -> list[Any]:
    A = _albumentations()

    if not crop:
        return []
    return [A.RandomCrop(crop, crop, pad_if_needed=True, fill=0.0, fill_mask=ignore_index)]


def make_augmentation(spec: str | Path | None, *, crop: int | None = None, ignore_index: int = 255) -> Any:
    """An ``albumentations.Compose`` for ``spec``: ``default``, ``light``, ``strong``, ``none`` or a YAML file.

    ``strong`` adds elastic / grid / affine warps and brightness, contrast and gamma changes to
    flips and 90-degree rotations (for microscopy, e.g. ISBI membranes). A YAML file may also name
    ``segscope.training.transforms.VerticalFlipKeepOffset``, an up-down flip for masks drawn a
    fixed distance above or below their images.

    ``crop`` adds a random ``crop x crop`` crop (padding with ignore where the image is smaller)
    after the preset; a YAML pipeline is used as written (saved with ``A.save(..., data_format="yaml")``).
    """
    import cv2

    A = _albumentations()

    name = str(spec or "none")
    if name.lower().endswith((".yaml", ".yml", ".json")):
        path = Path(name)
        if not path.is_file():
            raise ParameterError(
                f"augmentation file {path} not found; give a preset ({', '.join(AUGMENT_PRESETS)})"
            )
        import segscope.training.transforms  # noqa: F401 - so that a file can name VerticalFlipKeepOffset

        try:
            loaded = A.load(path, data_format="json" if path.suffix == ".json" else "yaml")
        except Exception as exc:  # noqa: BLE001 - any parse error becomes one line
            raise ParameterError(
                f"{path}: not an Albumentations pipeline ({exc}); write it with A.save"
            ) from exc
        return A.Compose([loaded, *_crop(crop, ignore_index)])
    key = name.lower()
    if key == "none":
        steps: list[Any] = []
    elif key == "light":
        steps = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5)]
    elif key == "default":
        steps = [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=0.5),
            A.Affine(
                scale=(0.85, 1.15),
                rotate=(-15, 15),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.5,
            ),
            A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.3),
        ]
    elif key == "strong":
        # Microscopy-style (the ISBI U-Net recipe): elastic/grid warps, reflect borders, intensity.
        warp = {"interpolation": cv2.INTER_LINEAR, "mask_interpolation": cv2.INTER_NEAREST}
        steps = [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=0.5),
            A.OneOf(
                [
                    A.ElasticTransform(alpha=30, sigma=6, border_mode=cv2.BORDER_REFLECT_101, **warp),
                    A.GridDistortion(distort_limit=0.3, border_mode=cv2.BORDER_REFLECT_101, **warp),
                    A.Affine(scale=(0.8, 1.2), rotate=(-30, 30), border_mode=cv2.BORDER_REFLECT_101, **warp),
                ],
                p=0.7,
            ),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            A.RandomGamma(gamma_limit=(80, 120), p=0.3),
        ]
    else:
        raise ParameterError(
            f"unknown augmentation '{spec}'; use one of {', '.join(AUGMENT_PRESETS)} or a .yaml pipeline file"
        )
    return A.Compose([*steps, *_crop(crop, ignore_index)])


def check_augmentation(
    transform: Any,
    samples: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    num_classes: int,
    ignore_index: int = 255,
    repeats: int = 2,
    seed: int = 0,
) -> list[str]:
    """Run ``transform`` on a few ``(image, mask)`` pairs and check what it does to the masks.

    Raises
    ------
    DataError
        If augmented masks hold values that are neither class ids nor ``ignore_index``
        (a mask resized with a non-nearest interpolation, or a wrong fill value).

    Returns
    -------
    list of str
        Warnings (also emitted) for classes present before but never after augmentation,
        e.g. small classes that crops make vanish.
    """
    import random

    random.seed(seed)
    np.random.seed(seed)
    transform.set_random_seed(seed) if hasattr(transform, "set_random_seed") else None
    before: set[int] = set()
    after: set[int] = set()
    for image, mask in samples:
        before.update(np.unique(mask).tolist())
        for _ in range(repeats):
            out = transform(image=image, mask=mask)
            values = np.unique(out["mask"])
            bad = [int(v) for v in values if not (0 <= v < num_classes or v == ignore_index)]
            if bad:
                raise DataError(
                    f"augmentation produced mask values {bad[:10]} that are not classes 0..{num_classes - 1} "
                    f"nor ignore {ignore_index}; resize masks with nearest neighbour (mask_interpolation=0) "
                    f"and fill them with {ignore_index} (fill_mask)"
                )
            after.update(values.tolist())
    found = []
    for cid in sorted(before - after - {ignore_index}):
        msg = (
            f"class {cid} appears in the checked training masks but in none of their augmented versions; "
            "a crop may be too small for it (raise --crop or use --augment light)"
        )
        warnings.warn(msg, stacklevel=2)
        found.append(msg)
    return found
