"""Segment many image files with one classical method and write the prediction folder."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segscope.classical._base import METHODS
from segscope.core.classes import ClassMap
from segscope.errors import DataError
from segscope.formats.files import ARRAY_SUFFIXES, IMAGE_SUFFIXES, read_image
from segscope.utils.progress import progress

__all__ = ["collect_images", "segment_files", "SegmentSummary"]


def collect_images(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Path]:
    """Image files (``.png .jpg .tif .bmp .npy .npz``) named or found below folders, by id.

    The id is the file name without its suffix; folders are walked recursively (hidden
    files and folders skipped) in sorted order.

    Raises
    ------
    DataError
        A path that does not exist, a named file that is not an image, no images at all, or
        two files with the same id.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); (d / "a.png").touch(); (d / "notes.txt").touch()
    >>> list(collect_images([d]))
    ['a']
    """
    suffixes = IMAGE_SUFFIXES + ARRAY_SUFFIXES
    found: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in suffixes
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            if path.suffix.lower() not in suffixes:
                raise DataError(f"{path}: not an image file; give {', '.join(suffixes)} files or folders")
            files = [path]
        else:
            raise DataError(f"{path}: no such file or folder; check the path")
        for f in files:
            if f.stem in found and found[f.stem] != f:
                raise DataError(
                    f"{f} and {found[f.stem]} have the same id '{f.stem}'; rename one or segment them "
                    "into separate output folders"
                )
            found[f.stem] = f
    if not found:
        raise DataError(f"no image files in {', '.join(map(str, paths))}; expected {', '.join(suffixes)}")
    return found


@dataclass
class SegmentSummary:
    """What :func:`segment_files` did: counts, time and the warnings it collected."""

    out: Path
    method: str
    params: dict[str, Any]
    images: int = 0
    seconds: float = 0.0
    instances: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "method": self.method,
            "params": self.params,
            "images": self.images,
            "seconds": self.seconds,
            "instances": self.instances,
            "warnings": self.warnings,
        }


def segment_files(
    paths: Sequence[str | os.PathLike[str]],
    method: str,
    out: str | os.PathLike[str],
    *,
    params: Mapping[str, Any] | None = None,
    class_map: ClassMap | None = None,
    overwrite: bool = False,
    save_probs: bool = True,
    probs_dtype: str = "float32",
    overlays: bool = True,
) -> SegmentSummary:
    """Segment every image in ``paths`` with ``method`` and write the prediction folder ``out``.

    Parameters
    ----------
    paths : sequence of path
        Image files and folders (walked recursively), see :func:`collect_images`.
    method : str
        A classical method name (``segscope methods list``).
    out : path
        Output folder, in the layout of :class:`segscope.formats.predictions.PredictionWriter`.
    params : mapping, optional
        Method parameters, values or strings; checked before any image is read.
    class_map : ClassMap, optional
        Names and colours for the output classes; must have as many classes as the method
        produces. Defaults to ``background, foreground`` (binary), ``background, class_1, ...``
        (multi-class) or ``background, segment`` (superpixels, whose masks hold segment ids).

    Returns
    -------
    SegmentSummary
        Images written, seconds, instances in total, and warnings raised along the way.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from segscope.formats.files import write_image
    >>> d = Path(tempfile.mkdtemp()); write_image(d / "x.png", np.eye(8, dtype=np.uint8) * 200)
    >>> segment_files([d], "otsu", d / "out").images
    1
    """
    from segscope.formats.predictions import PredictionWriter

    spec = METHODS.get(method)
    resolved = spec.resolve(params or {})
    default_map = spec.class_map(resolved)
    if class_map is None:
        class_map = default_map
    elif spec.kind != "segments" and class_map.num_classes != default_map.num_classes:
        raise DataError(
            f"the classes file has {class_map.num_classes} classes but {spec.name} gives "
            f"{default_map.num_classes} ({default_map.describe()}); give a classes file with "
            f"{default_map.num_classes} names"
        )
    files = collect_images(paths)
    summary = SegmentSummary(Path(out), spec.name, resolved)
    run_info = {
        "method": spec.name,
        "family": spec.family,
        "kind": spec.kind,
        "params": resolved,
        "inputs": [str(p) for p in paths],
    }
    start = time.perf_counter()
    writer = PredictionWriter(
        out, class_map, overwrite=overwrite, save_probs=save_probs, probs_dtype=probs_dtype,
        overlays=overlays, run_info=run_info,
    )  # fmt: skip
    with writer:
        for sample_id, path in progress(files.items(), total=len(files), desc=f"segment {spec.name}"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                image = read_image(path)
                prediction = spec(image, **resolved)
            summary.warnings.extend(f"{path.name}: {w.message}" for w in caught)
            writer.write(sample_id, prediction, image)
            summary.images += 1
        writer.run_info["warnings"] = summary.warnings
    summary.seconds = time.perf_counter() - start
    summary.instances = writer.num_instances if writer.has_instances else None
    return summary
