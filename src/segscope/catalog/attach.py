"""Attach the output of a command to a workspace dataset in one call (``--into NAME``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segscope.catalog._catalog import Catalog
from segscope.core.dataset import Dataset
from segscope.evaluation.run import EvaluationResults

__all__ = ["attach_evaluation"]


def attach_evaluation(
    catalog: Catalog,
    name: str,
    results: EvaluationResults,
    *,
    key: str,
    gt: Dataset | None = None,
    pred_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Store an evaluation under ``key`` in workspace dataset ``name``.

    The dataset is added from ``gt`` when the workspace does not have it yet. When
    ``pred_dir`` is a prediction folder (it has ``masks/``), it is attached too, as run
    ``"<key>-pred"``, so the app can draw its masks, error maps and confusion pairs.

    Returns
    -------
    dict
        ``{"dataset": name, "evaluation": key, "prediction": "<key>-pred" or None}``.
    """
    if name not in {d["name"] for d in catalog.datasets()}:
        if gt is None:
            catalog.dataset(name)  # raises, listing the datasets there are
        catalog.add_dataset(gt, name)
    pred_key = None
    if pred_dir is not None and (Path(pred_dir) / "masks").is_dir():
        pred_key = f"{key}-pred"
        catalog.add_predictions(name, pred_dir, key=pred_key, overwrite=overwrite)
    catalog.add_evaluation(name, results, key=key, pred_run=pred_key, overwrite=overwrite)
    return {"dataset": name, "evaluation": key, "prediction": pred_key}
