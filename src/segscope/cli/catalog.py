"""Workspace commands: ``segscope add``, ``ls``, ``rm``, ``app`` and ``segscope catalog add-run/add-eval/runs/rm-run``."""

from __future__ import annotations

from pathlib import Path

import typer

WORKSPACE_HELP = "Workspace file (default $SEGSCOPE_WORKSPACE or ~/.segscope/workspace.db)."
_FORMAT_HELP = (
    "Dataset format (mask-folder, palette, rgb, instance-folder, coco, numpy); detected when omitted."
)


def _catalog(workspace: Path | None):  # noqa: ANN202 - Catalog, imported lazily
    from segscope.catalog import Catalog

    return Catalog(workspace)


def add(
    dataset: Path = typer.Argument(..., help="Dataset folder or COCO .json file."),
    name: str = typer.Option(..., "--name", "-n", help="Name of the dataset in the workspace."),
    format: str | None = typer.Option(None, "--format", "-f", help=_FORMAT_HELP),
    classes: Path | None = typer.Option(
        None, "--classes", help="Classes file (YAML/JSON) overriding the dataset's."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a dataset of that name (its runs and tags go too)."
    ),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Add a dataset to the workspace (paths, splits, sizes, classes present; files stay on disk).

    Example: [bold]segscope add data/shapes --name shapes[/bold]
    """
    from rich.console import Console

    from segscope.formats import load_dataset

    cat = _catalog(workspace)
    ds = load_dataset(dataset, format=format, classes=classes)
    done = cat.add_dataset(ds, name, overwrite=overwrite)
    Console().print(
        f"added [bold]{name}[/bold]: {done.num_samples} samples in {done.seconds:.2f} s -> {cat.path}"
    )


def ls(
    name: str | None = typer.Argument(None, help="A dataset: list its runs instead of the datasets."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """List the workspace's datasets, or one dataset's runs.

    Example: [bold]segscope ls[/bold]  or  [bold]segscope ls shapes[/bold]
    """
    from rich.console import Console
    from rich.table import Table

    cat = _catalog(workspace)
    con = Console()
    if name is None:
        table = Table(title=f"datasets in {cat.path}")
        for col in ("name", "samples", "task", "format", "runs", "root"):
            table.add_column(col, justify="right" if col in ("samples", "runs") else "left", overflow="fold")
        for d in cat.datasets():
            table.add_row(
                d["name"],
                f"{d['num_samples']:,}",
                d["task"],
                str(d["format"]),
                str(d["num_runs"]),
                str(d["root"]),
            )
        con.print(table)
        return
    info = cat.dataset(name)
    con.print(
        f"[bold]{name}[/bold]: {info['num_samples']:,} samples, task={info['task']}, "
        f"classes={list(info['class_map'].names)}, splits={info['splits'] or 'none'}"
    )
    table = Table(title="runs")
    for col in ("key", "type", "samples", "values", "created"):
        table.add_column(col, overflow="fold")
    for r in cat.runs(name):
        names = r["value_names"]
        shown = ", ".join(n for n in names if "/" not in n)[:60]
        table.add_row(r["key"], r["type"], str(r["num_samples"]), shown, r["created"])
    con.print(table)


def rm(
    name: str = typer.Argument(..., help="Dataset to remove."),
    run: str | None = typer.Option(None, "--run", help="Remove only this run of the dataset."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Remove a dataset (or one of its runs) from the workspace; files on disk are not touched.

    Example: [bold]segscope rm shapes[/bold]  or  [bold]segscope rm shapes --run otsu[/bold]
    """
    cat = _catalog(workspace)
    if run:
        cat.remove_run(name, run)
        typer.echo(f"removed run {run} of {name}")
    else:
        cat.remove_dataset(name)
        typer.echo(f"removed {name}")


def app_cmd(
    name: str | None = typer.Argument(None, help="Dataset to open (the list when omitted)."),
    port: int = typer.Option(5151, "--port", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (127.0.0.1: this machine only)."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Open the workspace in the web app (FastAPI + uvicorn) and print its URL.

    Example: [bold]segscope app shapes --port 5151[/bold]
    """
    from urllib.parse import quote

    from segscope.app import serve

    cat = _catalog(workspace)
    if name is not None:
        cat.dataset(name)
    url = f"http://{host}:{port}/" + (f"#/d/{quote(name)}" if name else "")
    typer.echo(f"segscope app: {url}  (workspace {cat.path}; Ctrl+C stops it)")
    serve(cat, dataset=name, host=host, port=port)


catalog_app = typer.Typer(
    help="Attach runs to workspace datasets. Example: segscope catalog add-run shapes runs/otsu --key otsu",
    no_args_is_help=True,
)


@catalog_app.command("add-run")
def add_run(
    name: str = typer.Argument(..., help="Dataset in the workspace."),
    pred_dir: Path = typer.Argument(..., help="Prediction folder of segscope segment / predict."),
    key: str = typer.Option(..., "--key", "-k", help="Run key, unique in the dataset."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run with this key."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Attach a prediction folder to a dataset as a prediction run.

    Example: [bold]segscope catalog add-run shapes runs/otsu --key otsu[/bold]
    """
    run = _catalog(workspace).add_predictions(name, pred_dir, key=key, overwrite=overwrite)
    s = run["summary"]
    typer.echo(
        f"added prediction run {key} to {name}: {s['matched']} masks ({s['unmatched']} without a sample)"
    )


@catalog_app.command("add-eval")
def add_eval(
    name: str = typer.Argument(..., help="Dataset in the workspace."),
    results: Path = typer.Argument(..., help="Results JSON of segscope evaluate --json."),
    key: str = typer.Option(..., "--key", "-k", help="Run key, unique in the dataset."),
    run: str | None = typer.Option(
        None, "--run", help="Key of the prediction run evaluated (enables the per-sample confusion view)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run with this key."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Attach evaluation results (per-sample metrics, confusion matrix) to a dataset.

    Example: [bold]segscope catalog add-eval shapes eval.json --key otsu-eval --run otsu[/bold]
    """
    rec = _catalog(workspace).add_evaluation(name, results, key=key, pred_run=run, overwrite=overwrite)
    typer.echo(f"added evaluation {key} to {name}: {len(rec['value_names'])} per-sample values")


@catalog_app.command("tag")
def tag(
    name: str = typer.Argument(..., help="Dataset in the workspace."),
    sample_ids: list[str] = typer.Argument(..., help="Sample ids."),
    tags: list[str] = typer.Option(..., "--tag", "-t", help="Tag to add (repeatable)."),
    remove: bool = typer.Option(False, "--remove", help="Remove the tags instead."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Tag samples (or remove tags).

    Example: [bold]segscope catalog tag shapes shape_0001 shape_0007 --tag review[/bold]
    """
    cat = _catalog(workspace)
    (cat.remove_tags if remove else cat.add_tags)(name, sample_ids, tags)
    typer.echo(f"{'untagged' if remove else 'tagged'} {len(sample_ids)} samples of {name}")


def register(app: typer.Typer) -> None:
    """Add ``add``, ``ls``, ``rm``, ``app`` and the ``catalog`` group to ``app``."""
    app.command("add")(add)
    app.command("ls")(ls)
    app.command("rm")(rm)
    app.command("app")(app_cmd)
    app.add_typer(catalog_app, name="catalog")
