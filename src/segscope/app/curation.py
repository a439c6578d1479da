"""Curation routes of the web app: embeddings map, label-error ranking, label-error heatmaps.

Kept in its own module and added by :func:`add_curation_routes`, so the main server stays
as it is. The data comes from curation runs stored with :func:`segscope.curation.store.store_result`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segscope.errors import DataError

__all__ = ["add_curation_routes"]


def add_curation_routes(app: Any, cat: Any) -> None:
    """Add ``/api/datasets/{name}/curation/...`` routes over catalog ``cat`` to FastAPI ``app``."""
    from fastapi.responses import FileResponse

    def curation_run(name: str, key: str, kind: str) -> dict[str, Any]:
        run = cat.run(name, key)
        if run["type"] != "curation" or run["config"].get("kind") != kind:
            raise DataError(f"run '{key}' of dataset '{name}' is not a {kind} run; store one with --catalog")
        return run

    @app.get("/api/datasets/{name}/curation/{key}/embedding")
    def embedding_map(name: str, key: str, value: str | None = None) -> dict[str, Any]:
        """Points of the 2-D map for the scatter plot and box selection.

        ``ids``, ``x``, ``y``, and per point what the plot can be coloured by: ``split``,
        ``classes`` (present in the ground truth), ``tags`` and, with ``?value=KEY:NAME``,
        that value (``None`` where the sample has none).
        """
        run = curation_run(name, key, "embeddings")
        values = cat.values(name, key)
        ids = [i for i, v in values.items() if "x" in v and "y" in v]
        info: dict[str, dict[str, Any]] = {}
        offset, total = 0, 1
        while offset < total:  # the catalog's pages hold at most 1000 rows
            page = cat.query(name, offset=offset, limit=1000, with_values=[value] if value else ())
            info.update({r["sample_id"]: r for r in page.rows})
            offset, total = offset + max(1, len(page.rows)), page.total
        rows = [info.get(i, {}) for i in ids]
        return {
            "key": key,
            "config": run["config"],
            "ids": ids,
            "x": [values[i]["x"] for i in ids],
            "y": [values[i]["y"] for i in ids],
            "split": [r.get("split") for r in rows],
            "classes": [r.get("classes", []) for r in rows],
            "tags": [r.get("tags", []) for r in rows],
            "value": [(r.get("values") or {}).get(value) for r in rows] if value else None,
        }

    @app.get("/api/datasets/{name}/curation/{key}/label-errors")
    def label_error_ranking(name: str, key: str, limit: int = 100) -> dict[str, Any]:
        """Images ranked by label-error score, worst first, each with its findings."""
        run = curation_run(name, key, "label-errors")
        values = cat.values(name, key)
        samples = cat.run_samples(name, key)
        order = sorted(values, key=lambda i: (values[i].get("rank", float("inf")), i))[:limit]
        rows = [
            {
                "sample_id": i,
                **values[i],
                "findings": (samples.get(i, {}).get("data") or {}).get("findings", []),
            }
            for i in order
        ]
        return {"key": key, "thresholds": run["config"].get("thresholds"), "rows": rows}

    @app.get("/api/datasets/{name}/samples/{sample_id}/label-heatmap.png")
    def label_heatmap(name: str, sample_id: str, run: str) -> FileResponse:
        """The heatmap PNG that ``segscope curate label-errors --out`` wrote for this sample."""
        rec = curation_run(name, run, "label-errors")
        if not rec.get("root"):
            raise DataError(
                f"run '{run}' has no folder; run 'segscope curate label-errors --out DIR --catalog'"
            )
        path = Path(rec["root"]) / "heatmaps" / f"{sample_id}.png"
        if sample_id not in cat.values(name, run) or not path.is_file():
            raise DataError(f"no label-error heatmap for sample '{sample_id}' in run '{run}'")
        return FileResponse(path, media_type="image/png")
