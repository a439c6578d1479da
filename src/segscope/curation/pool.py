"""Active learning with a model in the loop: predict the pool, score it, select, export.

:func:`select_with_model` is what ``segscope select POOL --model RUN`` runs: a
:class:`segscope.inference.Predictor` predicts every unlabelled image (tiled if asked), each
image gets its acquisition score from the probabilities, the strategy picks the batch, and the
batch is exported with the model's own label maps as pre-annotations (:func:`export_batch`).

Diversity strategies need embeddings. Unless the caller gives them, a torch model (run dir or
checkpoint) embeds the pool with its own encoder (the deepest feature map, average-pooled, as
``segscope embed --method model``); an ``.onnx`` file has no encoder output, so the weights-free
``descriptor`` embedding is used instead. ``Selection.params["embedding"]`` records which.

NumPy here; torch is imported only inside the functions that load a model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segscope.curation.active_learning import STRATEGIES, Selection, acquisition_score, export_batch, select
from segscope.errors import FormatError

__all__ = ["PoolPredictions", "canonical_strategy", "strategy_measure", "predict_pool", "select_with_model"]


def canonical_strategy(strategy: str) -> str:
    """A strategy's registered name; ``entropy+diversity`` is read as ``entropy-diversity``.

    >>> canonical_strategy("Entropy+Diversity")
    'entropy-diversity'
    """
    key = strategy.strip().lower().replace("_", "-").replace("+", "-")
    STRATEGIES.get(key)
    return key


def strategy_measure(strategy: str) -> str:
    """The uncertainty measure a strategy ranks by: ``margin``, ``least-confidence`` or ``entropy``.

    >>> strategy_measure("margin-diversity"), strategy_measure("random")
    ('margin', 'entropy')
    """
    key = canonical_strategy(strategy)
    if key.startswith("margin"):
        return "margin"
    return "least-confidence" if key == "least-confidence" else "entropy"


@dataclass
class PoolPredictions:
    """Acquisition scores of the pool and the predicted label maps (kept PNG-encoded, so a large
    pool does not hold every mask in memory)."""

    scores: dict[str, float] = field(default_factory=dict)
    masks: dict[str, bytes] = field(default_factory=dict)

    def mask(self, sample_id: str) -> np.ndarray:
        """``(H, W)`` label map predicted for ``sample_id``."""
        return cv2.imdecode(np.frombuffer(self.masks[sample_id], np.uint8), cv2.IMREAD_UNCHANGED)


def predict_pool(
    predictor: Any,
    dataset: Any,
    ids: Sequence[str],
    *,
    measure: str = "entropy",
    reduce: str = "topk",
    top_k: float = 0.1,
    tile: int | None = None,
    overlap: int = 64,
    batch_size: int = 4,
    tta: bool | str = False,
) -> PoolPredictions:
    """Predict the images ``ids`` of ``dataset`` and score each by :func:`acquisition_score`.

    Parameters
    ----------
    predictor : segscope.inference.Predictor
    dataset : segscope.core.dataset.Dataset
        Needs images for ``ids``.
    ids : sequence of str
    measure, reduce, top_k
        As in :func:`acquisition_score`.
    tile, overlap, batch_size, tta
        As in :meth:`segscope.inference.Predictor.predict_probs`.

    Returns
    -------
    PoolPredictions

    Examples
    --------
    >>> pool = predict_pool(Predictor.load("runs/unet"), load_dataset("pool"), ids)  # doctest: +SKIP
    >>> pool.mask(ids[0]).shape  # doctest: +SKIP
    (512, 512)
    """
    from segscope.utils.progress import progress

    out = PoolPredictions()
    for sid in progress(ids, total=len(ids), desc="predict pool"):
        pred = predictor.predict(
            dataset[sid].image, tile=tile, overlap=overlap, batch_size=batch_size, tta=tta
        )
        out.scores[sid] = acquisition_score(pred.probs, measure=measure, reduce=reduce, top_k=top_k)
        ok, png = cv2.imencode(".png", pred.mask)
        if not ok:  # pragma: no cover - OpenCV encodes any uint8/uint16 (H, W) array
            raise FormatError(f"sample {sid}: cannot PNG-encode its predicted mask")
        out.masks[sid] = png.tobytes()
    return out


def select_with_model(
    dataset: Any,
    model: str | os.PathLike[str],
    *,
    budget: int,
    out: str | os.PathLike[str],
    strategy: str = "entropy-diversity",
    labelled: Sequence[str] = (),
    embeddings: np.ndarray | None = None,
    backend: str | None = None,
    reduce: str = "topk",
    top_k: float = 0.1,
    tile: int | None = None,
    overlap: int = 64,
    batch_size: int = 4,
    tta: bool | str = False,
    threads: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[Selection, dict[str, Any]]:
    """Predict the unlabelled pool with ``model``, select ``budget`` images, export the batch.

    Parameters
    ----------
    dataset : segscope.core.dataset.Dataset
        The pool (images; masks, if any, are not used).
    model : path
        A ``segscope train`` run dir, a checkpoint or an ``.onnx`` file
        (:meth:`segscope.inference.Predictor.load`).
    budget : int
    out : path
        Batch folder (:func:`export_batch` layout).
    strategy : str
        A name from :data:`STRATEGIES`; its uncertainty measure is :func:`strategy_measure`.
    labelled : sequence of str
        Ids already labelled: not predicted nor picked; diversity keeps away from them.
    embeddings : (N, D) ndarray, optional
        Rows aligned with ``dataset.ids``. Default for diversity strategies: the model's
        encoder (torch models) or the ``descriptor`` (``.onnx`` files).
    backend, threads
        As in :meth:`Predictor.load`.
    reduce, top_k, tile, overlap, batch_size, tta, seed, overwrite
        As in :func:`acquisition_score`, :meth:`Predictor.predict_probs`, :func:`select`,
        :func:`export_batch`.

    Returns
    -------
    (Selection, dict)
        The selection (``params`` record the model, measure, tiling and embedding) and
        :func:`export_batch`'s summary.

    Examples
    --------
    >>> sel, info = select_with_model(load_dataset("pool"), "runs/unet", budget=20,
    ...                               out="batch1")  # doctest: +SKIP
    """
    from segscope.curation.embeddings import embed_images
    from segscope.inference import Predictor
    from segscope.inference.predictor import resolve_tta

    strategy = canonical_strategy(strategy)
    tta = resolve_tta(tta) or False  # a wrong mode fails before the model loads
    measure = strategy_measure(strategy)
    done = set(labelled) & set(dataset.ids)
    ids = [i for i in dataset.ids if i not in done]
    predictor = Predictor.load(model, backend=backend, threads=threads)
    pool = predict_pool(
        predictor, dataset, ids, measure=measure, reduce=reduce, top_k=top_k, tile=tile,
        overlap=overlap, batch_size=batch_size, tta=tta,
    )  # fmt: skip
    how = "given"
    if embeddings is None and strategy.endswith("diversity"):
        torch_model = Path(model).suffix.lower() != ".onnx"
        how = (
            "model encoder, average-pooled"
            if torch_model
            else "descriptor (an .onnx model has no encoder output)"
        )
        embeddings = embed_images(
            (s.image for s in dataset), method="model" if torch_model else "descriptor",
            model=model if torch_model else None, total=len(dataset),
        )  # fmt: skip
    sel = select(
        ids, budget=budget, strategy=strategy, scores=pool.scores, embeddings=embeddings,
        all_ids=dataset.ids, labelled=sorted(done), seed=seed,
    )  # fmt: skip
    sel.params.update(
        {
            "model": str(model), "backend": predictor.backend, "measure": measure, "reduce": reduce,
            "top_k": top_k, "tile": tile, "overlap": overlap, "tta": tta,
            **({"embedding": how} if embeddings is not None else {}),
        }
    )  # fmt: skip
    info = export_batch(
        sel, images={i: dataset[i].load_image for i in sel.ids},
        masks={i: (lambda i=i: pool.mask(i)) for i in sel.ids}, class_map=predictor.class_map, out=out,
        overwrite=overwrite,
    )  # fmt: skip
    return sel, info
