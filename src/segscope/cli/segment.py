"""``segscope segment`` (classical methods on image files) and ``segscope methods list|show``."""

from __future__ import annotations

from pathlib import Path

import typer

from segscope.cli.catalog import WORKSPACE_HELP


def _params_text(spec: object) -> str:
    return ", ".join(f"{p.name}={p.default}" for p in spec.params)  # type: ignore[attr-defined]


def segment(
    images: list[Path] = typer.Argument(
        ..., help="Image files (.png .jpg .tif .npy ...) or folders (walked)."
    ),
    method: str = typer.Option(..., "--method", "-m", help="Method name; see `segscope methods list`."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Method parameter as key=value; repeat for several."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (masks/, probs/, overlays/, ...)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run's files in --out."),
    classes: Path | None = typer.Option(
        None, "--classes", help="Classes file (YAML/JSON) naming the output classes."
    ),
    probs: bool = typer.Option(
        True, "--probs/--no-probs", help="Write probs/<id>.npy where the method has them."
    ),
    probs_dtype: str = typer.Option("float32", "--probs-dtype", help="float32 or float16."),
    overlays: bool = typer.Option(True, "--overlays/--no-overlays", help="Write overlays/<id>.png."),
    into: str | None = typer.Option(
        None,
        "--into",
        help="Attach the output to this workspace dataset as a prediction run (see segscope add).",
    ),
    run_key: str | None = typer.Option(
        None, "--key", help="Run key with --into (default: the --out folder name)."
    ),
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        "-w",
        help=WORKSPACE_HELP,
    ),
) -> None:
    """Segment images with a classical method and write a prediction folder.

    Example: segscope segment data/images --method otsu --param polarity=dark --out runs/otsu
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.classical import get_method, segment_files
    from segscope.core.classes import ClassMap

    spec = get_method(method)
    params = spec.parse(param)
    class_map = ClassMap.load(classes) if classes else None
    summary = segment_files(
        images, spec.name, out, params=params, class_map=class_map, overwrite=overwrite,
        save_probs=probs, probs_dtype=probs_dtype, overlays=overlays,
    )  # fmt: skip
    con = Console()
    table = Table(title=f"segscope segment --method {spec.name}", show_header=False)
    table.add_row("output", str(summary.out))
    table.add_row("images", str(summary.images))
    per = summary.seconds / max(summary.images, 1)
    table.add_row("time", f"{summary.seconds:.2f} s ({per * 1000:.0f} ms per image)")
    table.add_row("instances", "-" if summary.instances is None else f"{summary.instances:,}")
    table.add_row("warnings", str(len(summary.warnings)))
    con.print(table)
    for w in summary.warnings[:10]:
        con.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    if len(summary.warnings) > 10:
        con.print(
            f"... and {len(summary.warnings) - 10} more warnings (listed in {summary.out / 'run.json'})"
        )
    if into:
        from segscope.catalog import Catalog

        cat = Catalog(workspace)
        run = cat.add_predictions(into, summary.out, key=run_key or summary.out.name, overwrite=overwrite)
        con.print(f"attached as run '{run['key']}' of workspace dataset '{into}' ({cat.path})")


methods_app = typer.Typer(help="List and describe the classical segmentation methods.", no_args_is_help=True)


@methods_app.command("list")
def methods_list(
    pattern: str | None = typer.Argument(None, help="Shell wildcard on the name, e.g. '*otsu'."),
) -> None:
    """Table of the classical methods: name, family, outputs and parameters with defaults.

    Example: segscope methods list '*otsu'
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.classical import METHODS

    table = Table(title="classical methods (segscope segment --method NAME)")
    for col in ("name", "family", "outputs", "parameters (defaults)"):
        table.add_column(col, overflow="fold")
    for name in METHODS.list(pattern):
        spec = METHODS.get(name)
        table.add_row(name, spec.family, ", ".join(spec.outputs), _params_text(spec))
    Console().print(table)


@methods_app.command("show")
def methods_show(name: str = typer.Argument(..., help="Method name.")) -> None:
    """Describe one method: what it does, what it returns, and each parameter.

    Example: segscope methods show watershed
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.classical import get_method

    spec = get_method(name)
    con = Console()
    con.print(
        f"[bold]{spec.name}[/bold] ({spec.family}; outputs: {', '.join(spec.outputs)}; mask: {spec.kind})"
    )
    con.print(spec.doc.split("\n\n    Examples")[0].split("\nExamples")[0], highlight=False)
    table = Table(title="parameters (--param key=value)")
    for col in ("name", "default", "allowed", "help"):
        table.add_column(col, overflow="fold")
    for p in spec.params:
        table.add_row(p.name, str(p.default), p.describe_type(), p.help)
    con.print(table)


def register(app: typer.Typer) -> None:
    """Add ``segment`` and the ``methods`` group to ``app``."""
    app.command("segment")(segment)
    app.add_typer(methods_app, name="methods")
