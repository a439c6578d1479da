"""``segscope evaluate``: score predictions against ground truth, write JSON, CSV and an HTML report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from segscope.cli.catalog import WORKSPACE_HELP

_FORMATS = "mask-folder, palette, rgb, instance-folder, coco, numpy"


def _num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4f}"
    return str(v)


_PIXEL_COLUMNS = ("iou", "dice", "precision", "recall", "boundary_iou")
_INSTANCE_COLUMNS = ("AP", "AP50", "AP75", "AR", "boundary_AP", "num_gt", "num_dt")


def _rows_table(con: Any, title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """Print per-class rows (``id``, ``name`` and the ``columns`` they have) as a rich table."""
    from rich.table import Table

    if not rows:
        return
    cols = [c for c in columns if c in rows[0]]
    table = Table(title=title)
    table.add_column("id", justify="right")
    table.add_column("class", overflow="fold")
    for c in cols:
        table.add_column(c, justify="right")
    for row in rows:
        table.add_row(str(row["id"]), str(row["name"]), *(_num(row.get(c)) for c in cols))
    con.print(table)


def evaluate(
    gt: Path = typer.Argument(..., help="Ground-truth dataset folder or COCO .json file."),
    pred: Path = typer.Argument(
        ..., help="Predictions: an output folder of segscope segment/predict, or any dataset."
    ),
    task: str | None = typer.Option(
        None, "--task", help="semantic or instance; the ground truth's task when omitted."
    ),
    boundary: bool = typer.Option(
        False, "--boundary", help="Also compute Boundary IoU (and Boundary AP for instances)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the full results as JSON to this file."),
    per_sample: Path | None = typer.Option(
        None, "--per-sample", help="Write one CSV row per sample to this file."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write a self-contained HTML report to this file."
    ),
    missing: str = typer.Option(
        "error", "--missing", help="error: stop when a gt sample has no prediction; empty: score it as empty."
    ),
    gt_format: str | None = typer.Option(
        None, "--gt-format", help=f"Format of GT ({_FORMATS}); detected when omitted."
    ),
    pred_format: str | None = typer.Option(
        None, "--pred-format", help="Format of PRED; detected when omitted."
    ),
    classes: Path | None = typer.Option(
        None,
        "--classes",
        help="Classes file (YAML/JSON) for GT, overriding its own; PRED keeps its classes.yaml.",
    ),
    worst: int = typer.Option(
        8, "--worst", min=0, help="Number of worst samples shown with overlays in the report."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Evaluate only this split of GT (e.g. test); other predictions are skipped."
    ),
    into: str | None = typer.Option(
        None,
        "--into",
        help="Store the results in this workspace dataset (added from GT if absent), with PRED "
        "attached as run KEY-pred, for the app.",
    ),
    run_key: str | None = typer.Option(
        None, "--key", help="Run key of the evaluation with --into (default: eval-<PRED folder name>)."
    ),
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        "-w",
        help=WORKSPACE_HELP,
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --into: replace runs of the same key."),
) -> None:
    """Evaluate predictions against ground truth: semantic (IoU, Dice, Boundary IoU, ECE) or
    instance (COCO AP, Boundary AP, DSB score) metrics, per class and per sample.

    Example: [bold]segscope evaluate data/shapes runs/otsu --boundary --json eval.json
    --per-sample eval.csv --report eval.html --into shapes --key otsu[/bold]
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.evaluation import EvaluationConfig, write_report
    from segscope.evaluation import evaluate as run_evaluation
    from segscope.formats import load_dataset

    config = EvaluationConfig(task=task, boundary=boundary, missing=missing)
    gt_ds = load_dataset(gt, format=gt_format, classes=classes)
    if split:
        gt_ds = gt_ds.split(split)
    pred_ds = load_dataset(pred, format=pred_format)
    results = run_evaluation(gt_ds, pred_ds, config)

    con = Console()
    counts = results.counts
    con.print(f"[bold]{pred}[/bold] vs [bold]{gt}[/bold]")
    con.print(
        f"task={results.task}  samples={counts['samples']}"
        + (f"  missing (scored empty)={counts['missing']}" if counts["missing"] else "")
        + (f"  extra (skipped)={counts['extra']}" if counts["extra"] else "")
    )
    summary = Table(title="dataset-level metrics")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key, value in results.metrics.items():
        if isinstance(value, int | float):
            summary.add_row(key, _num(value))
    con.print(summary)
    _rows_table(con, "per class (pixels)", results.per_class, _PIXEL_COLUMNS)
    if results.instance:
        stats = Table(title="COCO AP/AR")
        stats.add_column("stat")
        stats.add_column("mask", justify="right")
        if results.instance["boundary_stats"]:
            stats.add_column("boundary", justify="right")
        for key, value in results.instance["stats"].items():
            extra = (
                [_num(results.instance["boundary_stats"][key])] if results.instance["boundary_stats"] else []
            )
            stats.add_row(key, _num(value), *extra)
        con.print(stats)
        _rows_table(con, "per class (objects)", results.instance["per_class"], _INSTANCE_COLUMNS)
    for line in results.warnings:
        con.print(f"[yellow]warning:[/yellow] {line}")
    if json_out:
        results.save(json_out)
        con.print(f"wrote {json_out}")
    if per_sample:
        results.write_per_sample_csv(per_sample)
        con.print(f"wrote {per_sample} ({len(results.per_sample)} rows)")
    if report:
        write_report(results, report, gt=gt_ds, pred=pred_ds, worst=worst)
        con.print(f"wrote {report}")
    if into:
        from segscope.catalog import Catalog
        from segscope.catalog.attach import attach_evaluation

        cat = Catalog(workspace)
        done = attach_evaluation(
            cat,
            into,
            results,
            key=run_key or f"eval-{pred.stem}",
            gt=gt_ds,
            pred_dir=pred,
            overwrite=overwrite,
        )
        con.print(
            f"stored evaluation '{done['evaluation']}'"
            + (f" and predictions '{done['prediction']}'" if done["prediction"] else "")
            + f" in workspace dataset '{into}' ({cat.path})"
        )


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to ``app``."""
    app.command("evaluate")(evaluate)
