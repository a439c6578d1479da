"""``segscope evaluate``: score predictions against ground truth, write JSON, CSV and an HTML report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

_FORMATS = "mask-folder, palette, rgb, instance-folder, coco, numpy"


def _num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4f}"
    return str(v)


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
) -> None:
    """Evaluate predictions against ground truth: semantic (IoU, Dice, Boundary IoU, ECE) or
    instance (COCO AP, Boundary AP, DSB score) metrics, per class and per sample.

    Example: [bold]segscope evaluate data/shapes runs/otsu --boundary --json eval.json
    --per-sample eval.csv --report eval.html[/bold]
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.evaluation import EvaluationConfig, write_report
    from segscope.evaluation import evaluate as run_evaluation
    from segscope.formats import load_dataset

    config = EvaluationConfig(task=task, boundary=boundary, missing=missing)
    gt_ds = load_dataset(gt, format=gt_format, classes=classes)
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
    if results.per_class:
        cols = [k for k in results.per_class[0] if k not in ("id", "name")]
        table = Table(title="per class")
        table.add_column("id", justify="right")
        table.add_column("class")
        for c in cols:
            table.add_column(c, justify="right")
        for row in results.per_class:
            table.add_row(str(row["id"]), row["name"], *(_num(row.get(c)) for c in cols))
        con.print(table)
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


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to ``app``."""
    app.command("evaluate")(evaluate)
