"""Evaluation runs: a serialisable config, one streaming pass over the data, serialisable results.

Modelled on FiftyOne's evaluation runs: an :class:`EvaluationConfig` says what to compute,
:func:`evaluate` walks ground truth and predictions once, aligned by sample id, and returns
:class:`EvaluationResults`, which round-trips through JSON (``to_dict``/``from_dict``,
``save``/``load``) so that the CLI, the HTML report and the app all read the same record.

Only counts and per-sample rows are kept while streaming; masks are loaded one sample at a
time and dropped, so memory does not grow with the dataset (instance tasks keep the COCO RLE
of every object, which is what COCO evaluation needs and is small).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from segscope.core.dataset import Dataset, Sample
from segscope.core.instances import Instances
from segscope.errors import DataError, FormatError, ParameterError
from segscope.utils.files import write_json, write_text
from segscope.utils.progress import progress

__all__ = ["EvaluationConfig", "EvaluationResults", "evaluate", "SCHEMA"]

#: Identifier and version of the results JSON layout (see the README's table of keys).
SCHEMA = "segscope.evaluation/1"

_TASKS = ("semantic", "instance")
_MISSING = ("error", "empty")
_SHOW_IDS = 5  # ids quoted in error messages


@dataclass
class EvaluationConfig:
    """What an evaluation run computes; JSON-serialisable with :meth:`to_dict`.

    Parameters
    ----------
    task : {"semantic", "instance"}, optional
        Pixel labels or objects; ``None`` takes the ground-truth dataset's task.
    boundary : bool
        Also compute Boundary IoU (semantic) and, for instance tasks, Boundary AP.
    ignore_index : int, optional
        Ground-truth value left out of every metric; ``None`` takes the class map's (255).
    missing : {"error", "empty"}
        What to do with ground-truth samples that have no prediction: raise, or score them
        as empty predictions (all background, no objects) and count them.
    dilation_ratio : float
        Boundary width as a fraction of the image diagonal, for Boundary IoU/AP.
    ece_bins : int
        Number of equal-width confidence bins of the expected calibration error (computed
        when the predictions have probabilities).
    regions : bool
        Compute the region-level error breakdown (missed, false, merged and split blobs per
        class; :class:`segscope.metrics.regions.RegionErrors`). Class 0 is taken as the
        background and left out when there are other classes.
    region_iou : float
        IoU at which a ground-truth region counts as detected in the region breakdown.
    key : str
        Name of the run, under which results attach to a dataset.

    Examples
    --------
    >>> cfg = EvaluationConfig(boundary=True, missing="empty")
    >>> EvaluationConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    task: str | None = None
    boundary: bool = False
    ignore_index: int | None = None
    missing: str = "error"
    dilation_ratio: float = 0.02
    ece_bins: int = 15
    regions: bool = True
    region_iou: float = 0.5
    key: str = "eval"

    def __post_init__(self) -> None:
        if self.task is not None and self.task not in _TASKS:
            raise ParameterError(f"task={self.task!r} is not one of {', '.join(_TASKS)}; pick one (--task)")
        if self.missing not in _MISSING:
            raise ParameterError(
                f"missing={self.missing!r} is not one of {', '.join(_MISSING)}; pick one (--missing)"
            )
        if not (isinstance(self.dilation_ratio, int | float) and 0 < self.dilation_ratio <= 1):
            raise ParameterError(
                f"dilation_ratio={self.dilation_ratio!r} must be in (0, 1]; the usual value is 0.02"
            )
        if not (isinstance(self.region_iou, int | float) and 0 < self.region_iou <= 1):
            raise ParameterError(f"region_iou={self.region_iou!r} must be in (0, 1]; the usual value is 0.5")
        if not (isinstance(self.ece_bins, int) and self.ece_bins >= 1):
            raise ParameterError(f"ece_bins={self.ece_bins!r} must be a positive integer (e.g. 15)")
        if self.ignore_index is not None and not isinstance(self.ignore_index, int):
            raise ParameterError(f"ignore_index={self.ignore_index!r} must be an integer or None")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(
                f"evaluation config has unknown keys {unknown}; valid keys: {', '.join(sorted(known))}"
            )
        return cls(**dict(data))


@dataclass
class EvaluationResults:
    """The outcome of :func:`evaluate`: dataset-level, per-class and per-sample metrics.

    Every attribute is JSON-serialisable; :meth:`to_dict` gives the documented layout
    (``schema`` :data:`SCHEMA`), which :meth:`from_dict` reads back.

    Attributes
    ----------
    config : EvaluationConfig
    task : str
        ``"semantic"`` or ``"instance"``.
    classes : list of str
        Class names; class id = position.
    colors : list of [r, g, b]
        Display colour per class (for the report and the app).
    ignore_index : int or None
    metrics : dict
        Dataset-level scalars (``mean_iou``, ``pixel_accuracy``, ..., ``AP``, ``dsb_score``).
    per_class : list of dict
        One row per class: ``id``, ``name``, ``iou``, ``dice``, ``precision``, ``recall``,
        ``support``, ``predicted`` (and ``boundary_iou``, ``AP``... when computed).
    confusion_matrix : list of list of int
        ``(C, C)`` pixel counts, rows ground truth, columns prediction, ignore excluded.
    per_sample : list of dict
        One row per evaluated sample (``id``, ``iou``, ``pixel_accuracy``, ...).
    regions, calibration, instance : dict or None
        Region error breakdown, calibration (ECE) and COCO instance results, when computed.
    counts : dict
        ``samples``, ``missing``, ``missing_ids``, ``extra``, ``extra_ids``.
    aggregation : dict
        How the dataset-level numbers were aggregated (pooled, ignore_index, absent classes).
    gt, pred : str or None
        Where the datasets were read from.
    warnings : list of str
        Recoverable oddities met during the run.
    """

    config: EvaluationConfig = field(default_factory=EvaluationConfig)
    task: str = "semantic"
    classes: list[str] = field(default_factory=list)
    colors: list[list[int]] = field(default_factory=list)
    ignore_index: int | None = 255
    metrics: dict[str, Any] = field(default_factory=dict)
    per_class: list[dict[str, Any]] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    per_sample: list[dict[str, Any]] = field(default_factory=list)
    regions: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    instance: dict[str, Any] | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    aggregation: dict[str, Any] = field(default_factory=dict)
    worst_key: str = "iou"
    gt: str | None = None
    pred: str | None = None
    warnings: list[str] = field(default_factory=list)
    timestamp: str = ""
    segscope_version: str = ""

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The results as plain JSON types (NaN stays a float; ``save`` writes it as null)."""
        out: dict[str, Any] = {"schema": SCHEMA, "key": self.config.key}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, EvaluationConfig) else _plain(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResults:
        """Rebuild results from :meth:`to_dict` output (JSON nulls in numeric fields become NaN)."""
        if not isinstance(data, Mapping):
            raise FormatError(
                "evaluation results must be a JSON object; was the file written by segscope evaluate?"
            )
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise FormatError(f"evaluation results have schema {schema!r}; this segscope reads {SCHEMA!r}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "config":
                value = EvaluationConfig.from_dict(value or {})
            elif f.name in _NUMERIC_SECTIONS and value is not None:
                value = _from_json(value)
            kwargs[f.name] = value
        return cls(**kwargs)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the results as JSON, atomically; NaN (undefined scores) is written as ``null``."""
        write_json(path, _to_json(self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvaluationResults:
        """Read results written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataError(
                f"{path}: cannot read evaluation results ({exc.strerror}); check the path"
            ) from exc
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: not valid JSON ({exc}); re-run segscope evaluate --json") from exc
        return cls.from_dict(data)

    # ------------------------------------------------------------------ views
    def per_sample_csv(self) -> str:
        """One CSV row per sample; columns are the union of the per-sample keys, ``id`` first."""
        columns = list(dict.fromkeys(k for row in self.per_sample for k in row))
        if "id" in columns:
            columns.remove("id")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["id", *columns])
        for row in self.per_sample:
            writer.writerow([row.get("id"), *(_csv_value(row.get(c)) for c in columns)])
        return buf.getvalue()

    def write_per_sample_csv(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`per_sample_csv` to ``path`` atomically."""
        write_text(path, self.per_sample_csv())

    def worst(self, k: int = 10, *, key: str | None = None) -> list[dict[str, Any]]:
        """The ``k`` per-sample rows with the lowest ``key`` (default :attr:`worst_key`); NaN last."""
        key = key or self.worst_key
        if self.per_sample and key not in self.per_sample[0]:
            raise ParameterError(
                f"per-sample rows have no key {key!r}; choose one of {', '.join(k for k in self.per_sample[0] if k != 'id')}"
            )

        def rank(row: dict[str, Any]) -> tuple[bool, float]:
            v = row.get(key)
            bad = not isinstance(v, int | float) or math.isnan(v)
            return bad, 0.0 if bad else float(v)

        return sorted(self.per_sample, key=rank)[:k]


# ---------------------------------------------------------------------- JSON helpers
def _plain(value: Any) -> Any:
    """NumPy scalars and arrays -> Python scalars and lists, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _to_json(value: Any) -> Any:
    """NaN and infinities -> None, since strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    """Inverse of :func:`_to_json` for the numeric sections: every null becomes NaN."""
    if value is None:
        return float("nan")
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


# Sections whose nulls are undefined scores (NaN); nulls elsewhere (gt, ignore_index) stay None.
_NUMERIC_SECTIONS = ("metrics", "per_class", "per_sample", "regions", "calibration", "instance")


def _csv_value(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


# ---------------------------------------------------------------------- alignment
def _where(sample: Sample, ds: Dataset, label: str) -> str:
    """``gt masks/0007.png`` when the file is known, else ``gt sample '0007'``."""
    from segscope.formats._common import rel

    if sample.mask_path is not None:
        return f"{label} {rel(sample.mask_path, ds.root)}"
    return f"{label} sample '{sample.id}'"


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_SHOW_IDS])
    return shown + (f", ... ({len(ids) - _SHOW_IDS} more)" if len(ids) > _SHOW_IDS else "")


def _align(gt: Dataset, pred: Dataset, missing: str) -> tuple[list[str], list[str], list[str]]:
    """Ground-truth ids to evaluate, those without a prediction, and predictions without gt."""
    gt_ids = [s.id for s in gt if s.has_gt]
    if not gt_ids:
        raise DataError(
            f"{gt.root or 'gt'}: no sample has ground truth (masks or instances); nothing to evaluate"
        )
    pred_ids = set(pred.ids)
    absent = [i for i in gt_ids if i not in pred_ids]
    extra = [i for i in pred.ids if i not in set(gt_ids)]
    if len(absent) == len(gt_ids):
        raise DataError(
            f"no sample ids in common: gt has {_ids(gt_ids)} but pred has {_ids(pred.ids) or 'no samples'}; "
            "name the prediction files like the ground truth (masks/<id>.png)"
        )
    if absent and missing == "error":
        raise DataError(
            f"{len(absent)} of {len(gt_ids)} gt samples have no prediction ({_ids(absent)}); "
            "predict them, or pass --missing empty (missing='empty') to score them as empty predictions"
        )
    return gt_ids, absent, extra


def _check_pred_values(mask: np.ndarray, num_classes: int, where: str, classes_desc: str) -> None:
    if mask.size == 0:
        return
    top = int(mask.max())
    if top >= num_classes or int(mask.min()) < 0:
        values = np.unique(mask)
        bad = values[(values < 0) | (values >= num_classes)][:10].tolist()
        raise DataError(
            f"{where} has class ids {bad} but the gt class map has {num_classes} classes ({classes_desc}); "
            "pass --classes FILE listing every class, or remap the predictions"
        )


def _check_size(
    gt_shape: tuple[int, ...], pred_shape: tuple[int, ...], where_gt: str, where_pred: str
) -> None:
    if tuple(gt_shape) != tuple(pred_shape):
        raise DataError(
            f"{where_pred} is {tuple(pred_shape)} but {where_gt} is {tuple(gt_shape)}; "
            "predict at the ground-truth size (resize the prediction with nearest neighbour)"
        )


# ---------------------------------------------------------------------- evaluate
def evaluate(gt: Dataset, pred: Dataset, config: EvaluationConfig | None = None) -> EvaluationResults:
    """Evaluate predictions against ground truth, streaming over the samples once.

    Samples are aligned by id. For a semantic task, a pooled confusion matrix gives the
    dataset-level scores (:func:`segscope.metrics.semantic.semantic_scores`), and each sample
    also gets its own scores; Boundary IoU, the region error breakdown and, when the
    predictions carry probabilities, the expected calibration error are accumulated in the
    same pass. For an instance task, the objects are collected as COCO RLE and scored with
    COCO mask AP (and Boundary AP), per class and per image, plus the DSB 2018 score;
    semantic scores of the objects' label maps are reported too.

    Parameters
    ----------
    gt : Dataset
        Ground truth; its class map names the classes.
    pred : Dataset
        Predictions, with the same sample ids (e.g. a ``segscope segment`` output folder).
    config : EvaluationConfig, optional
        What to compute (defaults: task of ``gt``, no boundary metrics, missing -> error).

    Returns
    -------
    EvaluationResults
        Also attached per sample: ``gt[id].metrics[config.key]`` holds that sample's row.

    Raises
    ------
    DataError
        No ids in common, missing predictions (with ``missing="error"``), a prediction of a
        different size than its ground truth, or class ids the gt class map does not have.

    Examples
    --------
    >>> from segscope.core import ClassMap, Dataset, Sample
    >>> m = lambda a: (lambda: np.array(a, np.uint8))
    >>> gt = Dataset([Sample("a", load_mask=m([[0, 1], [1, 1]]))], ClassMap.default(2))
    >>> pred = Dataset([Sample("a", load_mask=m([[0, 1], [0, 1]]))], ClassMap.default(2))
    >>> res = evaluate(gt, pred)
    >>> round(res.metrics["mean_iou"], 4), res.per_sample[0]["pixel_accuracy"]
    (0.5833, 0.75)
    """
    config = config or EvaluationConfig()
    task = config.task or (gt.task if gt.task in _TASKS else "semantic")
    class_map = gt.class_map
    ignore = class_map.ignore_index if config.ignore_index is None else config.ignore_index
    ids, absent, extra = _align(gt, pred, config.missing)
    warnings: list[str] = []
    if (
        pred.class_map.names != class_map.names
        and not _default_names(pred.class_map.names)
        and not _default_names(class_map.names)
    ):
        warnings.append(
            f"pred class names {list(pred.class_map.names)} differ from gt {list(class_map.names)}; "
            "class ids are compared, names are taken from gt"
        )
    if extra:
        warnings.append(f"{len(extra)} predictions have no ground truth and were skipped ({_ids(extra)})")
    unlabelled = len(gt) - len(ids)
    if unlabelled:
        warnings.append(f"{unlabelled} gt samples have no mask or instances and were skipped")
    if absent:
        warnings.append(
            f"{len(absent)} gt samples have no prediction and were scored as empty ({_ids(absent)})"
        )

    runner = _SemanticPass(class_map.names, ignore, config)
    inst = _InstancePass(class_map.names, ignore, config) if task == "instance" else None
    absent_set = set(absent)
    for sid in progress(ids, total=len(ids), desc=f"evaluate {config.key}"):
        gs = gt[sid]
        ps = None if sid in absent_set else pred[sid]
        row: dict[str, Any] = {"id": sid}
        if inst is not None:
            gt_mask, pred_mask = inst.update(gs, ps, gt, pred, row)
            probs = None
        else:
            gt_mask, pred_mask, probs = _semantic_pair(gs, ps, gt, pred, class_map.num_classes, ignore)
        runner.update(sid, gt_mask, pred_mask, probs, row)
        row["missing"] = sid in absent_set
        runner.rows.append(row)

    results = EvaluationResults(
        config=config,
        task=task,
        classes=list(class_map.names),
        colors=[list(c) for c in class_map.colors],
        ignore_index=ignore,
        counts={
            "samples": len(ids),
            "missing": len(absent),
            "missing_ids": absent,
            "extra": len(extra),
            "extra_ids": extra,
        },
        worst_key="iou",
        gt=str(gt.root) if gt.root else None,
        pred=str(pred.root) if pred.root else None,
        warnings=warnings,
        timestamp=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        segscope_version=_version(),
    )
    runner.finish(results)
    if inst is not None:
        inst.finish(results)
    for row in results.per_sample:  # attach per-sample scores under the run key, as FiftyOne does
        gt[row["id"]].metrics[config.key] = {k: v for k, v in row.items() if k != "id"}
    return results


def _default_names(names: Sequence[str]) -> bool:
    """Names a reader made up (``background``, ``class_1``, ...), not ones a user gave."""
    return all(n in ("background", "object") or n.startswith("class_") for n in names)


def _version() -> str:
    from segscope import __version__

    return __version__


def _semantic_pair(
    gs: Sample, ps: Sample | None, gt: Dataset, pred: Dataset, num_classes: int, ignore: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Ground-truth and predicted label maps (and probabilities) of one sample, checked."""
    gt_mask = gs.mask
    if gt_mask is None:  # pragma: no cover - _align keeps only samples with ground truth
        raise DataError(f"{_where(gs, gt, 'gt')}: has no mask")
    gt_mask = np.asarray(gt_mask)
    if ps is None:
        return gt_mask, np.zeros(gt_mask.shape, np.uint8), None
    probs = ps.probs
    pred_mask = ps.mask
    if pred_mask is None and probs is not None:
        from segscope.core.probs import probs_to_mask

        pred_mask = probs_to_mask(np.asarray(probs))
    if pred_mask is None:
        raise DataError(
            f"{_where(ps, pred, 'pred')}: has neither a mask nor probabilities; re-run the prediction"
        )
    pred_mask = np.asarray(pred_mask)
    _check_size(gt_mask.shape, pred_mask.shape, _where(gs, gt, "gt"), _where(ps, pred, "pred"))
    _check_pred_values(pred_mask, num_classes, _where(ps, pred, "pred"), gt.class_map.describe())
    if probs is not None:
        probs = np.asarray(probs)
        if probs.ndim != 3 or probs.shape[:2] != gt_mask.shape or probs.shape[2] != num_classes:
            raise DataError(
                f"pred probs of sample '{ps.id}' have shape {probs.shape} but gt is {gt_mask.shape} with "
                f"{num_classes} classes; write (H, W, {num_classes}) probabilities"
            )
    return gt_mask, pred_mask, probs


class _SemanticPass:
    """Streaming accumulators of the pixel metrics (semantic task, or instances' label maps)."""

    def __init__(self, names: Sequence[str], ignore: int | None, config: EvaluationConfig) -> None:
        from segscope.metrics.boundary import BoundaryIoU
        from segscope.metrics.semantic import SampleScores

        self.names = list(names)
        self.num_classes = len(self.names)
        self.ignore = ignore
        self.config = config
        self.scores = SampleScores(self.num_classes, ignore_index=ignore, class_names=self.names)
        self.boundary = (
            BoundaryIoU(self.num_classes, ignore_index=ignore, dilation_ratio=config.dilation_ratio)
            if config.boundary
            else None
        )
        self.regions = self._new_regions() if config.regions else None
        self.calibration: Any = None  # CalibrationError, created at the first sample with probs
        self.calibrated = 0
        self.rows: list[dict[str, Any]] = []

    def _new_regions(self) -> Any:
        from segscope.metrics.regions import RegionErrors

        classes = range(1, self.num_classes) if self.num_classes > 1 else None
        return RegionErrors(
            self.num_classes,
            ignore_index=self.ignore,
            classes=classes,
            class_names=self.names,
            iou_threshold=self.config.region_iou,
        )

    def update(
        self, sid: str, gt: np.ndarray, pred: np.ndarray, probs: np.ndarray | None, row: dict[str, Any]
    ) -> None:
        from segscope.metrics.boundary import BoundaryIoU

        self.scores.update(gt, pred, sample_id=sid)
        s = self.scores.rows[-1]
        row.update(
            iou=s["mean_iou"],
            dice=s["mean_dice"],
            pixel_accuracy=s["pixel_accuracy"],
            mean_accuracy=s["mean_accuracy"],
            num_pixels=s["num_pixels"],
        )
        for name, v in zip(self.names, s["iou"], strict=True):
            row[f"iou/{name}"] = v
        if self.boundary is not None:
            one = BoundaryIoU(
                self.num_classes, ignore_index=self.ignore, dilation_ratio=self.config.dilation_ratio
            )
            one.update(gt, pred)
            row["boundary_iou"] = one.compute()["mean_boundary_iou"]
            self.boundary.merge(one)
        if self.regions is not None:
            one_r = self._new_regions()
            one_r.update(gt, pred)
            total = one_r.compute()["total"]
            row.update(
                regions_gt=total["gt_regions"],
                regions_missed=total["missed"],
                regions_false=total["false_blobs"],
                regions_merged=total["merges"],
                regions_split=total["splits"],
            )
            self.regions.merge(one_r)
        if probs is not None:
            from segscope.metrics.calibration import CalibrationError

            ce = CalibrationError(n_bins=self.config.ece_bins, ignore_index=self.ignore)
            ce.update(gt, probs)
            row["ece"] = ce.compute()["ece"]
            if self.calibration is None:
                self.calibration = CalibrationError(n_bins=self.config.ece_bins, ignore_index=self.ignore)
            self.calibration.merge(ce)
            self.calibrated += 1
        self.scores.rows[-1] = {"id": sid}  # the row lives in ``row``; keep the accumulator small

    def finish(self, results: EvaluationResults) -> None:
        pooled = self.scores.confusion.compute()
        sample_mean = {}
        for key in ("iou", "dice", "pixel_accuracy"):
            vals = np.array([r[key] for r in self.rows], np.float64)
            vals = vals[~np.isnan(vals)]
            sample_mean[key] = float(vals.mean()) if vals.size else float("nan")
        metrics: dict[str, Any] = {
            "mean_iou": pooled["mean_iou"],
            "mean_dice": pooled["mean_dice"],
            "pixel_accuracy": pooled["pixel_accuracy"],
            "mean_accuracy": pooled["mean_accuracy"],
            "mean_precision": pooled["mean_precision"],
            "fw_iou": pooled["fw_iou"],
            "sample_mean_iou": sample_mean["iou"],
            "sample_mean_dice": sample_mean["dice"],
            "sample_mean_pixel_accuracy": sample_mean["pixel_accuracy"],
            "num_pixels": pooled["num_pixels"],
        }
        per_class = [
            {
                "id": c,
                "name": name,
                "iou": pooled["iou"][c],
                "dice": pooled["dice"][c],
                "precision": pooled["precision"][c],
                "recall": pooled["recall"][c],
                "support": pooled["support"][c],
                "predicted": pooled["predicted"][c],
            }
            for c, name in enumerate(self.names)
        ]
        if self.boundary is not None:
            b = self.boundary.compute()
            metrics["boundary_iou"] = b["mean_boundary_iou"]
            for c, v in enumerate(b["boundary_iou"]):
                per_class[c]["boundary_iou"] = v
        if self.regions is not None:
            results.regions = self.regions.compute()
        if self.calibration is not None:
            calib = self.calibration.compute()
            calib["num_samples"] = self.calibrated
            metrics["ece"] = calib["ece"]
            results.calibration = calib
        results.metrics.update(metrics)
        results.aggregation = {
            **pooled["aggregation"],
            "description": (
                "mean_*, pixel_accuracy, fw_iou and per-class scores pool pixel counts over the dataset, "
                "then average over classes present in gt or pred (NaN = undefined, skipped); "
                "sample_mean_* average the per-sample scores; gt pixels equal to ignore_index are left out"
            ),
        }
        results.per_class = per_class
        results.confusion_matrix = self.scores.confusion.matrix.tolist()
        results.per_sample = self.rows


class _InstancePass:
    """Keeps every object as COCO RLE (small) for COCO AP at the end; DSB score per image on the fly."""

    def __init__(self, names: Sequence[str], ignore: int | None, config: EvaluationConfig) -> None:
        self.names = list(names)
        self.ignore = 255 if ignore is None else ignore
        self.config = config
        self.gt: dict[int, Instances] = {}
        self.dt: dict[int, Instances] = {}
        self.ids: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.unscored = 0

    def update(
        self, gs: Sample, ps: Sample | None, gt: Dataset, pred: Dataset, row: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        from segscope.metrics.instance import dsb_image_scores

        g = _instances_of(gs, self.ignore)
        if g is None:  # pragma: no cover - _align keeps only samples with ground truth
            raise DataError(f"{_where(gs, gt, 'gt')}: has no instances or mask")
        if ps is None:
            p = Instances.empty(g.height, g.width, with_scores=True)
        else:
            found = _instances_of(ps, self.ignore)
            if found is None:
                raise DataError(
                    f"{_where(ps, pred, 'pred')}: has no instances (instances.json) or mask; re-run the prediction"
                )
            p = found
            _check_size(
                (g.height, g.width), (p.height, p.width), _where(gs, gt, "gt"), _where(ps, pred, "pred")
            )
            if len(p):
                _check_pred_values(
                    p.labels, len(self.names), _where(ps, pred, "pred instances of"), gt.class_map.describe()
                )
            if p.scores is None:
                # Masks without confidences (e.g. instance-id maps): every object scores 1.
                p = Instances(p.rles, p.labels, p.height, p.width, np.ones(len(p)), p.iscrowd)
                self.unscored += 1
        n = len(self.ids)
        self.ids.append(gs.id)
        self.gt[n], self.dt[n] = g, p
        dsb = dsb_image_scores({0: g}, {0: p})[0]
        row.update(
            num_gt=int((~g.iscrowd).sum()),
            num_pred=len(p),
            dsb_score=float(dsb.mean()),
        )
        self.rows.append(row)  # the same dict as the semantic pass's row: filled in finish()
        # Label maps for the pixel metrics: the dataset's own when it has one (cheap: read from
        # disk), else painted from the objects (one RLE decode per object).
        dtype = np.uint8 if max(len(self.names) - 1, self.ignore) <= 255 else np.uint16
        gt_mask = (
            np.asarray(gs.mask)
            if gs.load_mask is not None
            else g.to_semantic(ignore_index=self.ignore, dtype=dtype)
        )
        if ps is not None and ps.load_mask is not None:
            pred_mask = np.asarray(ps.mask)
            _check_size(gt_mask.shape, pred_mask.shape, _where(gs, gt, "gt"), _where(ps, pred, "pred"))
            _check_pred_values(pred_mask, len(self.names), _where(ps, pred, "pred"), gt.class_map.describe())
        else:
            pred_mask = p.to_semantic(ignore_index=self.ignore, dtype=dtype)
        return gt_mask, pred_mask

    def finish(self, results: EvaluationResults) -> None:
        from segscope.metrics.instance import STAT_NAMES, coco_evaluate

        categories = list(range(1, len(self.names)))  # class 0 is the background
        coco = coco_evaluate(self.gt, self.dt, categories=categories)
        out: dict[str, Any] = {
            "stats": {k: coco[k] for k in STAT_NAMES},
            "boundary_stats": None,
            "dsb_score": float(np.mean([r["dsb_score"] for r in self.rows])),
            "per_class": [
                {"id": c, "name": self.names[c], **{k: v for k, v in coco["per_class"][c].items()}}
                for c in categories
            ],
            "pr_curves": _pr_curves(coco, self.names),
            "params": coco["params"],
        }
        results.metrics.update({k: coco[k] for k in ("AP", "AP50", "AP75")})
        results.metrics["dsb_score"] = out["dsb_score"]
        if self.config.boundary:
            bcoco = coco_evaluate(
                self.gt,
                self.dt,
                categories=categories,
                iou_type="boundary",
                dilation_ratio=self.config.dilation_ratio,
            )
            out["boundary_stats"] = {k: bcoco[k] for k in STAT_NAMES}
            results.metrics["boundary_AP"] = bcoco["AP"]
            for row, c in zip(out["per_class"], categories, strict=True):
                row["boundary_AP"] = bcoco["per_class"][c]["AP"]
        t50 = coco["params"]["iou_thresholds"].index(0.5) if 0.5 in coco["params"]["iou_thresholds"] else 0
        for n, row in enumerate(self.rows):
            img = coco["per_image"][n]
            row.update(tp50=img["tp"][t50], fp50=img["fp"][t50], fn50=img["fn"][t50])
        if self.unscored:
            results.warnings.append(
                f"{self.unscored} predicted images have objects without scores; each object scored 1.0, "
                "so AP ranks them in file order"
            )
        results.instance = out
        results.worst_key = "dsb_score"


def _pr_curves(coco: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """Precision at each recall threshold, IoU 0.50 and 0.75, area "all", the largest max_dets.

    COCO's ``precision`` array is ``(T, R, K, A, M)`` with -1 where a class has no ground
    truth; ``all`` averages the classes that have data, as COCO's AP does.
    """
    precision = np.asarray(coco["precision"], np.float64)
    params = coco["params"]
    thresholds = [round(t, 2) for t in params["iou_thresholds"]]
    out: dict[str, Any] = {"recall": list(params["rec_thresholds"])}
    for thr in (0.5, 0.75):
        if thr not in thresholds:
            continue
        p = precision[thresholds.index(thr), :, :, 0, -1]  # (R, K)
        curves: dict[str, list[float]] = {}
        valid = p > -1
        with np.errstate(invalid="ignore"):
            mean = np.where(
                valid.any(axis=1), np.where(valid, p, 0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1), -1
            )
        curves["all"] = mean.tolist()
        for k, cat in enumerate(params["categories"]):
            curves[names[int(cat)]] = p[:, k].tolist()
        out[f"iou_{thr:.2f}"] = curves
    return out


def _instances_of(sample: Sample, ignore: int | None) -> Instances | None:
    inst = sample.instances
    if inst is None:
        mask = sample.mask
        if mask is None:
            return None
        inst = Instances.from_semantic(np.asarray(mask), ignore_index=255 if ignore is None else ignore)
    return inst
