"""Curation results into the catalog: one ``curation`` run per result, under a key.

Per-sample numbers become catalog *values* (sortable and filterable in the app as
``KEY:NAME``), per-sample details become run *data*, and duplicates/leaks become *tags*.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from segscope.curation.active_learning import Selection
from segscope.curation.duplicates import DuplicateGroups
from segscope.curation.label_errors import LabelErrorResults
from segscope.errors import ParameterError

__all__ = ["store_result", "Embeddings"]


class Embeddings:
    """Embeddings of a dataset with their ids and optional 2-D map (what ``segscope embed`` saves)."""

    def __init__(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        *,
        xy: np.ndarray | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.ids = [str(i) for i in ids]
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.xy = None if xy is None else np.asarray(xy, dtype=np.float32)
        self.params = dict(params or {})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``ids``, ``vectors``, ``xy`` and ``params`` to an ``.npz`` file (atomically)."""
        import json

        from segscope.utils.files import atomic_path

        arrays: dict[str, Any] = {
            "ids": np.asarray(self.ids),
            "vectors": self.vectors,
            "params": np.asarray(json.dumps(self.params)),
        }
        if self.xy is not None:
            arrays["xy"] = self.xy
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Embeddings:
        import json

        from segscope.errors import FormatError

        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(
                    z["ids"].tolist(), z["vectors"], xy=z["xy"] if "xy" in z else None,
                    params=json.loads(str(z["params"])) if "params" in z else {},
                )  # fmt: skip
        except (OSError, KeyError, ValueError) as exc:
            raise FormatError(
                f"{path}: not a segscope embeddings file ({exc}); write one with 'segscope embed'"
            ) from exc

    def aligned(self, ids: Sequence[str]) -> np.ndarray:
        """Rows for ``ids`` in that order; raises naming the first id without an embedding."""
        from segscope.errors import DataError

        index = {i: k for k, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in index]
        if missing:
            raise DataError(
                f"sample '{missing[0]}' has no embedding; re-run 'segscope embed' on this dataset"
            )
        return self.vectors[[index[i] for i in ids]]


def store_result(
    catalog: Any,
    name: str,
    key: str,
    result: DuplicateGroups | LabelErrorResults | Selection | Embeddings | Mapping[str, Any],
    *,
    overwrite: bool = True,
    root: str | os.PathLike[str] | None = None,
) -> Any:
    """Store a curation result in ``catalog`` under dataset ``name`` and run ``key``.

    Parameters
    ----------
    catalog : segscope.catalog.Catalog
    name, key : str
        Dataset name in the workspace, and the run key.
    result : DuplicateGroups, LabelErrorResults, Selection, Embeddings or mapping
        A mapping is ``{"kind": ..., "values": {id: {name: float}}}`` (e.g. uniqueness).
    root : path, optional
        Folder of the run's files (heatmaps, exported batch).

    Returns
    -------
    What ``catalog.add_run`` returns.
    """
    values: dict[str, dict[str, float]] = {}
    data: dict[str, Any] = {}
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    if isinstance(result, DuplicateGroups):
        config = {"kind": "duplicates", "method": result.method, "threshold": result.threshold}
        leaks = result.leaks()
        summary = {
            "groups": len(result.groups),
            "leaking_groups": len(leaks),
            "samples": sum(map(len, result.groups)),
        }
        for k, g in enumerate(result.groups):
            for i in g:
                data[i] = {"group": k, "members": g}
                values[i] = {"duplicate_group": float(k), "group_size": float(len(g))}
        for tag in ("duplicate", "leak"):
            ids = [i for i, tags in result.tags.items() if tag in tags]
            if ids:
                catalog.add_tags(name, ids, [tag])
    elif isinstance(result, LabelErrorResults):
        config = {"kind": "label-errors", **result.params, "thresholds": result.thresholds}
        summary = {"images": len(result.images), "findings": len(result.findings)}
        for rank, row in enumerate(result.images):
            values[row["id"]] = {
                "label_error_score": row["score"], "label_quality": row["quality"],
                "issue_fraction": row["issue_fraction"], "findings": float(row["findings"]), "rank": float(rank),
            }  # fmt: skip
        for f in result.findings:
            data.setdefault(f.sample_id, {"findings": []})["findings"].append(f.to_dict())
    elif isinstance(result, Selection):
        config = {"kind": "selection", "strategy": result.strategy, "budget": result.budget, **result.params}
        summary = {"selected": len(result.ids)}
        for i, s in result.scores.items():
            values[i] = {"acquisition": s}
        for rank, i in enumerate(result.ids):
            values.setdefault(i, {})["selected_rank"] = float(rank)
            data[i] = {"selected": True, "rank": rank}
    elif isinstance(result, Embeddings):
        config = {"kind": "embeddings", **result.params}
        summary = {"samples": len(result.ids), "dim": int(result.vectors.shape[1])}
        for k, i in enumerate(result.ids):
            if result.xy is not None:
                values[i] = {"x": float(result.xy[k, 0]), "y": float(result.xy[k, 1])}
                data[i] = {"xy": [float(result.xy[k, 0]), float(result.xy[k, 1])]}
    elif isinstance(result, Mapping) and "values" in result:
        config = {"kind": result.get("kind", "curation"), **dict(result.get("config", {}))}
        values = {i: dict(v) for i, v in result["values"].items()}
        summary = {"samples": len(values)}
    else:
        raise ParameterError(f"cannot store a {type(result).__name__} in the catalog")
    return catalog.add_run(
        name,
        "curation",
        key,
        config=config,
        summary=summary,
        data=data,
        values=values,
        root=root,
        overwrite=overwrite,
    )
