"""Semantic-to-instance: foreground (and boundary) probabilities -> markers -> watershed -> objects.

NumPy only; the standard recipe for cells and nuclei. ``skimage.segmentation.watershed`` does
the flooding and ``skimage.feature.peak_local_max`` finds distance-transform peaks; this
module only chooses the markers, the relief and the per-object scores.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from scipy import ndimage
from skimage import feature, morphology, segmentation

from segscope.core.classes import ClassMap
from segscope.core.instances import Instances
from segscope.core.prediction import Prediction
from segscope.errors import DataError, ParameterError
from segscope.instance.targets import BOUNDARY_CLASS
from segscope.registry import suggest

__all__ = ["PIPELINE_MODES", "probs_to_instances", "SemanticInstancePredictor", "load_predictor"]

#: ``fg-boundary``: 3-class probs (background, object, boundary), markers = confident interiors;
#: ``distance``: 2-class probs (background, object), markers = distance-transform peaks.
PIPELINE_MODES = ("fg-boundary", "distance")


def _check_probs(probs: np.ndarray, mode: str | None) -> tuple[np.ndarray, str]:
    probs = np.asarray(probs, np.float32)
    if probs.ndim != 3 or probs.shape[2] not in (2, 3):
        raise DataError(
            f"probs must be (H, W, 2) background/object or (H, W, 3) background/object/boundary, "
            f"got shape {probs.shape}; train with --target fg-boundary or on a 2-class mask"
        )
    if mode is None:
        mode = "fg-boundary" if probs.shape[2] == 3 else "distance"
    if mode not in PIPELINE_MODES:
        raise ParameterError(f"unknown mode '{mode}'; use one of {', '.join(PIPELINE_MODES)}")
    if mode == "fg-boundary" and probs.shape[2] != 3:
        raise DataError(
            f"mode 'fg-boundary' needs (H, W, 3) probs with a boundary class, got {probs.shape}; "
            "use mode='distance' for a 2-class model"
        )
    return probs, mode


def probs_to_instances(
    probs: np.ndarray,
    *,
    mode: str | None = None,
    fg_threshold: float = 0.5,
    marker_threshold: float = 0.5,
    min_distance: int = 3,
    min_size: int = 5,
    shrink: int = 0,
    label: int = 1,
) -> Prediction:
    """Split the foreground of a semantic prediction into objects with a seeded watershed.

    Parameters
    ----------
    probs : (H, W, 3) or (H, W, 2) float ndarray
        Per-pixel probabilities of background, object[, boundary].
    mode : {'fg-boundary', 'distance'}, optional
        Default: ``fg-boundary`` for 3 channels, ``distance`` for 2.
        ``fg-boundary``: foreground is ``p_object + p_boundary > fg_threshold``; markers are the
        connected regions of ``p_object > marker_threshold``; the watershed floods ``p_boundary``,
        so objects meet where the boundary is most likely. ``distance``: foreground is
        ``p_object > fg_threshold``; markers are peaks of its distance transform at least
        ``min_distance`` apart; the watershed floods ``-distance``.
    fg_threshold, marker_threshold : float
        Probability thresholds in (0, 1).
    min_distance : int
        Smallest distance between markers in ``distance`` mode.
    min_size : int
        Objects (and fg-boundary markers) smaller than this many pixels are dropped.
    shrink : int
        Pixels peeled off the outline of every object after the watershed (0: none). A model
        trained with the boundary class weighted up predicts objects about a pixel too wide.
    label : int
        Class id given to every object.

    Returns
    -------
    Prediction
        ``mask`` (H, W) uint8 (0 background, ``label`` objects), ``probs`` (H, W, 2)
        background/object, ``instances`` one per object with score = mean object probability
        inside it (in [0, 1]).

    Foreground components that hold no marker (objects too thin for a confident interior)
    become objects of their own instead of being lost.

    Examples
    --------
    >>> p = np.zeros((10, 20, 3), np.float32); p[..., 0] = 1
    >>> p[2:8, 2:9] = [0, 1, 0]; p[2:8, 9:10] = [0, 0, 1]; p[2:8, 10:17] = [0, 1, 0]
    >>> pred = probs_to_instances(p)
    >>> len(pred.instances), pred.instances.scores.tolist()
    (2, [1.0, 1.0])
    """
    probs, mode = _check_probs(probs, mode)
    for name, v in (("fg_threshold", fg_threshold), ("marker_threshold", marker_threshold)):
        if not 0 < v < 1:
            raise ParameterError(f"{name}={v} must be in (0, 1)")
    if min_distance < 1 or min_size < 0:
        raise ParameterError(f"min_distance={min_distance} must be >= 1 and min_size={min_size} >= 0")
    if shrink < 0:
        raise ParameterError(f"shrink={shrink} must be >= 0 pixels")
    obj = probs[..., 1] + (probs[..., 2] if probs.shape[2] == 3 else 0.0)
    fg = obj > fg_threshold
    if mode == "fg-boundary":
        seeds = (probs[..., 1] > marker_threshold) & fg
        if min_size > 1:
            seeds = morphology.remove_small_objects(seeds, max_size=min_size - 1)
        markers, n = ndimage.label(seeds)
        relief = probs[..., 2]
    else:
        distance = ndimage.distance_transform_edt(fg)
        coords = feature.peak_local_max(
            distance, min_distance=min_distance, labels=fg.view(np.uint8), exclude_border=False
        )
        peaks = np.zeros(fg.shape, bool)
        peaks[tuple(coords.T)] = True
        markers, n = ndimage.label(peaks, structure=np.ones((3, 3)))
        relief = -distance
    # Foreground components without a marker still are objects: seed them whole.
    comps, _ = ndimage.label(fg)
    orphan = np.setdiff1d(np.unique(comps[fg]), np.unique(comps[markers > 0]))
    if orphan.size:
        lut = np.zeros(int(comps.max()) + 1, np.int64)
        lut[orphan] = n + 1 + np.arange(orphan.size)
        extra = lut[comps]
        markers = np.where(extra > 0, extra, markers)
    labels = segmentation.watershed(relief, markers, mask=fg)
    for _ in range(shrink):
        labels[segmentation.find_boundaries(labels, mode="inner")] = 0
    if min_size > 1 and labels.any():
        sizes = np.bincount(labels.ravel())
        labels[sizes[labels] < min_size] = 0
    labels, _, _ = segmentation.relabel_sequential(labels)
    n_obj = int(labels.max())
    if n_obj:
        scores = ndimage.mean(np.clip(obj, 0, 1), labels, np.arange(1, n_obj + 1))
        inst = Instances.from_id_map(labels, labels=np.full(n_obj, label))
        inst.scores = np.clip(np.asarray(scores, np.float64), 0.0, 1.0)
    else:
        inst = Instances.empty(*labels.shape, with_scores=True)
    mask = np.where(labels > 0, label, 0).astype(np.uint8)
    two = np.stack([1.0 - np.clip(obj, 0, 1), np.clip(obj, 0, 1)], axis=-1).astype(np.float32)
    info = {"kind": "instances", "mode": mode, "num_instances": n_obj}
    return Prediction(mask, probs=two, instances=inst, info=info)


class SemanticInstancePredictor:
    """A semantic :class:`~segscope.inference.Predictor` followed by :func:`probs_to_instances`.

    Has the ``predict``/``class_map``/``backend``/``info`` interface that
    :func:`segscope.inference.predict_dataset` uses, so ``segscope predict --task instance``
    writes ``instances.json`` from a semantic model.

    Parameters
    ----------
    predictor : Predictor
        A model with 3 classes (background, object, boundary) or 2 (background, object).
    mode : str, optional
        See :func:`probs_to_instances`; by default from the class count.
    **params
        Thresholds and sizes for :func:`probs_to_instances`.
    """

    def __init__(self, predictor: Any, *, mode: str | None = None, **params: Any) -> None:
        n = int(predictor.num_classes)
        if n not in (2, 3):
            raise ParameterError(
                f"the semantic-to-instance pipeline needs a model with 2 classes (background, object) or "
                f"3 (background, object, boundary), this one has {n}; train with --target fg-boundary"
            )
        self.predictor = predictor
        self.mode = mode or ("fg-boundary" if n == 3 else "distance")
        _check_probs(np.zeros((1, 1, n), np.float32), self.mode)
        import inspect

        valid = [k for k in inspect.signature(probs_to_instances).parameters if k not in ("probs", "mode")]
        for name in params:
            if name not in valid:
                raise ParameterError(
                    f"unknown instance option '{name}'{suggest(name, valid)}; valid options: {', '.join(valid)}"
                )
        self.params = params
        self.backend = predictor.backend
        self.info = {**predictor.info, "task": "instance", "pipeline": self.mode, "pipeline_params": params}

    @property
    def class_map(self) -> ClassMap:
        """The output classes: background and the object class (no boundary class)."""
        cm = self.predictor.class_map
        return ClassMap(list(cm.names[:2]), ignore_index=cm.ignore_index)

    def predict(self, image: np.ndarray, **kwargs: Any) -> Prediction:
        """A :class:`Prediction` with instances; ``kwargs`` go to ``Predictor.predict_probs``."""
        probs = self.predictor.predict_probs(image, **kwargs)
        pred = probs_to_instances(probs, mode=self.mode, **self.params)
        pred.info["backend"] = self.backend
        return pred


def load_predictor(
    path: str | os.PathLike[str],
    *,
    task: str | None = None,
    backend: str | None = None,
    threads: int | None = None,
    device: str = "auto",
    **params: Any,
) -> Any:
    """The predictor for ``segscope predict``: semantic, semantic-to-instance, or Mask R-CNN.

    Parameters
    ----------
    path : path
        Run dir, checkpoint or ``.onnx`` file.
    task : {None, 'semantic', 'instance'}
        ``None``: the model's own task (instance for Mask R-CNN and for fg-boundary models,
        whose boundary class only serves to split objects; else semantic). ``'instance'`` on a
        semantic model adds the watershed pipeline (:class:`SemanticInstancePredictor`).
    device : str
        ``auto`` (a CUDA GPU when torch sees one), ``cpu``, ``cuda`` or ``cuda:N``.
    **params
        Options of :func:`probs_to_instances` (semantic models) or of
        :class:`~segscope.instance.maskrcnn.InstancePredictor` (``score_threshold``, ``mask_threshold``).

    Raises
    ------
    ParameterError
        ``task='semantic'`` for a Mask R-CNN, an unknown task, or pipeline options for a
        semantic prediction.
    """
    if task not in (None, "semantic", "instance"):
        raise ParameterError(f"unknown task '{task}'; use semantic or instance")
    from pathlib import Path

    from segscope.utils.device import resolve_device

    resolve_device(device)  # a wrong --device fails before the model is read
    path = Path(path)
    if _is_instance_model(path):
        if task == "semantic":
            raise ParameterError(f"{path}: is a Mask R-CNN (instance) model; drop --task semantic")
        if backend == "onnx":
            raise ParameterError(f"{path}: Mask R-CNN runs with the torch backend; drop --backend onnx")
        from segscope.instance.maskrcnn import InstancePredictor

        if threads:
            import torch

            torch.set_num_threads(threads)
        return InstancePredictor.load(path, device=device, **params)
    from segscope.inference.predictor import Predictor

    predictor = Predictor.load(path, backend=backend, threads=threads, device=device)
    names = predictor.class_map.names
    fg_boundary = len(names) == 3 and names[2] == BOUNDARY_CLASS
    if task == "instance" or (task is None and fg_boundary):
        return SemanticInstancePredictor(predictor, **params)
    if params:
        raise ParameterError(f"options {sorted(params)} are for instance prediction; add --task instance")
    return predictor


def _is_instance_model(path: Any) -> bool:
    """Whether a run dir / checkpoint holds a Mask R-CNN (reads ``config.yaml`` when there is one)."""
    if path.suffix.lower() == ".onnx":
        return False
    from segscope.models.checkpoint import resolve_checkpoint

    file = resolve_checkpoint(path)
    for config in (file.parent.parent / "config.yaml", file.parent / "config.yaml"):
        if config.is_file():
            import yaml

            record = yaml.safe_load(config.read_text()) or {}
            return (record.get("model_config") or {}).get("task") == "instance"
    from segscope.instance.maskrcnn import read_checkpoint

    hp = read_checkpoint(file).get("hyper_parameters", {})
    return (hp.get("model_config") or {}).get("task") == "instance"
