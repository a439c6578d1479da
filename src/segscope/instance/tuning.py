"""Choose post-processing parameters on held-out images: a grid search scored by the DSB score.

NumPy only. Instance pipelines have a few thresholds (marker and foreground probabilities,
a shrink, a score cut-off, a classical method's ``min_distance``) that decide the result as
much as the model does; choosing them on the test images inflates the test score. These
functions score every combination of a small grid on a *validation* set, so the chosen values
can then be applied once, blind, to the test images.

No library offers a grid search over a user function scored with an instance metric
(scikit-learn's ``GridSearchCV`` wants estimators with ``fit``), so the loop is written here;
the scoring is :func:`segscope.metrics.instance.dsb_score`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segscope.core.instances import Instances
from segscope.core.prediction import Prediction
from segscope.errors import DataError, ParameterError
from segscope.instance.pipeline import probs_to_instances

__all__ = ["DEFAULT_POSTPROCESS_GRID", "GridSearchResult", "grid_search", "tune_postprocess"]

#: Grid of :func:`tune_postprocess` for fg-boundary models: 4 x 4 x 2 = 32 combinations.
DEFAULT_POSTPROCESS_GRID: dict[str, tuple[Any, ...]] = {
    "marker_threshold": (0.5, 0.6, 0.7, 0.8),
    "fg_threshold": (0.5, 0.6, 0.7, 0.8),
    "shrink": (0, 1),
}


@dataclass
class GridSearchResult:
    """The outcome of :func:`grid_search`.

    Attributes
    ----------
    params : dict
        The best combination (the first one in grid order among equal scores).
    score : float
        Its score.
    table : list of dict
        One row per combination, in grid order: the parameters and ``score``.
    metric : str
        Name of the score.
    """

    params: dict[str, Any]
    score: float
    table: list[dict[str, Any]] = field(default_factory=list)
    metric: str = "dsb"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy."""
        return {"params": self.params, "score": self.score, "metric": self.metric, "table": self.table}

    def to_markdown(self, *, digits: int = 3) -> str:
        """The table in Markdown, the chosen row marked with ``*``."""
        keys = list(self.params)
        lines = [
            "| " + " | ".join([*keys, self.metric, "chosen"]) + " |",
            "|" + "---|" * (len(keys) + 2),
        ]
        for row in self.table:
            mark = "*" if all(row[k] == self.params[k] for k in keys) else ""
            cells = [str(row[k]) for k in keys] + [f"{row['score']:.{digits}f}", mark]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _as_instances(out: Any, key: Any) -> Instances:
    if isinstance(out, Prediction):
        out = out.instances
    if not isinstance(out, Instances):
        raise DataError(
            f"image {key!r}: the predict function returned {type(out).__name__}, not Instances or a "
            "Prediction with instances; return pred.instances"
        )
    return out


def grid_search(
    predict: Callable[..., Any],
    inputs: Mapping[Any, Any],
    gt: Mapping[Any, Instances],
    *,
    grid: Mapping[str, Sequence[Any]],
    metric: str | Callable[[Mapping[Any, Instances], Mapping[Any, Instances]], float] = "dsb",
) -> GridSearchResult:
    """Score ``predict(x, **params)`` on every image for every combination of ``grid``.

    Parameters
    ----------
    predict : callable
        ``predict(inputs[key], **params)`` -> :class:`Instances` or a :class:`Prediction`
        with instances. ``inputs`` may be images, or anything computed once beforehand
        (probabilities, a detector's raw output), so the grid only re-runs the cheap part.
    inputs : mapping image_id -> object
        The validation images (or what ``predict`` takes).
    gt : mapping image_id -> Instances
        Ground truth of the same ids.
    grid : mapping name -> sequence of values
        Each name is a keyword of ``predict``; every combination is tried, in order
        (the last name varies fastest).
    metric : 'dsb' or callable
        ``'dsb'``: :func:`segscope.metrics.instance.dsb_score` (higher is better); or
        ``metric(gt, pred) -> float`` on the two mappings.

    Returns
    -------
    GridSearchResult

    Raises
    ------
    ParameterError
        An empty grid or an empty list of values.
    DataError
        ``inputs`` and ``gt`` hold different ids, or ``predict`` returns no instances.

    Examples
    --------
    >>> ids = np.zeros((8, 8), np.int32); ids[1:4, 1:4] = 1; ids[5:8, 5:8] = 2
    >>> gt = {"a": Instances.from_id_map(ids)}
    >>> def keep_large(x, *, min_area):
    ...     return x[np.flatnonzero(x.areas >= min_area)]
    >>> result = grid_search(keep_large, gt, gt, grid={"min_area": [1, 10]})
    >>> result.params, result.score
    ({'min_area': 1}, 1.0)
    """
    if not grid or any(len(v) == 0 for v in grid.values()):
        raise ParameterError(f"grid {dict(grid)} needs at least one name and one value per name")
    if set(inputs) != set(gt):
        missing = sorted(map(str, set(gt) ^ set(inputs)))[:3]
        raise DataError(
            f"inputs and gt must hold the same image ids; {missing} are in only one of them; "
            "pass the ground truth of exactly the tuning images"
        )
    if metric == "dsb":
        from segscope.metrics.instance import dsb_score

        score_fn: Callable[[Mapping[Any, Instances], Mapping[Any, Instances]], float] = dsb_score
        name = "dsb"
    elif callable(metric):
        score_fn, name = metric, getattr(metric, "__name__", "score")
    else:
        raise ParameterError(f"unknown metric '{metric}'; use 'dsb' or a function metric(gt, pred) -> float")
    names = list(grid)
    table: list[dict[str, Any]] = []
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, values, strict=True))
        pred = {key: _as_instances(predict(x, **params), key) for key, x in inputs.items()}
        table.append({**params, "score": float(score_fn(gt, pred))})
    scores = np.array([row["score"] for row in table], np.float64)
    if np.isnan(scores).all():
        raise DataError("every combination scored NaN; is the ground truth empty?")
    best = int(np.nanargmax(scores))  # first maximum: ties go to the earlier combination
    return GridSearchResult(
        params={n: table[best][n] for n in names}, score=float(scores[best]), table=table, metric=name
    )


def tune_postprocess(
    probs: Mapping[Any, np.ndarray],
    gt: Mapping[Any, Instances],
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    metric: str | Callable[..., float] = "dsb",
    **fixed: Any,
) -> GridSearchResult:
    """Choose the :func:`~segscope.instance.probs_to_instances` options on validation images.

    Parameters
    ----------
    probs : mapping image_id -> (H, W, 3) or (H, W, 2) float ndarray
        A semantic model's probabilities of the validation images (computed once).
    gt : mapping image_id -> Instances
        Their ground truth.
    grid : mapping name -> sequence, optional
        Options of :func:`probs_to_instances` to search; default
        :data:`DEFAULT_POSTPROCESS_GRID` (marker and foreground thresholds, shrink).
    metric : 'dsb' or callable
        See :func:`grid_search`.
    **fixed
        Options kept constant (``mode``, ``min_size`` ...).

    Returns
    -------
    GridSearchResult
        ``params`` go to ``SemanticInstancePredictor(predictor, **params)`` or
        ``probs_to_instances(p, **params)`` for the test images.

    Examples
    --------
    >>> from segscope.instance import fg_boundary_target
    >>> ids = np.zeros((12, 20), np.int32); ids[2:10, 2:9] = 1; ids[2:10, 9:17] = 2
    >>> probs = {"a": np.eye(3, dtype=np.float32)[fg_boundary_target(ids)]}
    >>> result = tune_postprocess(probs, {"a": Instances.from_id_map(ids)}, grid={"shrink": [0, 1]})
    >>> result.params
    {'shrink': 0}
    """
    grid = dict(DEFAULT_POSTPROCESS_GRID if grid is None else grid)
    import inspect

    valid = [k for k in inspect.signature(probs_to_instances).parameters if k != "probs"]
    from segscope.registry import suggest

    for name in [*grid, *fixed]:
        if name not in valid:
            raise ParameterError(
                f"unknown post-processing option '{name}'{suggest(name, valid)}; valid: {', '.join(valid)}"
            )
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ParameterError(f"{both} are both in the grid and fixed; give each option once")
    return grid_search(functools.partial(probs_to_instances, **fixed), probs, gt, grid=grid, metric=metric)
