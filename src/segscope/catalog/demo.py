"""A small, complete example workspace: shapes dataset, two prediction runs, two evaluations.

Used by the tests, the app benchmark and the docs; it writes everything under one folder and
takes a second or two at the default size.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from segscope.catalog._catalog import Catalog

__all__ = ["build_demo_workspace"]


def _corrupt(mask: np.ndarray, rng: np.random.Generator, *, shift: int, swap: bool) -> np.ndarray:
    """A plausible wrong prediction: the gt shifted by ``shift`` pixels, classes maybe swapped."""
    pred = np.roll(mask, shift, axis=(0, 1)).astype(np.uint8)
    pred[pred == 255] = 0
    if swap:
        pred = np.where(pred == 1, 2, np.where(pred == 2, 1, pred)).astype(np.uint8)
    if rng.random() < 0.5:  # a false blob in the background
        h, w = pred.shape
        y, x = rng.integers(0, h - h // 6), rng.integers(0, w - w // 6)
        pred[y : y + h // 8, x : x + w // 8] = 3
    return pred


def build_demo_workspace(
    folder: str | os.PathLike[str],
    *,
    n: int = 12,
    size: int = 64,
    seed: int = 0,
    name: str = "shapes",
) -> Catalog:
    """Write a shapes dataset, predictions ``good`` and ``bad`` and their evaluations
    ``good-eval`` and ``bad-eval``, and a workspace ``folder/workspace.db`` holding them.

    Returns
    -------
    Catalog
        The workspace, with dataset ``name``.

    Examples
    --------
    >>> import tempfile
    >>> cat = build_demo_workspace(tempfile.mkdtemp(), n=4, size=48)
    >>> [r["key"] for r in cat.runs("shapes")]
    ['good', 'good-eval', 'bad', 'bad-eval']
    """
    from segscope.core.prediction import Prediction
    from segscope.datasets.shapes import make_shapes
    from segscope.evaluation import EvaluationConfig, evaluate
    from segscope.formats import load_dataset
    from segscope.formats.predictions import PredictionWriter

    folder = Path(folder)
    make_shapes(folder / "shapes", n=n, size=size, seed=seed, overwrite=True)
    ds = load_dataset(folder / "shapes")
    cat = Catalog(folder / "workspace.db")
    cat.add_dataset(ds, name, overwrite=True)
    rng = np.random.default_rng(seed)
    for key, shift, swap_every in (("good", 1, 0), ("bad", 3, 2)):
        out = folder / f"pred_{key}"
        with PredictionWriter(out, ds.class_map, overwrite=True, run_info={"method": f"demo-{key}"}) as w:
            for i, s in enumerate(ds):
                swap = bool(swap_every) and i % swap_every == 0
                w.write(s.id, Prediction(_corrupt(s.mask, rng, shift=shift, swap=swap)), s.image)
        cat.add_predictions(name, out, key=key, overwrite=True)
        results = evaluate(
            ds, load_dataset(out), EvaluationConfig(task="semantic", key=f"{key}-eval", regions=False)
        )
        results.save(folder / f"{key}-eval.json")
        cat.add_evaluation(name, results, key=f"{key}-eval", pred_run=key, overwrite=True)
    return cat
