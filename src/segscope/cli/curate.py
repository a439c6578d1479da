"""``segscope embed``, ``segscope curate duplicates|leakage|uniqueness|label-errors``, ``segscope select``.

Thin: parse, call :mod:`segscope.curation`, print with rich, and (with ``--catalog NAME``)
store the result in the workspace under ``--key``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from segscope.cli.catalog import WORKSPACE_HELP
from segscope.cli.models import TTA_MODE_HELP

CATALOG_HELP = "Store the result in the workspace under this dataset name (see `segscope add`)."

curate_app = typer.Typer(
    help="Find duplicates, leakage between splits, unique samples and likely label errors.",
    no_args_is_help=True,
)


def _store(
    result: Any, catalog: str | None, key: str, workspace: Path | None, root: Path | None = None
) -> None:
    if catalog is None:
        return
    from rich.console import Console

    from segscope.catalog import Catalog
    from segscope.curation.store import store_result

    cat = Catalog(workspace)
    store_result(cat, catalog, key, result, root=root)
    Console().print(f"stored in {cat.path} as dataset '{catalog}', run '{key}'")


def _images(ds: Any) -> list[Any]:
    from segscope.errors import DataError
    from segscope.utils.progress import progress

    out = []
    for s in progress(ds, total=len(ds), desc="read"):
        if s.load_image is None:
            raise DataError(f"sample {s.id}: has no image; curation needs images/")
        out.append(s.image)
    return out


def embed(
    dataset: Path = typer.Argument(..., help="Dataset folder (or COCO .json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npz (ids, vectors, 2-D map)."),
    method: str = typer.Option("descriptor", "--method", "-m", help="descriptor, model or torchvision."),
    model: Path | None = typer.Option(
        None, "--model", help="segscope train run dir or checkpoint (method model)."
    ),
    backbone: str = typer.Option(
        "resnet18", "--backbone", help="torchvision model name (method torchvision)."
    ),
    weights: str | None = typer.Option(
        None, "--weights", help="torchvision weights: DEFAULT, a weights name, a .pth file; none by default."
    ),
    projection: str = typer.Option("pca", "--map", help="2-D map: pca, umap, tsne or none."),
    catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP),
    key: str = typer.Option("embeddings", "--key", help="Run key in the workspace."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Embed every image of a dataset and save the vectors with a 2-D map.

    Example: segscope embed data/shapes --method descriptor --map umap --out emb.npz --catalog shapes
    """
    from rich.console import Console

    from segscope.curation import embed_images, project_2d
    from segscope.curation.store import Embeddings
    from segscope.formats import load_dataset

    ds = load_dataset(dataset)
    vectors = embed_images(
        _images(ds), method=method, model=model, backbone=backbone, weights=weights, total=len(ds)
    )
    xy = None if projection == "none" else project_2d(vectors, method=projection)
    emb = Embeddings(
        ds.ids, vectors, xy=xy, params={"method": method, "map": projection, "dataset": str(dataset)}
    )
    emb.save(out)
    Console().print(
        f"{len(ds)} embeddings of dimension {vectors.shape[1]} ({method}, map {projection}) -> {out}"
    )
    _store(emb, catalog, key, workspace)


def _groups(dataset: Path, method: str, threshold: float | None, embeddings: Path | None, crop: float) -> Any:
    from segscope.curation import find_duplicates
    from segscope.curation.store import Embeddings
    from segscope.formats import load_dataset

    ds = load_dataset(dataset)
    emb = Embeddings.load(embeddings).aligned(ds.ids) if embeddings else None
    images = None if method == "embedding" else _images(ds)
    return find_duplicates(
        images, ids=ds.ids, method=method, threshold=threshold, embeddings=emb,
        splits={s.id: s.split for s in ds}, crop=crop,
    )  # fmt: skip


def _print_groups(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("group", "size", "splits", "max distance", "ids"):
        table.add_column(col, overflow="fold")
    for r in rows:
        dist = "-" if r["max_distance"] is None else f"{r['max_distance']:.3g}"
        table.add_row(
            str(r["group"]), str(r["size"]), ", ".join(r["splits"]) or "-", dist, ", ".join(r["ids"])
        )
    Console().print(table)


_METHOD_HELP = "exact (identical pixels), phash (perceptual hash) or embedding (needs --embeddings)."


@curate_app.command("duplicates")
def duplicates(
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    method: str = typer.Option("phash", "--method", "-m", help=_METHOD_HELP),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Largest distance joined (phash bits, default 10; cosine, default 0.05)."
    ),
    embeddings: Path | None = typer.Option(
        None, "--embeddings", help="Embeddings .npz from `segscope embed`."
    ),
    crop: float = typer.Option(0.1, "--crop", help="phash: also match copies with up to this share cropped."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the groups as JSON."),
    catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP),
    key: str = typer.Option("duplicates", "--key", help="Run key in the workspace."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Groups of exact or near-duplicate images (tagged 'duplicate', and 'leak' across splits).

    Example: segscope curate duplicates data/shapes --method phash --catalog shapes
    """
    from segscope.utils.files import write_json

    res = _groups(dataset, method, threshold, embeddings, crop)
    _print_groups(res.rows(), f"{len(res)} duplicate groups ({res.method}, threshold {res.threshold:g})")
    if out:
        write_json(out, res.to_dict())
    _store(res, catalog, key, workspace)


@curate_app.command("leakage")
def leakage(
    dataset: Path = typer.Argument(..., help="Dataset folder with splits (splits/*.txt)."),
    method: str = typer.Option("phash", "--method", "-m", help=_METHOD_HELP),
    threshold: float | None = typer.Option(None, "--threshold", help="As for `curate duplicates`."),
    embeddings: Path | None = typer.Option(
        None, "--embeddings", help="Embeddings .npz from `segscope embed`."
    ),
    crop: float = typer.Option(0.1, "--crop", help="phash: also match copies with up to this share cropped."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the leaking groups as JSON."),
    catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP),
    key: str = typer.Option("leakage", "--key", help="Run key in the workspace."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Near-duplicate groups whose members lie in different splits (train/val/test leakage).

    Example: segscope curate leakage data/shapes --catalog shapes
    """
    from segscope.curation import find_leakage
    from segscope.utils.files import write_json

    res = _groups(dataset, method, threshold, embeddings, crop)
    rows = find_leakage(res)
    _print_groups(rows, f"{len(rows)} groups leak across splits ({res.method})")
    if out:
        write_json(out, rows)
    _store(res, catalog, key, workspace)


@curate_app.command("uniqueness")
def uniqueness_cmd(
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    embeddings: Path = typer.Option(..., "--embeddings", help="Embeddings .npz from `segscope embed`."),
    k: int = typer.Option(5, "--k", help="Neighbours averaged."),
    pred: Path | None = typer.Option(
        None, "--pred", help="Prediction folder with probs/ for hardness (loss with gt, else entropy)."
    ),
    top: int = typer.Option(15, "--top", help="Rows shown."),
    catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP),
    key: str = typer.Option("uniqueness", "--key", help="Run key in the workspace."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Uniqueness (distance to the nearest neighbours) and hardness (model loss or entropy).

    Example: segscope curate uniqueness data/shapes --embeddings emb.npz --pred runs/unet-pred
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.curation import hardness, uniqueness
    from segscope.curation.store import Embeddings
    from segscope.formats import load_dataset

    ds = load_dataset(dataset)
    u = uniqueness(Embeddings.load(embeddings).aligned(ds.ids), k=k)
    values: dict[str, dict[str, float]] = {
        i: {"uniqueness": float(x)} for i, x in zip(ds.ids, u, strict=True)
    }
    if pred is not None:
        preds = load_dataset(pred)
        for s in ds:
            if s.id in preds and preds[s.id].load_probs is not None:
                values[s.id]["hardness"] = hardness(preds[s.id].probs, s.mask if s.has_gt else None)
    table = Table(title=f"most unique samples (k={k})")
    for col in ("id", "split", "uniqueness", "hardness"):
        table.add_column(col)
    for sid in sorted(values, key=lambda i: -values[i]["uniqueness"])[:top]:
        h = values[sid].get("hardness")
        table.add_row(
            sid, ds[sid].split or "-", f"{values[sid]['uniqueness']:.4f}", "-" if h is None else f"{h:.4f}"
        )
    Console().print(table)
    _store({"kind": "uniqueness", "values": values, "config": {"k": k}}, catalog, key, workspace)


@curate_app.command("label-errors")
def label_errors(
    dataset: Path = typer.Argument(..., help="Dataset folder with masks (the labels to check)."),
    pred: Path = typer.Option(
        ..., "--pred", help="Prediction folder with probs/<id>.npy (segscope predict)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for label_errors.json and heatmaps/."),
    background: int = typer.Option(0, "--background", help="Class meaning 'no object'; -1 if none."),
    min_area: int = typer.Option(16, "--min-area", help="Smallest finding region in pixels."),
    top: int = typer.Option(20, "--top", help="Rows shown."),
    catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP),
    key: str = typer.Option("label-errors", "--key", help="Run key in the workspace."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Rank images and regions by how likely their labels are wrong (confident learning).

    Example: segscope curate label-errors data/shapes --pred runs/unet-pred --out runs/label-errors
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.curation import find_label_errors
    from segscope.errors import DataError
    from segscope.formats import load_dataset
    from segscope.utils.files import write_json

    ds = load_dataset(dataset)
    preds = load_dataset(pred)
    ids = [s.id for s in ds if s.has_gt and s.id in preds and preds[s.id].load_probs is not None]
    if not ids:
        raise DataError(
            f"{pred}: no probs/<id>.npy for any sample of {dataset} with a mask; predict with probs"
        )

    def pairs():
        for i in ids:
            yield i, preds[i].probs, ds[i].mask

    res = find_label_errors(
        pairs, num_classes=ds.class_map.num_classes, background=None if background < 0 else background,
        min_area=min_area, ignore_index=ds.class_map.ignore_index,
        heatmap_dir=None if out is None else out / "heatmaps", images={i: ds[i].load_image for i in ids},
    )  # fmt: skip
    names = ds.class_map.names
    table = Table(title=f"likely label errors: {len(res.findings)} regions in {len(ids)} images")
    for col in ("rank", "id", "kind", "given -> suggested", "area", "score", "bbox"):
        table.add_column(col)
    for rank, f in enumerate(res.findings[:top], start=1):
        table.add_row(
            str(rank), f.sample_id, f.kind, f"{names[f.given]} -> {names[f.suggested]}", str(f.area),
            f"{f.score:.3f}", str(f.bbox),
        )  # fmt: skip
    Console().print(table)
    if out is not None:
        write_json(out / "label_errors.json", res.to_dict())
        Console().print(f"wrote {out / 'label_errors.json'} and {len(ids)} heatmaps in {out / 'heatmaps'}")
    _store(res, catalog, key, workspace, root=out)


def select_cmd(
    pool: Path = typer.Argument(..., help="Dataset folder of the unlabelled pool (images/)."),
    pred: Path | None = typer.Option(None, "--pred", help="Prediction folder with probs/ of the pool."),
    model: Path | None = typer.Option(
        None, "--model", help="Run dir, checkpoint or .onnx: predict the pool now (instead of --pred)."
    ),
    strategy: str = typer.Option(
        "entropy-diversity", "--strategy", "-s", help="See `segscope curate strategies` (+ reads as -)."
    ),
    budget: int = typer.Option(..., "--budget", "-n", help="Images to pick."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder for the batch (images, masks, annotations.json)."
    ),
    embeddings: Path | None = typer.Option(
        None,
        "--embeddings",
        help="Embeddings .npz (diversity strategies); with --model, default: the model's encoder.",
    ),
    backend: str | None = typer.Option(None, "--backend", help="--model: torch or onnx (default: by file)."),
    tile: int | None = typer.Option(
        None, "--tile", help="--model: sliding-window tile size (default: whole image)."
    ),
    overlap: int = typer.Option(64, "--overlap", help="--model: tile overlap in pixels."),
    batch_size: int = typer.Option(4, "--batch-size", help="--model: tiles per forward pass."),
    tta: bool = typer.Option(False, "--tta", help="--model: average with flipped inputs (see --tta-mode)."),
    tta_mode: str | None = typer.Option(None, "--tta-mode", help="--model: " + TTA_MODE_HELP),
    threads: int | None = typer.Option(None, "--threads", help="--model: CPU threads."),
    reduce: str = typer.Option("topk", "--reduce", help="Per-image roll-up: mean or topk."),
    top_k: float = typer.Option(0.1, "--top-k", help="Share of most uncertain pixels for --reduce topk."),
    labelled: Path | None = typer.Option(
        None, "--labelled", help="File of already labelled ids, one per line."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out."),
    catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP),
    key: str = typer.Option("selection", "--key", help="Run key in the workspace."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Pick the next images to annotate and export them with predicted masks as pre-annotations.

    Example: segscope select data/pool --model runs/unet --strategy entropy+diversity --budget 20 --out batch1
    From saved predictions: segscope select data/pool --pred runs/pool-pred --embeddings emb.npz --budget 20 --out batch1

    With --model the pool is predicted here (tiled with --tile), and diversity strategies embed
    it with the model's encoder (the descriptor for an .onnx file) unless --embeddings is given.
    """
    from rich.console import Console

    from segscope.core.probs import probs_to_mask
    from segscope.curation import acquisition_score, export_batch, select
    from segscope.curation.pool import canonical_strategy, select_with_model, strategy_measure
    from segscope.curation.store import Embeddings
    from segscope.errors import ParameterError
    from segscope.formats import load_dataset

    strategy = canonical_strategy(strategy)
    if pred is not None and model is not None:
        raise ParameterError(
            "give exactly one of --pred (a prediction folder) or --model (a model), not both"
        )
    ds = load_dataset(pool)
    done = set(labelled.read_text().split()) if labelled else set()
    if model is not None:
        emb_rows = None if embeddings is None else Embeddings.load(embeddings).aligned(ds.ids)
        sel, info = select_with_model(
            ds, model, budget=budget, out=out, strategy=strategy, labelled=sorted(done), embeddings=emb_rows,
            backend=backend, reduce=reduce, top_k=top_k, tile=tile, overlap=overlap, batch_size=batch_size,
            tta=tta_mode or tta, threads=threads, seed=seed, overwrite=overwrite,
        )  # fmt: skip
        Console().print(
            f"selected {len(sel.ids)} of {len(ds.ids) - len(done & set(ds.ids))} ({sel.strategy}, predicted "
            f"by {model}, embedding: {sel.params.get('embedding', 'none')}); exported images, pre-annotation "
            f"masks and {info['annotations']} COCO annotations -> {out}"
        )
        Console().print(", ".join(sel.ids), highlight=False)
        _store(sel, catalog, key, workspace, root=out)
        return
    ids = [i for i in ds.ids if i not in done]
    preds = load_dataset(pred) if pred else None
    measure = strategy_measure(strategy)
    scores = None
    if preds is not None:
        scores = {
            i: acquisition_score(preds[i].probs, measure=measure, reduce=reduce, top_k=top_k)
            for i in ids
            if i in preds
        }
        ids = [i for i in ids if i in scores]
    elif strategy not in ("random", "diversity"):
        raise ParameterError(
            f"strategy '{strategy}' needs --pred (a prediction folder with probs/ of the pool) or "
            "--model (a run dir, checkpoint or .onnx); give exactly one"
        )
    emb = None
    if embeddings is not None:
        emb = Embeddings.load(embeddings)
    sel = select(
        ids, budget=budget, strategy=strategy, scores=scores, seed=seed,
        embeddings=None if emb is None else emb.aligned(ds.ids), all_ids=ds.ids, labelled=sorted(done & set(ds.ids)),
    )  # fmt: skip
    sel.params.update({"measure": measure, "reduce": reduce, "top_k": top_k})
    if preds is not None:
        masks = {i: preds[i].load_mask or (lambda i=i: probs_to_mask(preds[i].probs)) for i in sel.ids}
        info = export_batch(
            sel, images={i: ds[i].load_image for i in sel.ids}, masks=masks, class_map=preds.class_map, out=out,
            overwrite=overwrite,
        )  # fmt: skip
        Console().print(
            f"selected {len(sel.ids)} of {len(ids)} ({sel.strategy}); exported images, pre-annotation masks and "
            f"{info['annotations']} COCO annotations -> {out}"
        )
    else:
        from segscope.utils.files import write_json

        write_json(out / "selection.json", sel.to_dict())
        Console().print(f"selected {len(sel.ids)} of {len(ids)} ({sel.strategy}) -> {out / 'selection.json'}")
    Console().print(", ".join(sel.ids), highlight=False)
    _store(sel, catalog, key, workspace, root=out)


@curate_app.command("strategies")
def strategies() -> None:
    """List the active-learning strategies, embedders and duplicate methods.

    Example: segscope curate strategies
    """
    from rich.console import Console
    from rich.table import Table

    from segscope.curation import DUPLICATE_METHODS, EMBEDDERS, STRATEGIES

    table = Table(title="curation names")
    for col in ("kind", "name", "what"):
        table.add_column(col)
    for kind, reg in (("strategy", STRATEGIES), ("embedder", EMBEDDERS), ("duplicates", DUPLICATE_METHODS)):
        for name, desc in reg.items():
            table.add_row(kind, name, desc)
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``embed``, the ``curate`` group and ``select`` to ``app``."""
    app.command("embed")(embed)
    app.add_typer(curate_app, name="curate")
    app.command("select")(select_cmd)
