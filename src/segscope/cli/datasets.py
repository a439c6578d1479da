"""Commands that make datasets: ``segscope datasets make-shapes``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def make_shapes_command(
    out: Annotated[Path, typer.Argument(help="Folder to write (created; must be empty unless --overwrite).")],
    n: Annotated[int, typer.Option("--n", help="Number of samples.")] = 200,
    size: Annotated[int, typer.Option(help="Image height and width in pixels (>= 32).")] = 256,
    seed: Annotated[int, typer.Option(help="Seed; the same seed writes byte-identical files.")] = 0,
    channels: Annotated[int, typer.Option(help="1 (grey), 3 (RGB) or N bands (float32 .npy).")] = 3,
    dtype: Annotated[
        str | None,
        typer.Option(help="uint8, uint16 or float32 (default: uint8 for 1 or 3 channels, else float32)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty folder.")] = False,
) -> None:
    """Write the synthetic shapes dataset: ellipses, rectangles and triangles with exact masks.

    Writes images/, masks/ (class ids), instances/ (instance ids), classes.yaml and splits/ (70/15/15).

    Example: [bold]segscope datasets make-shapes data/shapes --n 200 --size 256 --seed 0[/bold]
    """
    from rich.console import Console

    from segscope.datasets.shapes import make_shapes, summarize_shapes

    root = make_shapes(out, n=n, size=size, seed=seed, channels=channels, dtype=dtype, overwrite=overwrite)
    info = summarize_shapes(root)
    splits = ", ".join(f"{name} {count}" for name, count in info["splits"].items())
    Console(highlight=False).print(
        f"shapes: {info['samples']} samples, {info['instances']} instances ({splits}) -> {info['path']}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``datasets`` command group to ``app``."""
    group = typer.Typer(
        help="Make datasets. Example: segscope datasets make-shapes data/shapes --n 200",
        no_args_is_help=True,
    )
    group.command("make-shapes")(make_shapes_command)
    app.add_typer(group, name="datasets")
