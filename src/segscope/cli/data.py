"""Dataset commands: ``segscope info``, ``segscope validate`` and ``segscope convert``."""

from __future__ import annotations

from pathlib import Path

import typer

FORMAT_HELP = (
    "Dataset format (mask-folder, palette, rgb, instance-folder, coco, numpy); detected when omitted."
)
CLASSES_HELP = "Classes file (YAML/JSON) naming the classes and mapping stored values, e.g. examples/classes/isbi2012.yaml."


def _load(dataset: Path, fmt: str | None, classes: Path | None):  # noqa: ANN202 - Dataset, imported lazily
    from segscope.formats import load_dataset

    return load_dataset(dataset, format=fmt, classes=classes)


def _fmt_num(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.4e}"


def info(
    dataset: Path = typer.Argument(..., help="Dataset folder or COCO .json file."),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    classes: Path | None = typer.Option(None, "--classes", help=CLASSES_HELP),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the numbers as JSON to this file."),
) -> None:
    """Summarise a dataset: counts, classes and pixel frequency, sizes, dtypes, channel statistics.

    Example: [bold]segscope info ../shared/data/isbi2012_membrane --classes examples/classes/isbi2012.yaml[/bold]
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.formats import dataset_info
    from segscope.utils.files import write_json

    ds = _load(dataset, format, classes)
    data = dataset_info(ds)
    con = Console()
    con.print(f"[bold]{dataset}[/bold]  format={data['format']}  task={data['task']}")
    splits = ", ".join(f"{k}: {v}" for k, v in data["splits"].items()) or "none"
    con.print(
        f"samples: {data['samples']}  (splits: {splits})  with ground truth: {data['with_gt']}  "
        f"without: {data['without_gt']}  with image: {data['with_image']}"
    )
    if data["instances"] is not None:
        per = data["instances_per_image"] or {}
        con.print(
            f"instances: {data['instances']}"
            + (f"  (per image min {per['min']}, median {per['median']:g}, max {per['max']})" if per else "")
        )
    table = Table(title=f"{data['num_classes']} classes (% of {data['gt_pixels']} ground-truth pixels)")
    for col in ("id", "name", "colour", "pixels", "%"):
        table.add_column(col, justify="right" if col in ("id", "pixels", "%") else "left")
    for c in data["classes"]:
        r, g, b = c["color"]
        table.add_row(
            str(c["id"]),
            c["name"],
            f"[rgb({r},{g},{b})]██[/] {r},{g},{b}",
            str(c["pixels"]),
            f"{c['percent']:.2f}",
        )
    ign = data["ignore"]
    if ign["pixels"]:
        table.add_row(str(ign["index"]), "(ignore)", "", str(ign["pixels"]), f"{ign['percent']:.2f}")
    con.print(table)
    sizes = Table(title="images")
    sizes.add_column("size (H x W)")
    sizes.add_column("count", justify="right")
    for k, v in data["image_sizes"].items():
        sizes.add_row(k, str(v))
    con.print(sizes)
    con.print(
        "dtypes: "
        + ", ".join(f"{k} ({v})" for k, v in data["dtypes"].items())
        + "   channels: "
        + ", ".join(f"{k} ({v})" for k, v in data["channels"].items())
    )
    if data["channel_stats"]:
        st = Table(title="per-channel statistics")
        for col in ("channel", "pixels", "mean", "std", "min", "max"):
            st.add_column(col, justify="right")
        for c in data["channel_stats"]:
            st.add_row(
                str(c["channel"]), str(c["pixels"]), *(_fmt_num(c[k]) for k in ("mean", "std", "min", "max"))
            )
        con.print(st)
    for note in data["notes"]:
        con.print(f"[cyan]note:[/cyan] {note}", highlight=False)
    for w in data["warnings"]:
        con.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    for e in data["errors"][:10]:
        con.print(f"[red]unreadable:[/red] {e}", highlight=False)
    if data["errors"]:
        con.print(
            f"[red]{len(data['errors'])} samples could not be read; run segscope validate {dataset}[/red]"
        )
    if json_out is not None:
        write_json(json_out, data)
        con.print(f"wrote {json_out}")


def validate(
    dataset: Path = typer.Argument(..., help="Dataset folder or COCO .json file."),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    classes: Path | None = typer.Option(None, "--classes", help=CLASSES_HELP),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings (e.g. missing masks) as errors."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report as JSON to this file."),
    show: int = typer.Option(20, "--show", help="How many problem lines to print."),
) -> None:
    """Check every sample: readable files, image/mask sizes, label values, COCO references, NaN.

    Prints a summary table of problems and exits 1 if there are errors.
    Example: [bold]segscope validate ../shared/data/dsb2018_stage1_test --strict[/bold]
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.formats import validate_dataset
    from segscope.utils.files import write_json

    ds = _load(dataset, format, classes)
    report = validate_dataset(ds, strict=strict)
    con = Console()
    if json_out is not None:
        write_json(json_out, report.to_dict())
    if not report.problems:
        con.print(f"[green]ok[/green]: {report.samples} samples, no problems ({ds.format})")
        return
    table = Table(
        title=f"{report.samples} samples: {len(report.errors)} errors, {len(report.warnings)} warnings"
    )
    table.add_column("severity")
    table.add_column("problem")
    table.add_column("count", justify="right")
    for (sev, kind), n in sorted(report.counts().items()):
        table.add_row(f"[red]{sev}[/red]" if sev == "error" else f"[yellow]{sev}[/yellow]", kind, str(n))
    con.print(table)
    for p in report.problems[:show]:
        con.print(f"{p.severity}: {p.message}", highlight=False, soft_wrap=True)
    if len(report.problems) > show:
        con.print(f"... {len(report.problems) - show} more (--show N, or --json FILE for all)")
    if not report.ok:
        raise typer.Exit(1)


def convert(
    src: Path = typer.Argument(..., help="Dataset to read."),
    dst: Path = typer.Argument(..., help="Folder to write (must be empty unless --overwrite)."),
    to: str = typer.Option(
        ..., "--to", "-t", help="Format to write: mask-folder, palette, rgb, instance-folder, coco, numpy."
    ),
    from_: str | None = typer.Option(None, "--from", help=FORMAT_HELP),
    classes: Path | None = typer.Option(None, "--classes", help=CLASSES_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty folder."),
) -> None:
    """Convert a dataset from any readable format to any writable one.

    Example: [bold]segscope convert ../shared/data/dsb2018_stage1_test dsb_coco --to coco[/bold]
    """
    from rich.console import Console

    from segscope.formats import FORMATS, save_dataset

    FORMATS.get(to)  # fail on a wrong name before reading anything
    ds = _load(src, from_, classes)
    out = save_dataset(ds, dst, format=to, overwrite=overwrite)
    Console().print(f"wrote {len(ds)} samples ({ds.format} -> {FORMATS.get(to).name}) to {out}")


def register(app: typer.Typer) -> None:
    """Add ``info``, ``validate`` and ``convert`` to ``app``."""
    app.command("info")(info)
    app.command("validate")(validate)
    app.command("convert")(convert)
