"""Active learning: which unlabelled images to annotate next.

Acquisition scores from a model's probabilities (pixel entropy, margin or least confidence,
rolled up per image by the mean or the mean of the top-k most uncertain pixels), combined
with diversity on embeddings (k-centre greedy, Sener & Savarese 2018), select a batch; the
batch is exported with the model's predictions as pre-annotations.

Strategies (:data:`STRATEGIES`, the ``segscope select --strategy`` choices):

``random``
    Uniform, seeded: the baseline.
``entropy``, ``margin``, ``least-confidence``
    The top ``budget`` images by that uncertainty.
``diversity``
    k-centre greedy on the embeddings only.
``entropy-diversity`` (and ``margin-diversity``)
    Keep the ``candidates * budget`` most uncertain images, then k-centre greedy among them,
    so the batch is uncertain *and* not redundant.

NumPy only; no torch (the probabilities come from a :class:`segscope.inference.Predictor` or
a prediction folder).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segscope.core.probs import confidence, entropy, margin, validate_probs
from segscope.errors import DataError, ParameterError
from segscope.registry import Registry

__all__ = [
    "MEASURES",
    "STRATEGIES",
    "uncertainty_map",
    "acquisition_score",
    "balanced_class_weights",
    "k_center_greedy",
    "select",
    "Selection",
    "export_batch",
]

MEASURES: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("uncertainty measure")
MEASURES.add("entropy", lambda p: entropy(p, normalize=True))
MEASURES.add("margin", lambda p: 1.0 - margin(p))
MEASURES.add("least-confidence", lambda p: 1.0 - confidence(p))


def uncertainty_map(probs: np.ndarray, *, measure: str = "entropy") -> np.ndarray:
    """``(H, W) float32`` pixel uncertainty in [0, 1]: higher means less sure.

    ``entropy`` is normalised by ``log(C)``; ``margin`` is ``1 - (p1 - p2)``;
    ``least-confidence`` is ``1 - p1``.

    Examples
    --------
    >>> p = np.array([[[0.5, 0.5], [1.0, 0.0]]], np.float32)
    >>> uncertainty_map(p, measure="margin").tolist()
    [[1.0, 0.0]]
    """
    return np.asarray(MEASURES.get(measure)(validate_probs(probs)), dtype=np.float32)


def balanced_class_weights(
    masks: np.ndarray | Sequence[np.ndarray], num_classes: int, *, ignore_index: int = 255
) -> np.ndarray:
    """``(C,) float64`` class weights ``n / (C * count_c)`` from labelled masks ("balanced").

    The formula of scikit-learn's ``compute_class_weight("balanced")``, which refuses
    classes absent from the labels; here an absent class gets the weight of a class seen
    once, so an image likely to hold it scores highest. Written with ``np.bincount``.

    Parameters
    ----------
    masks : (N, H, W) ndarray or sequence of (H, W) ndarrays
        Class ids of the labelled images; ``ignore_index`` pixels are skipped.
    num_classes : int
    ignore_index : int

    Examples
    --------
    >>> balanced_class_weights(np.array([[0, 0, 0, 1]]), 3).round(3).tolist()
    [0.444, 1.333, 1.333]
    """
    if num_classes < 1:
        raise ParameterError(f"num_classes={num_classes} must be >= 1")
    flat = np.concatenate([np.asarray(m).ravel() for m in masks]) if len(masks) else np.zeros(0, np.int64)
    flat = flat[flat != ignore_index].astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise DataError(
            f"masks hold class ids {int(flat.min())}..{int(flat.max())} outside 0..{num_classes - 1}; "
            "pass the right num_classes or ignore_index"
        )
    counts = np.maximum(np.bincount(flat, minlength=num_classes), 1).astype(np.float64)
    return max(flat.size, 1) / (num_classes * counts)


def acquisition_score(
    probs: np.ndarray,
    *,
    measure: str = "entropy",
    reduce: str = "mean",
    top_k: float = 0.1,
    class_weights: Sequence[float] | np.ndarray | None = None,
) -> float:
    """One image's acquisition score: its pixel uncertainty rolled up by ``reduce``.

    Parameters
    ----------
    probs : (H, W, C) float
    measure : {"entropy", "margin", "least-confidence"}
    reduce : {"mean", "topk"}
        Mean over all pixels, or mean over the ``top_k`` share of most uncertain pixels (so
        a small uncertain object is not drowned by a large easy background).
    top_k : float
        Share of pixels for ``reduce="topk"``, in (0, 1].
    class_weights : (C,) sequence of float, optional
        Class-balanced roll-up: each pixel's uncertainty is multiplied by the expected
        weight of its class, ``sum_c p_c * w_c``, before the roll-up, so uncertain pixels
        of classes rare in the labelled set (:func:`balanced_class_weights`) count more
        than uncertain background.

    Examples
    --------
    >>> p = np.full((10, 10, 2), [1.0, 0.0], np.float32); p[0, :5] = 0.5
    >>> round(acquisition_score(p), 4), acquisition_score(p, reduce="topk", top_k=0.05)
    (0.05, 1.0)
    """
    u = uncertainty_map(probs, measure=measure)
    if class_weights is not None:
        w = np.asarray(class_weights, dtype=np.float32)
        if w.shape != (probs.shape[-1],) or not np.all(np.isfinite(w)) or (w < 0).any():
            raise ParameterError(
                f"class_weights has shape {w.shape} for {probs.shape[-1]} classes; give one finite weight >= 0 "
                "per class (balanced_class_weights)"
            )
        u = u * (np.asarray(probs, dtype=np.float32) @ w)
    u = u.ravel()
    if reduce == "mean":
        return float(u.mean())
    if reduce != "topk":
        raise ParameterError(f"reduce '{reduce}' is not known; use 'mean' or 'topk'")
    if not 0 < top_k <= 1:
        raise ParameterError(f"top_k={top_k} must be a share of pixels in (0, 1]")
    n = max(1, int(round(top_k * u.size)))
    return float(np.partition(u, u.size - n)[u.size - n :].mean())


def k_center_greedy(
    embeddings: np.ndarray,
    budget: int,
    *,
    labelled: Sequence[int] = (),
    candidates: Sequence[int] | None = None,
    seed: int = 0,
) -> list[int]:
    """Pick ``budget`` rows that cover the embedding space (k-centre greedy).

    Each step takes the candidate farthest (Euclidean) from everything labelled or picked
    so far. With nothing labelled, the first pick is the candidate farthest from the mean.
    Written here (a dozen lines of NumPy); no well-kept library exposes it without torch.

    Parameters
    ----------
    embeddings : (N, D) ndarray
    budget : int
    labelled : sequence of int
        Rows already labelled: the batch keeps away from them.
    candidates : sequence of int, optional
        Rows that may be picked (default: all not labelled).
    seed : int
        Breaks exact ties reproducibly.

    Returns
    -------
    list of int
        Row indices in pick order.

    Examples
    --------
    >>> e = np.array([[0, 0], [0.1, 0], [5, 5], [10, 0]])
    >>> sorted(k_center_greedy(e, 3))
    [0, 2, 3]
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"embeddings must be (N, D), got shape {x.shape}")
    lab = np.asarray(list(labelled), dtype=np.int64)
    pool = np.setdiff1d(np.arange(len(x)) if candidates is None else np.asarray(candidates, np.int64), lab)
    if budget < 0:
        raise ParameterError(f"budget={budget} must be >= 0")
    budget = min(budget, len(pool))
    if budget == 0:
        return []
    tie = np.random.default_rng(seed).random(len(x)) * 1e-12
    if lab.size:
        d = np.min(((x[pool, None, :] - x[None, lab, :]) ** 2).sum(-1), axis=1)
    else:
        d = ((x[pool] - x.mean(axis=0)) ** 2).sum(-1)
    picked: list[int] = []
    for _ in range(budget):
        j = int(np.argmax(d + tie[pool]))
        picked.append(int(pool[j]))
        d = np.minimum(d, ((x[pool] - x[pool[j]]) ** 2).sum(-1))
        d[j] = -np.inf
    return picked


@dataclass
class Selection:
    """The images chosen to annotate next, with the scores behind the choice."""

    ids: list[str]
    strategy: str
    budget: int
    scores: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "selection",
            "ids": list(self.ids),
            "strategy": self.strategy,
            "budget": self.budget,
            "scores": dict(self.scores),
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        return cls(
            list(data["ids"]), str(data["strategy"]), int(data["budget"]), dict(data.get("scores", {})),
            dict(data.get("params", {})),
        )  # fmt: skip


STRATEGIES: Registry[str] = Registry("strategy")
STRATEGIES.add("random", "uniform random baseline (seeded)")
STRATEGIES.add("entropy", "top images by pixel entropy")
STRATEGIES.add("margin", "top images by 1 - (p1 - p2)")
STRATEGIES.add("least-confidence", "top images by 1 - p1")
STRATEGIES.add("diversity", "k-centre greedy on embeddings only")
STRATEGIES.add("entropy-diversity", "most uncertain candidates by entropy, then k-centre greedy")
STRATEGIES.add("margin-diversity", "most uncertain candidates by margin, then k-centre greedy")


def select(
    ids: Sequence[str],
    *,
    budget: int,
    strategy: str = "entropy-diversity",
    scores: Mapping[str, float] | Sequence[float] | None = None,
    embeddings: np.ndarray | None = None,
    labelled: Sequence[str] = (),
    all_ids: Sequence[str] | None = None,
    candidates: float = 3.0,
    seed: int = 0,
) -> Selection:
    """Choose ``budget`` images of the pool ``ids`` to annotate next.

    Parameters
    ----------
    ids : sequence of str
        The unlabelled pool.
    budget : int
        How many to pick (at most the pool size).
    strategy : str
        A name from :data:`STRATEGIES`.
    scores : mapping id -> float or sequence aligned with ``ids``, optional
        Acquisition scores (:func:`acquisition_score`), higher = more informative; needed by
        every strategy but ``random`` and ``diversity``. For ``*-diversity`` strategies the
        scores must come from the matching measure (the caller computes them).
    embeddings : (N, D) ndarray, optional
        Rows aligned with ``all_ids`` (default ``ids``); needed by diversity strategies.
    labelled : sequence of str
        Ids already labelled (rows of ``all_ids``): diversity keeps the batch away from them.
    all_ids : sequence of str, optional
        Ids of the embedding rows when they cover more than the pool (labelled + pool).
    candidates : float
        ``*-diversity``: k-centre runs on the ``candidates * budget`` most uncertain images.
    seed : int

    Returns
    -------
    Selection

    Examples
    --------
    >>> sel = select(["a", "b", "c"], budget=2, strategy="entropy", scores=[0.1, 0.9, 0.5])
    >>> sel.ids
    ['b', 'c']
    """
    STRATEGIES.get(strategy)
    strategy = strategy.strip().lower().replace("_", "-")
    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise DataError("the pool has repeated ids; give each image once")
    if budget < 1:
        raise ParameterError(f"budget={budget} must be >= 1")
    budget = min(budget, len(ids))
    score_map: dict[str, float] = {}
    if scores is not None:
        if isinstance(scores, Mapping):
            missing = [i for i in ids if i not in scores]
            if missing:
                raise DataError(f"no acquisition score for {len(missing)} pool ids, e.g. '{missing[0]}'")
            score_map = {i: float(scores[i]) for i in ids}
        else:
            if len(scores) != len(ids):
                raise DataError(f"{len(ids)} pool ids but {len(scores)} scores; give one score per id")
            score_map = {i: float(s) for i, s in zip(ids, scores, strict=True)}
    needs_scores = strategy not in ("random", "diversity")
    needs_emb = strategy.endswith("diversity")
    if needs_scores and not score_map:
        raise ParameterError(f"strategy '{strategy}' needs acquisition scores (from a model's probabilities)")
    params: dict[str, Any] = {"seed": seed}
    if strategy == "random":
        order = np.random.default_rng(seed).permutation(len(ids))[:budget]
        picked = [ids[i] for i in order]
    elif not needs_emb:
        picked = sorted(ids, key=lambda i: (-score_map[i], i))[:budget]
    else:
        if embeddings is None:
            raise ParameterError(f"strategy '{strategy}' needs embeddings (segscope embed / embed_images)")
        rows = list(all_ids) if all_ids is not None else ids
        emb = np.asarray(embeddings)
        if len(emb) != len(rows):
            raise DataError(f"{len(emb)} embeddings for {len(rows)} ids; give one embedding per id")
        index = {r: k for k, r in enumerate(rows)}
        unknown = [i for i in [*ids, *labelled] if i not in index]
        if unknown:
            raise DataError(f"id '{unknown[0]}' has no embedding row; embed the whole pool")
        pool = ids
        if needs_scores:
            n_cand = min(len(ids), max(budget, int(round(candidates * budget))))
            pool = sorted(ids, key=lambda i: (-score_map[i], i))[:n_cand]
            params["candidates"] = n_cand
        rows_picked = k_center_greedy(
            emb, budget, labelled=[index[i] for i in labelled], candidates=[index[i] for i in pool], seed=seed
        )
        picked = [rows[r] for r in rows_picked]
    return Selection(ids=picked, strategy=strategy, budget=budget, scores=score_map, params=params)


def export_batch(
    selection: Selection | Sequence[str],
    *,
    images: Mapping[str, Any],
    masks: Mapping[str, Any],
    class_map: Any,
    out: str | os.PathLike[str],
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the batch for annotation: images, predicted masks as pre-annotations, COCO JSON.

    Layout (readable by :func:`segscope.formats.load_dataset`)::

        OUT/images/<id>.png      the images
        OUT/masks/<id>.png       the model's predicted label maps (pre-annotations)
        OUT/classes.yaml
        OUT/annotations.json     the same pre-annotations as COCO RLE (one per connected
                                 component and class), for annotation tools
        OUT/selection.json       strategy, ids in pick order, scores

    Parameters
    ----------
    selection : Selection or sequence of str
    images, masks : mapping id -> array or zero-argument loader
    class_map : ClassMap
    out : path
    overwrite : bool

    Returns
    -------
    dict
        ``out``, ``images`` (count) and ``annotations`` (COCO annotation count).
    """
    import json
    from pathlib import Path

    from segscope.core.dataset import Dataset, Sample
    from segscope.formats import save_dataset
    from segscope.utils.files import write_json

    sel = (
        selection if isinstance(selection, Selection) else Selection(list(selection), "given", len(selection))
    )
    missing = [i for i in sel.ids if i not in images or i not in masks]
    if missing:
        raise DataError(f"sample '{missing[0]}' has no image or predicted mask; predict the whole pool first")

    def loader(obj: Any) -> Callable[[], Any]:
        return obj if callable(obj) else (lambda: obj)

    samples = [Sample(i, load_image=loader(images[i]), load_mask=loader(masks[i])) for i in sel.ids]
    ds = Dataset(samples, class_map)
    out = Path(out)
    save_dataset(ds, out, format="coco", overwrite=overwrite)
    save_dataset(ds, out, format="mask-folder", overwrite=True)
    coco = json.loads((out / "annotations.json").read_text())
    write_json(out / "selection.json", sel.to_dict())
    return {"out": str(out), "images": len(sel.ids), "annotations": len(coco["annotations"])}
