"""A self-contained HTML report of an evaluation run.

One file, no external JavaScript, CSS or images: figures are rendered with matplotlib (Agg)
and the sample overlays with Pillow, and both are embedded as base64 PNG data URIs, so the
report can be mailed, archived or opened offline.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from segscope.core.classes import ClassMap
from segscope.core.image import overlay, to_display
from segscope.errors import ParameterError

if TYPE_CHECKING:
    from segscope.core.dataset import Dataset
    from segscope.evaluation.run import EvaluationResults

__all__ = ["write_report", "render_report", "error_map", "ERROR_COLORS"]

#: Colours of the error map: true positive, false positive, false negative, wrong class, ignore.
ERROR_COLORS: dict[str, tuple[int, int, int]] = {
    "tp": (0, 200, 0),
    "fp": (230, 30, 30),
    "fn": (40, 90, 255),
    "wrong_class": (255, 160, 0),
    "ignore": (150, 150, 150),
}

_THUMB = 256  # longest side of a sample panel in the report, in pixels (keeps reports a few MB)

# Per-sample values shown above a sample's panels (the CSV and JSON hold them all).
_CAPTION_KEYS = (
    "iou",
    "dice",
    "pixel_accuracy",
    "boundary_iou",
    "ece",
    "dsb_score",
    "num_gt",
    "num_pred",
    "tp50",
    "fp50",
    "fn50",
    "regions_missed",
    "regions_false",
    "regions_merged",
    "regions_split",
    "missing",
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.meta td{text-align:left}
figure{display:inline-block;margin:.3em;vertical-align:top;text-align:center}
figcaption{font-size:.85em;color:#555}img{max-width:100%}
.legend span{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle}
.sample{border:1px solid #eee;margin:.8em 0;padding:.4em}
.sample img{width:240px;image-rendering:pixelated}
"""


# ---------------------------------------------------------------------- error map
def error_map(
    gt: np.ndarray,
    pred: np.ndarray,
    *,
    ignore_index: int = 255,
    background: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Colour each pixel by the kind of agreement between ``gt`` and ``pred``.

    With ``background`` the id of the background class: true positives (same non-background
    class) are green, false positives (predicted object on background) red, false negatives
    (object predicted as background) blue, confusions between two object classes orange, and
    ``ignore_index`` pixels grey; correctly predicted background is left uncoloured. With
    ``background=None`` every correct pixel is a true positive and every wrong one orange.

    Parameters
    ----------
    gt, pred : (H, W) int ndarray
        Label maps of class ids.
    ignore_index : int
        Ground-truth value of pixels to ignore.
    background : int or None
        Class id that counts as "nothing there".

    Returns
    -------
    colors : (H, W, 3) uint8 ndarray
        The colour of each pixel (see :data:`ERROR_COLORS`).
    where : (H, W) bool ndarray
        Pixels that carry a colour (everything except correct background).

    Examples
    --------
    >>> colors, where = error_map(np.array([[0, 1, 1, 0]]), np.array([[0, 1, 0, 1]]))
    >>> where.tolist(), colors[0, 1].tolist(), colors[0, 2].tolist(), colors[0, 3].tolist()
    ([[False, True, True, True]], [0, 200, 0], [40, 90, 255], [230, 30, 30])
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ParameterError(f"error_map: gt is {gt.shape} but pred is {pred.shape}; pass masks of one size")
    colors = np.zeros((*gt.shape, 3), np.uint8)
    ignore = gt == ignore_index
    correct = (gt == pred) & ~ignore
    wrong = (gt != pred) & ~ignore
    if background is None:
        tp, fp, fn, confused = correct, np.zeros_like(correct), np.zeros_like(correct), wrong
    else:
        tp = correct & (gt != background)
        fp = wrong & (gt == background)
        fn = wrong & (pred == background)
        confused = wrong & ~fp & ~fn
    for name, sel in (("tp", tp), ("fp", fp), ("fn", fn), ("wrong_class", confused), ("ignore", ignore)):
        colors[sel] = ERROR_COLORS[name]
    return colors, tp | fp | fn | confused | ignore


# ---------------------------------------------------------------------- encoding helpers
def _png_uri(rgb: np.ndarray, *, max_side: int = _THUMB) -> str:
    from PIL import Image

    rgb = np.ascontiguousarray(rgb)
    grey = rgb.ndim == 3 and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all()
    img = Image.fromarray(rgb[..., 0] if grey else rgb)  # one channel where it is grey: a third of the size
    scale = max_side / max(img.size)
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fig_uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display, no GUI toolkit: files only
    import matplotlib.pyplot as plt

    return plt


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return "nan" if math.isnan(value) else f"{float(value):.4f}"
    return html.escape(str(value))


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *, left: int = 1) -> str:
    if not rows:
        return "<p>(none)</p>"
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{html.escape(c)}</th>' for i, c in enumerate(columns)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"l" if i < left else ""}">{_fmt(r.get(c))}</td>' for i, c in enumerate(columns)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _kv_table(items: Mapping[str, Any]) -> str:
    return _table([{"metric": k, "value": v} for k, v in items.items() if not isinstance(v, dict | list)])


# ---------------------------------------------------------------------- figures
def _confusion_figure(cm: np.ndarray, names: Sequence[str]) -> str:
    plt = _pyplot()
    cm = np.asarray(cm, np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(names)
    side = min(2 + 0.6 * n, 14)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{norm[i, j]:.2f}\n{int(cm[i, j]):,}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_title("Confusion matrix (row-normalised, with pixel counts)")
    return _fig_uri(fig)


def _bars_figure(names: Sequence[str], values: Sequence[float], *, label: str) -> str:
    plt = _pyplot()
    vals = [0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    y = np.arange(len(names))
    ax.barh(y, vals, color="#4c72b0")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(label)
    for yi, v, raw in zip(y, vals, values, strict=True):
        ax.text(min(v + 0.01, 0.9), yi, _fmt(raw), va="center", fontsize=8)
    return _fig_uri(fig)


def _pr_figure(pr: Mapping[str, Any]) -> str:
    plt = _pyplot()
    recall = np.asarray(pr["recall"], np.float64)
    curves = {k: v for k, v in pr.items() if k != "recall"}
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4.5), squeeze=False)
    for ax, (thr, per_class) in zip(axes[0], curves.items(), strict=True):
        for name, prec in per_class.items():
            p = np.asarray([np.nan if v is None else v for v in prec], np.float64)
            if np.all(np.isnan(p) | (p < 0)):
                continue
            p = np.where(p < 0, np.nan, p)  # COCO marks "no data" with -1
            ax.plot(
                recall, p, lw=2.5 if name == "all" else 1.2, label=name, color="k" if name == "all" else None
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"Precision-recall at IoU {thr.split('_')[-1]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    return _fig_uri(fig)


def _reliability_figure(bins: Mapping[str, Sequence[float]]) -> str | None:
    conf = bins.get("confidence")
    acc = bins.get("accuracy")
    if conf is None or acc is None:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    c = np.asarray([np.nan if v is None else v for v in conf], np.float64)
    a = np.asarray([np.nan if v is None else v for v in acc], np.float64)
    ok = ~(np.isnan(c) | np.isnan(a))
    ax.plot(c[ok], a[ok], "o-", color="#c44e52")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram")
    return _fig_uri(fig)


# ---------------------------------------------------------------------- samples
def _sample_panels(
    sample_id: str, gt: Dataset, pred: Dataset | None, class_map: ClassMap, *, task: str
) -> list[tuple[str, str]]:
    """(caption, data URI) for image, ground truth, prediction and error map of one sample."""
    gs = gt[sample_id]
    gt_mask = gs.mask
    if gt_mask is None:
        return []
    gt_mask = np.asarray(gt_mask)
    pred_mask = None
    if pred is not None and sample_id in pred:
        pm = pred[sample_id].mask
        pred_mask = None if pm is None else np.asarray(pm)
    if pred_mask is None or pred_mask.shape != gt_mask.shape:
        pred_mask = np.zeros_like(gt_mask)  # a missing prediction is evaluated as empty
    try:
        image = to_display(gs.image) if gs.load_image is not None else None
    except Exception:  # noqa: BLE001 - an unreadable image should not sink the whole report
        image = None
    if image is None or image.shape[:2] != gt_mask.shape:
        image = np.full((*gt_mask.shape, 3), 64, np.uint8)
    ignore = class_map.ignore_index

    def labels(mask: np.ndarray) -> np.ndarray:
        if task == "instance":
            return overlay(image, class_map.colorize(mask), where=mask != 0, alpha=0.55)
        return overlay(image, class_map.colorize(mask), alpha=0.5)

    colors, where = error_map(gt_mask, pred_mask, ignore_index=ignore, background=0)
    return [
        ("image", _png_uri(image)),
        ("ground truth", _png_uri(labels(gt_mask))),
        ("prediction", _png_uri(labels(pred_mask))),
        ("errors", _png_uri(overlay(image, colors, where=where, alpha=0.7))),
    ]


def _legend() -> str:
    names = {
        "tp": "true positive",
        "fp": "false positive",
        "fn": "false negative",
        "wrong_class": "wrong class",
        "ignore": "ignored",
    }
    return (
        '<p class="legend">'
        + "".join(f'<span style="background:rgb{ERROR_COLORS[k]}"></span>{v}' for k, v in names.items())
        + "</p>"
    )


# ---------------------------------------------------------------------- the report
def render_report(
    results: EvaluationResults | Mapping[str, Any],
    *,
    gt: Dataset | None = None,
    pred: Dataset | None = None,
    worst: int = 8,
    title: str | None = None,
) -> str:
    """Render an evaluation run as one self-contained HTML page.

    Parameters
    ----------
    results : EvaluationResults or dict
        The run (or its :meth:`~segscope.evaluation.EvaluationResults.to_dict`).
    gt, pred : Dataset, optional
        The datasets evaluated; needed for the worst-sample overlays (skipped without ``gt``).
    worst : int
        How many of the lowest-scoring samples to show with overlays.
    title : str, optional
        Page title; defaults to the run key and dataset paths.

    Returns
    -------
    str
        The HTML document; every image is an inline ``data:image/png;base64`` URI.
    """
    data = results if isinstance(results, Mapping) else results.to_dict()
    if worst < 0:
        raise ParameterError(f"worst={worst}: the number of worst samples must be >= 0")
    names = list(data["classes"])
    task = data.get("task", "semantic")
    counts = data.get("counts", {})
    title = (
        title or f"segscope evaluation: {data.get('pred', 'predictions')} vs {data.get('gt', 'ground truth')}"
    )
    out: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<table class="meta">',
        *(
            f"<tr><th class='l'>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>"
            for k, v in (
                ("ground truth", data.get("gt")),
                ("predictions", data.get("pred")),
                ("task", task),
                ("samples evaluated", counts.get("samples")),
                ("missing predictions (scored as empty)", counts.get("missing")),
                ("predictions without ground truth (skipped)", counts.get("extra")),
                ("classes", ", ".join(names)),
                ("ignore_index", data.get("ignore_index")),
                ("created", data.get("timestamp")),
                ("segscope", data.get("segscope_version")),
            )
        ),
        "</table>",
        '<h2 id="summary">Summary</h2>',
        _kv_table(data.get("metrics", {})),
    ]

    per_class = data.get("per_class") or []
    if per_class:
        out.append('<h2 id="per-class">Per-class metrics</h2>')
        out.append(_table(per_class, left=2))
        if any("iou" in r for r in per_class):
            out.append(
                f'<figure><img alt="per-class IoU" src="{_bars_figure([r["name"] for r in per_class], [r.get("iou") for r in per_class], label="IoU")}"><figcaption>Per-class IoU</figcaption></figure>'
            )

    cm = data.get("confusion_matrix")
    if cm:
        out.append('<h2 id="confusion">Confusion matrix</h2>')
        out.append(
            f'<figure><img alt="confusion matrix" src="{_confusion_figure(np.asarray(cm), names)}"></figure>'
        )

    inst = data.get("instance")
    if inst:
        out.append('<h2 id="instance">Instance metrics (COCO)</h2>')
        out.append(_kv_table(inst.get("stats", {})))
        if inst.get("boundary_stats"):
            out.append("<h3>Boundary AP</h3>" + _kv_table(inst["boundary_stats"]))
        if inst.get("per_class"):
            out.append("<h3>Per-class AP</h3>" + _table(inst["per_class"], left=2))
        if inst.get("pr_curves"):
            out.append('<h3 id="pr-curves">Precision-recall curves</h3>')
            out.append(
                f'<figure><img alt="precision-recall curves" src="{_pr_figure(inst["pr_curves"])}"></figure>'
            )

    regions = data.get("regions")
    if regions:
        out.append('<h2 id="regions">Region breakdown</h2>')
        out.append(_regions_html(regions))

    calib = data.get("calibration")
    if calib:
        out.append('<h2 id="calibration">Calibration</h2>')
        out.append(_kv_table(calib))
        fig = _reliability_figure(calib.get("bins", {})) if isinstance(calib.get("bins"), Mapping) else None
        if fig:
            out.append(f'<figure><img alt="reliability diagram" src="{fig}"></figure>')

    per_sample = data.get("per_sample") or []
    key = data.get("worst_key", "iou")
    if per_sample and worst:
        ranked = sorted(
            (r for r in per_sample if isinstance(r.get(key), int | float) and not math.isnan(r[key])),
            key=lambda r: (r[key], r["id"]),
        )[:worst]
        out.append(f'<h2 id="worst">Worst {len(ranked)} samples by {html.escape(key)}</h2>')
        out.append(_legend())
        class_map = ClassMap(tuple(names), ignore_index=int(data.get("ignore_index", 255)))
        if gt is not None and data.get("colors"):
            class_map = ClassMap(
                tuple(names), tuple(map(tuple, data["colors"])), ignore_index=class_map.ignore_index
            )
        for row in ranked:
            scores = ", ".join(f"{c} {_fmt(row[c])}" for c in _CAPTION_KEYS if c in row)
            out.append(f'<div class="sample"><h3>{html.escape(str(row["id"]))}</h3><p>{scores}</p>')
            if gt is not None and row["id"] in gt:
                for caption, uri in _sample_panels(row["id"], gt, pred, class_map, task=task):
                    out.append(
                        f'<figure><img alt="{html.escape(caption)}" src="{uri}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                    )
            out.append("</div>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _regions_html(regions: Mapping[str, Any]) -> str:
    """Region breakdown: one row per class and a total; size bins as ``detected/gt (recall)``."""
    rows = [dict(r) for r in regions.get("per_class", [])]
    if regions.get("total"):
        rows.append({"name": "all classes", **regions["total"]})
    flat = []
    for r in rows:
        out: dict[str, Any] = {}
        for k, v in r.items():
            if k == "class":
                continue
            if isinstance(v, Mapping):
                rec = v.get("recall")
                out[f"{k} detected/gt"] = f"{v.get('detected', 0)}/{v.get('gt_regions', 0)}" + (
                    "" if rec is None or (isinstance(rec, float) and math.isnan(rec)) else f" ({rec:.2f})"
                )
            else:
                out[k] = v
        flat.append(out)
    agg = regions.get("aggregation") or {}
    note = (
        f"<p>Connected regions per class; a gt region is detected at IoU &ge; {_fmt(agg.get('iou_threshold'))}, "
        "missed otherwise; a false blob touches no gt region; a merge covers &ge; 2 gt regions, a split "
        "breaks one gt region in &ge; 2. Size bins follow COCO (small &lt; 32&sup2;, medium &lt; 96&sup2; pixels).</p>"
    )
    return note + _table(flat)


def write_report(
    results: EvaluationResults | Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    gt: Dataset | None = None,
    pred: Dataset | None = None,
    worst: int = 8,
    title: str | None = None,
) -> None:
    """Write :func:`render_report` to ``path`` atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from segscope.evaluation import EvaluationResults
    >>> res = EvaluationResults.from_dict({"classes": ["bg", "fg"], "metrics": {"miou": 0.5}})
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_report(res, target)
    >>> "Summary" in target.read_text()
    True
    """
    from segscope.utils.files import write_text

    write_text(path, render_report(results, gt=gt, pred=pred, worst=worst, title=title))
