"""Exact semantic segmentation metrics from a confusion matrix.

Everything here is computed from integer pixel counts, so results are exact and can be
accumulated over any number of images (streaming) and merged across workers. The confusion
matrix has ground-truth classes in rows and predicted classes in columns and is built with
``np.bincount`` on ``gt * C + pred``, as torchvision's reference training script does.

Two aggregations are offered and recorded in every result under ``"aggregation"``:

* **pooled** (:class:`ConfusionMatrix`, :func:`semantic_scores`): counts are summed over the
  dataset first, then turned into scores (the PASCAL VOC / Cityscapes / MMSegmentation
  convention and torchmetrics' default);
* **per-image mean** (:class:`SampleScores`, :func:`per_sample_scores`): scores are computed
  per image and then averaged, which weights small and large images alike and keeps one row
  per image for error analysis.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from segscope.errors import DataError, ParameterError
from segscope.utils.files import write_text

__all__ = [
    "confusion_matrix",
    "ConfusionMatrix",
    "semantic_scores",
    "per_sample_scores",
    "SampleScores",
]

Absent = Literal["nan", "zero"]
_ABSENT = ("nan", "zero")


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ParameterError(f"num_classes={num_classes!r} must be a positive integer")
    return int(num_classes)


def _check_absent(absent: str) -> None:
    if absent not in _ABSENT:
        raise ParameterError(f"absent={absent!r} is not one of {', '.join(_ABSENT)}; use 'nan' or 'zero'")


def _as_labels(arr: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == bool:
        return arr.view(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise DataError(
            f"{name} has dtype {arr.dtype}; pass integer class ids"
            + (" (or probabilities of shape (..., C) as pred)" if name == "pred" else "")
        )
    return arr


def _prepare(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and dtypes; turn probabilities ``(..., C)`` into an arg-max label map."""
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if pred.ndim == gt.ndim + 1 and pred.shape[:-1] == gt.shape and np.issubdtype(pred.dtype, np.floating):
        if pred.shape[-1] != num_classes:
            raise DataError(
                f"probs have {pred.shape[-1]} classes in the last axis but num_classes={num_classes}; "
                "pass matching num_classes"
            )
        pred = np.argmax(pred, axis=-1).astype(np.uint8 if num_classes <= 256 else np.int64)
    if gt.shape != pred.shape:
        raise DataError(f"gt has shape {gt.shape} but pred has shape {pred.shape}; they must match")
    if gt.ndim not in (2, 3):
        raise DataError(f"gt must be (H, W) or (N, H, W) label maps, got shape {gt.shape}")
    return _as_labels(gt, "gt"), _as_labels(pred, "pred")


def _check_pred_range(pred: np.ndarray, num_classes: int) -> None:
    if pred.size == 0:
        return
    lo, hi = pred.min(), pred.max()
    if lo < 0 or hi >= num_classes:
        bad = int(lo if lo < 0 else hi)
        raise DataError(
            f"pred contains value {bad} outside the classes 0..{num_classes - 1}; "
            f"check num_classes={num_classes} or map that value to a class"
        )


def _gt_error(value: int, num_classes: int, ignore_index: int | None) -> DataError:
    return DataError(
        f"gt contains value {value} outside the classes 0..{num_classes - 1} and it is not "
        f"ignore_index={ignore_index}; check num_classes and ignore_index, or map that value"
    )


def _add_counts(out: np.ndarray, gt: np.ndarray, pred: np.ndarray, c: int, ignore: int | None) -> None:
    """Add the (C, C) counts of one validated label-map pair to ``out`` (flat, C*C int64)."""
    gt = gt.ravel()
    pred = pred.ravel()
    if gt.dtype == np.uint8 and c <= 256:
        # Fast path (hand-written: no library builds a confusion matrix without an int64
        # temporary per pixel): a uint16 code gt*C + pred for every pixel, ignored ones
        # included, into a (256 * C)-bin histogram; rows >= C then hold the ignored and the
        # invalid ground-truth values, which need no mask or temporary to separate.
        code = gt.astype(np.uint16)
        code *= c
        code += pred.astype(np.uint16, copy=False)
        hist = np.bincount(code, minlength=256 * c).reshape(256, c)
        if ignore is not None and 0 <= ignore < 256:
            hist[ignore] = 0
        if c < 256:
            extra = np.flatnonzero(hist[c:].any(axis=1))
            if extra.size:
                raise _gt_error(int(extra[0]) + c, c, ignore)
        out += hist[:c].ravel()
        return
    if ignore is not None:
        keep = gt != ignore
        if not keep.all():
            gt, pred = gt[keep], pred[keep]
    if gt.size:
        lo, hi = gt.min(), gt.max()
        if lo < 0 or hi >= c:
            raise _gt_error(int(lo if lo < 0 else hi), c, ignore)
    code_dtype = np.uint16 if c * c <= 65536 else np.int64
    code = gt.astype(code_dtype)
    code *= c
    code += pred.astype(code_dtype, copy=False)
    out += np.bincount(code, minlength=c * c)


def confusion_matrix(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, *, ignore_index: int | None = 255
) -> np.ndarray:
    """Pixel confusion matrix of label maps: rows are ground truth, columns prediction.

    Parameters
    ----------
    gt : (H, W) or (N, H, W) ndarray of int
        Ground-truth class ids ``0..C-1``; pixels equal to ``ignore_index`` are left out.
    pred : ndarray of int, same shape as ``gt``, or (..., C) float probabilities
        Predicted class ids ``0..C-1`` (probabilities are arg-maxed over the last axis).
    num_classes : int
        Number of classes ``C``.
    ignore_index : int or None, optional
        Ground-truth value to leave out (default 255); None keeps every pixel.

    Returns
    -------
    (C, C) ndarray of int64
        ``matrix[i, j]`` = number of valid pixels of class ``i`` predicted as ``j``.

    Raises
    ------
    DataError
        If shapes differ, or ``pred`` (or a non-ignored ``gt`` pixel) holds a value outside
        ``0..C-1``; the message names the value.

    Examples
    --------
    >>> gt = np.array([[0, 0, 1, 255]], np.uint8)
    >>> pred = np.array([[0, 1, 1, 1]], np.uint8)
    >>> confusion_matrix(gt, pred, 2)
    array([[1, 1],
           [0, 1]])
    """
    c = _check_num_classes(num_classes)
    gt, pred = _prepare(gt, pred, c)
    _check_pred_range(pred, c)
    out = np.zeros(c * c, np.int64)
    if gt.ndim == 3:
        # One image at a time keeps the uint16 codes in cache; faster than one big pass.
        for g, p in zip(gt, pred, strict=True):
            _add_counts(out, g, p, c, ignore_index)
    else:
        _add_counts(out, gt, pred, c, ignore_index)
    return out.reshape(c, c)


def _ratio(num: np.ndarray, den: np.ndarray, absent: Absent) -> np.ndarray:
    fill = np.nan if absent == "nan" else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), fill)


def _macro(values: np.ndarray, present: np.ndarray) -> float:
    """Mean over classes present in gt or pred, skipping NaN (undefined) values."""
    v = values[present]
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def semantic_scores(
    matrix: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    absent: Absent = "nan",
    ignore_index: int | None = 255,
) -> dict[str, Any]:
    """Per-class and mean scores from a ``(C, C)`` confusion matrix (rows gt, columns pred).

    Per class ``c`` with ``TP`` = ``matrix[c, c]``, ``G`` = row sum (gt pixels) and ``P`` =
    column sum (predicted pixels): IoU ``TP / (G + P - TP)``, Dice (= F1) ``2 TP / (G + P)``,
    precision ``TP / P``, recall (= class accuracy) ``TP / G``. Pixel accuracy is
    ``trace / total``; frequency-weighted IoU is ``sum_c G_c IoU_c / total``.

    Absent classes
        A value whose denominator is 0 is undefined: with ``absent="nan"`` (default) it is NaN;
        with ``absent="zero"`` it is 0. Macro means (``mean_iou``, ``mean_dice``,
        ``mean_precision``, ``mean_accuracy``) average only classes that occur in the ground
        truth or the prediction, and skip NaN values.

        * IoU and Dice are undefined only for a class absent from both gt and pred, so both
          rules give the same ``mean_iou``: MMSegmentation's ``nanmean``, and also
          torchmetrics 1.9 ``MulticlassJaccardIndex(average="macro")`` (and
          ``MulticlassF1Score``), which drops classes with ``TP + FP + FN = 0`` from the
          macro average whatever its ``zero_division``. Its per-class
          (``average="none"``) values are ``zero_division`` (default 0) for such classes,
          where ours are NaN.
        * Precision of a class never predicted but present in gt (and recall of a class
          predicted but absent from gt) is NaN and skipped with ``absent="nan"`` (as in
          MMSegmentation), but 0 and counted with ``absent="zero"``, which reproduces
          torchmetrics' ``MulticlassPrecision``/``MulticlassRecall(average="macro")``
          with the default ``zero_division=0``.

    Parameters
    ----------
    matrix : (C, C) ndarray of int
        Confusion matrix, e.g. from :func:`confusion_matrix`.
    class_names : sequence of str, optional
        ``C`` names for the result (default ``"0"``, ``"1"``, ...).
    absent : {"nan", "zero"}, optional
        Value of undefined per-class scores (see above).
    ignore_index : int or None, optional
        Only recorded in ``result["aggregation"]``, so that reports can be compared.

    Returns
    -------
    dict
        ``classes``, per-class lists ``iou``, ``dice``, ``precision``, ``recall``,
        ``support`` (gt pixels), ``predicted`` (pred pixels); scalars ``mean_iou``,
        ``mean_dice``, ``mean_precision``, ``mean_recall``, ``mean_accuracy`` (=
        ``mean_recall``), ``fw_iou``, ``pixel_accuracy``, ``num_pixels``; and
        ``aggregation``: ``{"pooled": True, "ignore_index": ..., "absent": ...}``.

    Examples
    --------
    >>> s = semantic_scores(np.array([[3, 1], [0, 4]]))
    >>> s["iou"], s["pixel_accuracy"]
    ([0.75, 0.8], 0.875)
    """
    _check_absent(absent)
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise DataError(f"confusion matrix must be square (C, C), got shape {m.shape}")
    c = m.shape[0]
    names = [str(i) for i in range(c)] if class_names is None else [str(n) for n in class_names]
    if len(names) != c:
        raise ParameterError(f"got {len(names)} class_names for a {c}-class confusion matrix; pass {c} names")
    m = m.astype(np.int64, copy=False)
    tp = np.diag(m).astype(np.float64)
    g = m.sum(axis=1)
    p = m.sum(axis=0)
    total = int(g.sum())
    union = g + p - np.diag(m)
    present = (g + p) > 0
    iou = _ratio(tp, union, absent)
    dice = _ratio(2 * tp, g + p, absent)
    precision = _ratio(tp, p, absent)
    recall = _ratio(tp, g, absent)
    with np.errstate(divide="ignore", invalid="ignore"):
        fw_iou = float(np.sum(g[g > 0] * iou[g > 0]) / total) if total else float("nan")
    return {
        "classes": names,
        "iou": iou.tolist(),
        "dice": dice.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "support": g.tolist(),
        "predicted": p.tolist(),
        "mean_iou": _macro(iou, present),
        "mean_dice": _macro(dice, present),
        "mean_precision": _macro(precision, present),
        "mean_recall": _macro(recall, present),
        "mean_accuracy": _macro(recall, present),
        "fw_iou": fw_iou,
        "pixel_accuracy": float(np.trace(m) / total) if total else float("nan"),
        "num_pixels": total,
        "aggregation": {"pooled": True, "ignore_index": ignore_index, "absent": absent},
    }


class ConfusionMatrix:
    """Streaming confusion matrix over a dataset; :meth:`compute` gives :func:`semantic_scores`.

    Parameters
    ----------
    num_classes : int
        Number of classes ``C``.
    ignore_index : int or None, optional
        Ground-truth value to leave out (default 255).
    class_names : sequence of str, optional
        Names used in :meth:`compute`'s result.

    Attributes
    ----------
    matrix : (C, C) ndarray of int64
        Counts so far (rows gt, columns pred).
    num_samples : int
        Number of images added.

    Examples
    --------
    >>> cm = ConfusionMatrix(2)
    >>> cm.update(np.array([[0, 1]]), np.array([[0, 0]]))
    >>> cm.update(np.array([[1, 1]]), np.array([[1, 1]]))
    >>> cm.matrix
    array([[1, 0],
           [1, 2]])
    >>> round(cm.compute()["mean_iou"], 4)
    0.5833
    """

    def __init__(
        self,
        num_classes: int,
        *,
        ignore_index: int | None = 255,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = ignore_index
        self.class_names = None if class_names is None else list(class_names)
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ParameterError(
                f"got {len(self.class_names)} class_names for num_classes={self.num_classes}; pass one name per class"
            )
        self.reset()

    def reset(self) -> None:
        """Set all counts to zero."""
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)
        self.num_samples = 0

    def update(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add label maps ``(H, W)`` or ``(N, H, W)``; ``pred`` may be probabilities ``(..., C)``."""
        self.matrix += confusion_matrix(gt, pred, self.num_classes, ignore_index=self.ignore_index)
        self.num_samples += 1 if np.ndim(gt) == 2 else len(gt)

    def merge(self, other: ConfusionMatrix) -> None:
        """Add the counts of another accumulator (e.g. from another worker)."""
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ParameterError(
                f"cannot merge a ConfusionMatrix with num_classes={other.num_classes}, "
                f"ignore_index={other.ignore_index} into one with num_classes={self.num_classes}, "
                f"ignore_index={self.ignore_index}"
            )
        self.matrix += other.matrix
        self.num_samples += other.num_samples

    def compute(self, *, absent: Absent = "nan") -> dict[str, Any]:
        """Scores of the pooled counts; see :func:`semantic_scores`."""
        out = semantic_scores(
            self.matrix, class_names=self.class_names, absent=absent, ignore_index=self.ignore_index
        )
        out["num_samples"] = self.num_samples
        return out


_ROW_KEYS = ("pixel_accuracy", "mean_iou", "mean_dice", "mean_accuracy")
_ROW_LISTS = ("iou", "dice", "recall")


def _row(matrix: np.ndarray, absent: Absent, ignore_index: int | None) -> dict[str, Any]:
    s = semantic_scores(matrix, absent=absent, ignore_index=ignore_index)
    row: dict[str, Any] = {k: s[k] for k in _ROW_KEYS}
    row.update({k: s[k] for k in _ROW_LISTS})
    row["num_pixels"] = s["num_pixels"]
    return row


def per_sample_scores(
    gt: np.ndarray,
    pred: np.ndarray,
    num_classes: int,
    *,
    ignore_index: int | None = 255,
    absent: Absent = "nan",
) -> list[dict[str, Any]]:
    """Scores of each image on its own.

    Parameters
    ----------
    gt : (H, W) or (N, H, W) ndarray of int
        Ground-truth label maps.
    pred : ndarray of int like ``gt``, or (..., C) float probabilities
        Predicted label maps.
    num_classes : int
        Number of classes ``C``.
    ignore_index : int or None, optional
        Ground-truth value to leave out (default 255).
    absent : {"nan", "zero"}, optional
        Value of undefined per-class scores; see :func:`semantic_scores`.

    Returns
    -------
    list of dict
        One row per image: ``pixel_accuracy``, ``mean_iou``, ``mean_dice``,
        ``mean_accuracy``, per-class lists ``iou``, ``dice``, ``recall`` and ``num_pixels``.

    Examples
    --------
    >>> rows = per_sample_scores(np.array([[0, 1]]), np.array([[0, 0]]), 2)
    >>> rows[0]["mean_iou"], rows[0]["iou"]
    (0.25, [0.5, 0.0])
    """
    c = _check_num_classes(num_classes)
    gt, pred = _prepare(gt, pred, c)
    if gt.ndim == 2:
        gt, pred = gt[None], pred[None]
    return [
        _row(confusion_matrix(g, p, c, ignore_index=ignore_index), absent, ignore_index)
        for g, p in zip(gt, pred, strict=True)
    ]


class SampleScores:
    """Per-image scores kept as rows, with the per-image-mean aggregation.

    Each :meth:`update` adds one row per image (see :func:`per_sample_scores`), named by
    ``sample_id``. :meth:`compute` averages the rows: each scalar over the images where it
    is defined, each per-class score over the images where that class is defined. The
    pooled confusion matrix of the same images is kept too (:attr:`confusion`).

    Parameters
    ----------
    num_classes : int
        Number of classes ``C``.
    ignore_index : int or None, optional
        Ground-truth value to leave out (default 255).
    class_names : sequence of str, optional
        Names used in the CSV header and results.
    absent : {"nan", "zero"}, optional
        Value of undefined per-class scores; see :func:`semantic_scores`.

    Examples
    --------
    >>> acc = SampleScores(2)
    >>> acc.update(np.array([[0, 1]]), np.array([[0, 0]]), sample_id="a")
    >>> acc.update(np.array([[1, 1]]), np.array([[1, 1]]), sample_id="b")
    >>> acc.compute()["mean_iou"], acc.worst(1)[0]["id"]
    (0.625, 'a')
    """

    def __init__(
        self,
        num_classes: int,
        *,
        ignore_index: int | None = 255,
        class_names: Sequence[str] | None = None,
        absent: Absent = "nan",
    ) -> None:
        _check_absent(absent)
        self.confusion = ConfusionMatrix(num_classes, ignore_index=ignore_index, class_names=class_names)
        self.num_classes = self.confusion.num_classes
        self.ignore_index = ignore_index
        self.class_names = (
            [str(i) for i in range(self.num_classes)]
            if class_names is None
            else [str(n) for n in class_names]
        )
        self.absent: Absent = absent
        self.rows: list[dict[str, Any]] = []

    def reset(self) -> None:
        """Forget all rows and counts."""
        self.rows = []
        self.confusion.reset()

    def update(
        self, gt: np.ndarray, pred: np.ndarray, *, sample_id: str | Sequence[str] | None = None
    ) -> None:
        """Add one image ``(H, W)`` or a batch ``(N, H, W)``; ids default to a running number."""
        gt, pred = _prepare(gt, pred, self.num_classes)
        if gt.ndim == 2:
            gt, pred = gt[None], pred[None]
            ids = [sample_id] if sample_id is not None else [None]
        else:
            ids = list(sample_id) if sample_id is not None else [None] * len(gt)
        if len(ids) != len(gt):
            raise ParameterError(f"got {len(ids)} sample ids for {len(gt)} images; pass one id per image")
        for sid, g, p in zip(ids, gt, pred, strict=True):
            matrix = confusion_matrix(g, p, self.num_classes, ignore_index=self.ignore_index)
            self.confusion.matrix += matrix
            self.confusion.num_samples += 1
            row = {"id": str(len(self.rows)) if sid is None else str(sid)}
            row.update(_row(matrix, self.absent, self.ignore_index))
            self.rows.append(row)

    def merge(self, other: SampleScores) -> None:
        """Append the rows of another accumulator with the same settings."""
        self.confusion.merge(other.confusion)
        self.rows.extend(other.rows)

    def compute(self) -> dict[str, Any]:
        """Per-image-mean scores: ``mean_iou``, ``mean_dice``, ``pixel_accuracy``, ... and per-class lists."""
        out: dict[str, Any] = {"classes": list(self.class_names)}
        for key in _ROW_KEYS:
            vals = np.array([r[key] for r in self.rows], np.float64)
            vals = vals[~np.isnan(vals)]
            out[key] = float(vals.mean()) if vals.size else float("nan")
        for key in _ROW_LISTS:
            table = np.array([r[key] for r in self.rows], np.float64).reshape(-1, self.num_classes)
            defined = ~np.isnan(table)
            n = defined.sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[key] = np.where(
                    n > 0, np.where(defined, table, 0).sum(axis=0) / np.maximum(n, 1), np.nan
                ).tolist()
        out["num_samples"] = len(self.rows)
        out["aggregation"] = {"pooled": False, "ignore_index": self.ignore_index, "absent": self.absent}
        return out

    def worst(self, k: int = 10, *, key: str = "mean_iou") -> list[dict[str, Any]]:
        """The ``k`` rows with the lowest ``key`` (images where it is NaN come last)."""
        if key not in _ROW_KEYS:
            raise ParameterError(f"key={key!r} is not one of {', '.join(_ROW_KEYS)}")
        return sorted(self.rows, key=lambda r: (np.isnan(r[key]), r[key]))[:k]

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write one row per image: id, the scalar scores, then ``iou/<class>``, ``dice/<class>``, ``recall/<class>``."""
        header = ["id", *_ROW_KEYS, "num_pixels"]
        header += [f"{k}/{n}" for k in _ROW_LISTS for n in self.class_names]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for r in self.rows:
            writer.writerow(
                [r["id"], *(r[k] for k in _ROW_KEYS), r["num_pixels"], *(v for k in _ROW_LISTS for v in r[k])]
            )
        write_text(path, buf.getvalue())
