"""Dataset validation: every problem as one line naming the file, the value and the fix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segscope.core.dataset import Dataset, Sample
from segscope.errors import DataError, FormatError, SegscopeError
from segscope.formats._common import kind_of, rel
from segscope.utils.progress import progress

__all__ = ["Problem", "ValidationReport", "validate_dataset"]

# Kinds whose errors are format problems (the file is not what it should be) rather than data problems.
_FORMAT_KINDS = {"unreadable file", "unknown category", "polygon outside image", "bad annotation", "layout"}


@dataclass(frozen=True)
class Problem:
    """One problem found in a dataset."""

    severity: str  # "error" or "warning"
    kind: str  # e.g. "size mismatch", "unknown label", "missing mask"
    sample: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "kind": self.kind, "sample": self.sample, "message": self.message}


@dataclass
class ValidationReport:
    """Problems found by :func:`validate_dataset`, with counts."""

    samples: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[tuple[str, str], int]:
        """Number of problems per ``(severity, kind)``."""
        return dict(Counter((p.severity, p.kind) for p in self.problems))

    def raise_first(self) -> None:
        """Raise the first error as :class:`FormatError` or :class:`DataError`; do nothing if none."""
        if self.errors:
            first = self.errors[0]
            more = (
                f" (and {len(self.errors) - 1} more errors; run segscope validate)"
                if len(self.errors) > 1
                else ""
            )
            cls = FormatError if first.kind in _FORMAT_KINDS else DataError
            raise cls(first.message + more)

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "counts": [{"severity": s, "kind": k, "count": n} for (s, k), n in self.counts().items()],
            "problems": [p.to_dict() for p in self.problems],
        }


def _nan_problem(array: np.ndarray, name: str, sid: str) -> Problem | None:
    if np.issubdtype(array.dtype, np.floating):
        bad = int((~np.isfinite(array)).sum())
        if bad:
            return Problem(
                "error",
                "nan values",
                sid,
                f"{name}: {bad} values are NaN or infinite; replace them (e.g. numpy.nan_to_num) or fix the source data",
            )
    return None


def _try(load: Callable[[], Any], sid: str, out: list[Problem]) -> Any:
    """``load()``, or ``None`` with the error recorded as a problem."""
    try:
        return load()
    except SegscopeError as exc:
        out.append(Problem("error", kind_of(exc, "unreadable file"), sid, str(exc)))
        return None


def _check_sample(s: Sample, ds: Dataset, *, strict: bool) -> list[Problem]:
    out: list[Problem] = []
    root = ds.root
    image_name = rel(s.image_path, root) if s.image_path else f"sample '{s.id}'"
    mask_name = rel(s.mask_path, root) if s.mask_path else f"sample '{s.id}' ground truth"
    image = _try(s.load_image, s.id, out) if s.load_image is not None else None
    if image is not None:
        image = np.asarray(image)
        if image.ndim not in (2, 3) or 0 in image.shape:
            msg = f"{image_name}: image has shape {image.shape}; expected (H, W) or (H, W, C)"
            out.append(Problem("error", "bad image", s.id, msg))
            image = None
        elif p := _nan_problem(image, image_name, s.id):
            out.append(p)
    if not s.has_gt:
        out.append(
            Problem(
                "error" if strict else "warning",
                "missing mask",
                s.id,
                f"{image_name}: no mask for sample '{s.id}'; add masks/{s.id}.png or remove the image"
                + ("" if strict else " (a warning; --strict makes it an error)"),
            )
        )
    else:
        mask = _try(lambda: s.mask, s.id, out)
        inst = (
            _try(s.load_instances, s.id, out) if mask is not None and s.load_instances is not None else None
        )
        if mask is not None:
            try:
                ds.class_map.check(mask, source=mask_name)
            except DataError as exc:
                out.append(Problem("error", "unknown label", s.id, str(exc)))
            if image is not None and image.shape[:2] != mask.shape:
                out.append(
                    Problem(
                        "error",
                        "size mismatch",
                        s.id,
                        f"{mask_name} has shape {tuple(mask.shape)} but {image_name} is {tuple(image.shape[:2])}; "
                        "resize the mask or fix the pairing",
                    )
                )
        if inst is not None and len(inst):
            bad = sorted(
                {int(v) for v in inst.labels[~inst.iscrowd]} - set(range(1, ds.class_map.num_classes))
            )
            if bad:
                out.append(
                    Problem(
                        "error",
                        "unknown label",
                        s.id,
                        f"{mask_name}: instance labels {bad} are not classes 1..{ds.class_map.num_classes - 1}; "
                        "add them to the classes file or fix the labels",
                    )
                )
    probs = _try(s.load_probs, s.id, out) if s.load_probs is not None else None
    if probs is not None and (p := _nan_problem(np.asarray(probs), f"probs/{s.id}.npy", s.id)):
        out.append(p)
    return out


def validate_dataset(ds: Dataset, *, strict: bool = False) -> ValidationReport:
    """Load every sample of ``ds`` and collect its problems.

    Checks: unreadable or truncated files, image/mask size mismatch, label values outside the
    class map, missing masks (warnings unless ``strict``), COCO annotations naming missing
    images or unknown categories and polygons outside the image, NaN or infinite values in
    float images and probabilities, and the reader's own warnings (e.g. masks without images).

    Returns
    -------
    ValidationReport
        ``report.ok`` is false when there are errors; ``report.raise_first()`` raises.

    Examples
    --------
    >>> from segscope.core import ClassMap, Dataset, Sample
    >>> ds = Dataset([Sample("a", load_image=lambda: np.zeros((2, 2)))], ClassMap.default(2))
    >>> r = validate_dataset(ds)
    >>> r.ok, [p.kind for p in r.warnings]
    (True, ['missing mask'])
    """
    report = ValidationReport(samples=len(ds))
    severity = "error" if strict else "warning"
    report.problems += [Problem(severity, "layout", None, w) for w in ds.warnings]
    for s in progress(ds, total=len(ds), desc="validate"):
        report.problems += _check_sample(s, ds, strict=strict)
    return report
