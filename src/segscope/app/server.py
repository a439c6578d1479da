"""The FastAPI app: JSON routes over :class:`segscope.catalog.Catalog` and PNG routes over
:mod:`segscope.app.render`; the static page in ``static/`` is the browser side.

Routes stay thin: each parses its query, calls the catalog or a render function and returns.
Only files the catalog references are ever read, and only by sample id and run key; the one
route that takes a file path (``/files/``) answers 404 to anything the catalog does not hold
inside the dataset root (see :meth:`Catalog.resolve_file`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segscope.app import render
from segscope.catalog import Catalog
from segscope.catalog._catalog import load_gt_mask, load_instance_ids
from segscope.errors import DataError, ParameterError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app", "STATIC"]

STATIC = Path(__file__).with_name("static")
_PNG_HEADERS = {"Cache-Control": "private, max-age=60"}


def _mtime(path: str | None) -> int:
    try:
        return os.stat(path).st_mtime_ns if path else 0
    except OSError:
        return -1


def _ints(text: str | None, what: str) -> tuple[int, ...] | None:
    if text is None or text == "":
        return None
    try:
        return tuple(int(t) for t in text.split(","))
    except ValueError:
        raise ParameterError(f"{what} {text!r} must be comma-separated integers, e.g. 0,1,2") from None


def _ranges(items: list[str]) -> dict[str, tuple[float | None, float | None]]:
    """``KEY:NAME:LOW:HIGH`` (either bound may be empty) -> the catalog's ``ranges``."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for item in items:
        parts = item.rsplit(":", 2)
        if len(parts) != 3 or ":" not in parts[0]:
            raise ParameterError(f"range {item!r} must be KEY:NAME:LOW:HIGH, e.g. otsu-eval:iou:0:0.5")
        try:
            lo = float(parts[1]) if parts[1] != "" else None
            hi = float(parts[2]) if parts[2] != "" else None
        except ValueError:
            raise ParameterError(f"range {item!r}: bounds must be numbers") from None
        out[parts[0]] = (lo, hi)
    return out


def create_app(
    workspace: Catalog | str | os.PathLike[str] | None = None, *, dataset: str | None = None
) -> FastAPI:
    """Build the web app over a workspace.

    Parameters
    ----------
    workspace : Catalog or path, optional
        The catalog, or its file (:func:`segscope.catalog.default_workspace` when omitted).
    dataset : str, optional
        Dataset the page opens on (the only one, or the list, when omitted).

    Returns
    -------
    fastapi.FastAPI
        Serve it with uvicorn (``segscope app``) or test it with ``fastapi.testclient.TestClient``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app(pathlib.Path(tempfile.mkdtemp()) / "ws.db"))
    >>> client.get("/api/datasets").json()
    {'datasets': [], 'default': None}
    """
    from fastapi import Body, FastAPI, Query, Request
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    import segscope
    from segscope.formats.files import read_image, read_mask

    cat = workspace if isinstance(workspace, Catalog) else Catalog(workspace)
    if dataset is not None:
        cat.dataset(dataset)  # fail now, with the valid names, rather than in the browser
    cache = render.LRUCache(2048)
    app = FastAPI(title="segscope", version=segscope.__version__, docs_url="/api/docs", redoc_url=None)
    app.state.catalog = cat
    app.state.cache = cache

    @app.exception_handler(DataError)
    def _not_found(request: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ParameterError)
    def _bad_request(request: Request, exc: ParameterError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def png(data: bytes) -> Response:
        return Response(data, media_type="image/png", headers=_PNG_HEADERS)

    # ------------------------------------------------------------------ page
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # ------------------------------------------------------------------ datasets
    @app.get("/api/datasets")
    def datasets() -> dict[str, Any]:
        rows = cat.datasets()
        default = dataset or (rows[0]["name"] if len(rows) == 1 else None)
        return {"datasets": rows, "default": default}

    @app.get("/api/datasets/{name}")
    def dataset_info(name: str) -> dict[str, Any]:
        from segscope.evaluation.report import ERROR_COLORS

        info = cat.dataset(name)
        cm = info.pop("class_map")
        runs = cat.runs(name)
        for run in runs:
            s = run["summary"]
            run["summary"] = {k: s.get(k) for k in ("metrics", "pred_run", "num_masks", "matched") if k in s}
        return {
            **info,
            "classes": [
                {"id": i, "name": n, "color": list(cm.colorize(np.array([[i]]))[0, 0].tolist())}
                for i, n in enumerate(cm.names)
            ],
            "ignore_index": cm.ignore_index,
            "tags": cat.tags(name),
            "runs": runs,
            "value_names": cat.value_names(name),
            "colormaps": list(render.COLORMAPS),
            "error_colors": {k: list(v) for k, v in ERROR_COLORS.items()},
            "confusion_color": list(render.CONFUSION_COLOR),
        }

    @app.get("/api/datasets/{name}/samples")
    def samples(
        name: str,
        offset: int = 0,
        limit: int = Query(60, ge=1, le=500),
        split: str | None = None,
        classes: str | None = None,
        tags: str | None = None,
        range: list[str] = Query(default=[]),  # noqa: A002 - the public query name
        sort: str | None = None,
        desc: bool = False,
        values: str | None = None,
    ) -> dict[str, Any]:
        page = cat.query(
            name,
            split=split or None,
            classes=[c for c in (classes or "").split(",") if c],
            tags=[t for t in (tags or "").split(",") if t],
            ranges=_ranges(range),
            sort=sort or None,
            descending=desc,
            offset=offset,
            limit=limit,
            with_values=[v for v in (values or "").split(",") if v],
        )
        return {"rows": page.rows, "total": page.total, "offset": page.offset, "limit": page.limit}

    @app.get("/api/datasets/{name}/samples/{sample_id}")
    def sample(name: str, sample_id: str) -> dict[str, Any]:
        rec = cat.sample(name, sample_id)
        for key in ("image_path", "mask_path", "instances"):
            rec.pop(key, None)  # the browser gets pictures through the PNG routes, not paths
        for run in rec["runs"].values():
            run.pop("path", None)
            if isinstance(run.get("data"), dict):
                run["data"] = {k: v for k, v in run["data"].items() if k not in ("probs", "overlay")}
        return rec

    @app.post("/api/datasets/{name}/samples/{sample_id}/tags")
    def add_tags(name: str, sample_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        tags = body.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ParameterError('body must be {"tags": ["tag", ...]}')
        cat.add_tags(name, [sample_id], tags)
        return {"tags": cat.sample(name, sample_id)["tags"]}

    @app.delete("/api/datasets/{name}/samples/{sample_id}/tags/{tag}")
    def remove_tag(name: str, sample_id: str, tag: str) -> dict[str, Any]:
        cat.remove_tags(name, [sample_id], [tag])
        return {"tags": cat.sample(name, sample_id)["tags"]}

    @app.put("/api/datasets/{name}/samples/{sample_id}/note")
    def set_note(name: str, sample_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        note = body.get("note")
        if not isinstance(note, str):
            raise ParameterError('body must be {"note": "text"}')
        cat.set_note(name, sample_id, note)
        return {"note": note}

    # ------------------------------------------------------------------ pictures
    def _record(name: str, sample_id: str) -> dict[str, Any]:
        rec = cat.sample(name, sample_id)
        rec["_mtime"] = (_mtime(rec["image_path"]), _mtime(rec["mask_path"]))
        return rec

    def _pred_path(rec: dict[str, Any], run: str | None, name: str) -> str:
        if not run:
            raise ParameterError("pass ?run=KEY, the prediction run to draw")
        info = rec["runs"].get(run)
        if info is None or not info.get("path"):
            cat.run(name, run)  # raises when the run does not exist at all
            raise DataError(f"run '{run}' has no prediction for sample '{rec['sample_id']}'")
        return str(info["path"])

    def _image(rec: dict[str, Any]) -> np.ndarray:
        if rec["image_path"]:
            return read_image(rec["image_path"])
        h, w = rec["height"] or 1, rec["width"] or 1
        return np.zeros((h, w, 3), np.uint8)  # a mask-only dataset: draw on black

    def _gt_layer(rec: dict[str, Any], cm: Any, max_side: int | None) -> np.ndarray:
        if not rec["gt_kind"]:
            raise DataError(f"sample '{rec['sample_id']}' has no ground truth")
        ids = load_instance_ids(rec)
        return render.mask_layer(load_gt_mask(rec, cm), cm, instance_ids=ids, max_side=max_side)

    @app.get("/api/datasets/{name}/samples/{sample_id}/image.png")
    def image_png(
        name: str,
        sample_id: str,
        channels: str | None = None,
        cmap: str | None = None,
        max: int | None = Query(None, ge=16, le=16384),  # noqa: A002 - the public query name
    ) -> Response:
        rec = _record(name, sample_id)
        ch = _ints(channels, "channels")
        key = ("image", str(cat.path), name, sample_id, rec["_mtime"], ch, cmap, max)
        return png(
            cache.get_or_make(
                key,
                lambda: render.png_bytes(
                    render.display_image(_image(rec), channels=ch, cmap=cmap or None, max_side=max)
                ),
            )
        )

    @app.get("/api/datasets/{name}/samples/{sample_id}/thumb.png")
    def thumb_png(
        name: str,
        sample_id: str,
        layer: str = "gt",
        size: int = Query(192, ge=16, le=1024),
        channels: str | None = None,
        cmap: str | None = None,
    ) -> Response:
        rec = _record(name, sample_id)
        ch = _ints(channels, "channels")
        key = ("thumb", str(cat.path), name, sample_id, rec["_mtime"], layer, size, ch, cmap)

        def make() -> bytes:
            cm = cat.class_map(name)
            base = render.display_image(_image(rec), channels=ch, cmap=cmap or None, max_side=4 * size)
            lay = None
            if layer == "gt" and rec["gt_kind"]:
                lay = _gt_layer(rec, cm, 4 * size)
            elif layer not in ("gt", "none", ""):
                lay = render.mask_layer(read_mask(_pred_path(rec, layer, name)), cm, max_side=4 * size)
            return render.png_bytes(render.thumbnail(base, lay, size=size))

        return png(cache.get_or_make(key, make))

    @app.get("/api/datasets/{name}/samples/{sample_id}/layers/{kind}.png")
    def layer_png(
        name: str,
        sample_id: str,
        kind: str,
        run: str | None = None,
        a: int | None = None,
        b: int | None = None,
        max: int = Query(1024, ge=16, le=16384),  # noqa: A002 - the public query name
    ) -> Response:
        if kind not in ("gt", "pred", "error", "confusion"):
            raise DataError(f"no layer '{kind}'; layers: gt, pred, error, confusion")
        rec = _record(name, sample_id)
        key = ("layer", str(cat.path), name, sample_id, rec["_mtime"], kind, run, a, b, max)

        def make() -> bytes:
            cm = cat.class_map(name)
            if kind == "gt":
                return render.png_bytes(_gt_layer(rec, cm, max))
            pred = read_mask(_pred_path(rec, run, name))
            if kind == "pred":
                return render.png_bytes(render.mask_layer(pred, cm, max_side=max))
            gt = load_gt_mask(rec, cm)
            if gt.shape != pred.shape:
                raise ParameterError(
                    f"sample '{sample_id}': ground truth is {gt.shape} but run '{run}' predicted {pred.shape}"
                )
            if kind == "error":
                return render.png_bytes(
                    render.error_layer(gt, pred, ignore_index=cm.ignore_index, max_side=max)
                )
            return render.png_bytes(render.confusion_layer(gt, pred, cm, a=a, b=b, max_side=max))

        return png(cache.get_or_make(key, make))

    @app.get("/api/datasets/{name}/files/{path:path}")
    def raw_file(name: str, path: str) -> FileResponse:
        found = cat.resolve_file(name, path)
        if found is None:
            raise DataError(f"no file '{path}' in dataset '{name}'")
        return FileResponse(found)

    # ------------------------------------------------------------------ evaluations
    @app.get("/api/datasets/{name}/evaluations/{key}")
    def evaluation(name: str, key: str) -> dict[str, Any]:
        run = cat.run(name, key)
        if run["type"] != "evaluation":
            raise DataError(f"run '{key}' is a {run['type']} run, not an evaluation")
        s = run["summary"]
        return {
            "key": key,
            "created": run["created"],
            "config": run["config"],
            "task": s.get("task"),
            "classes": s.get("classes", []),
            "colors": s.get("colors", []),
            "metrics": s.get("metrics", {}),
            "per_class": s.get("per_class", []),
            "confusion_matrix": s.get("confusion_matrix", []),
            "pred_run": s.get("pred_run"),
            "has_confusions": bool(s.get("pred_run")),
            "value_names": run["value_names"],
            "counts": s.get("counts", {}),
            "instance": (s.get("instance") or {}).get("stats"),
        }

    @app.get("/api/datasets/{name}/evaluations/{key}/confusion")
    def confusion(
        name: str, key: str, gt: int, pred: int, limit: int = Query(100, ge=1, le=1000)
    ) -> dict[str, Any]:
        return {"gt": gt, "pred": pred, "samples": cat.confusion_samples(name, key, gt, pred, limit=limit)}

    @app.get("/api/datasets/{name}/compare")
    def compare(
        name: str, a: str, b: str, metric: str = "iou", limit: int = Query(100, ge=1, le=1000)
    ) -> dict[str, Any]:
        return {"a": a, "b": b, "metric": metric, "rows": cat.compare(name, a, b, metric=metric, limit=limit)}

    # ------------------------------------------------------------------ curation
    from segscope.app.curation import add_curation_routes

    add_curation_routes(app, cat)
    return app


def serve(
    workspace: Catalog | str | os.PathLike[str] | None = None,
    *,
    dataset: str | None = None,
    host: str = "127.0.0.1",
    port: int = 5151,
) -> None:
    """Run the app with uvicorn until interrupted (what ``segscope app`` does)."""
    import uvicorn

    uvicorn.run(create_app(workspace, dataset=dataset), host=host, port=port, log_level="warning")
