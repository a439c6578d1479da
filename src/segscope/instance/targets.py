"""Training targets for the semantic-to-instance pipeline: background / foreground / boundary.

NumPy only. A semantic model trained on these 3-class maps learns where objects touch, and
:func:`segscope.instance.probs_to_instances` turns its probabilities back into one mask per object.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.segmentation import find_boundaries

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset, Sample
from segscope.core.instances import Instances
from segscope.errors import DataError, ParameterError

__all__ = ["TARGETS", "BOUNDARY_CLASS", "fg_boundary_target", "fg_boundary_class_map", "target_dataset"]

#: Semantic training targets: ``mask`` (the dataset's own label maps) or ``fg-boundary``.
TARGETS = ("mask", "fg-boundary")
#: Name of class 2 in fg-boundary class maps; predictors recognise such models by it.
BOUNDARY_CLASS = "boundary"


def fg_boundary_target(id_map: np.ndarray, *, width: int = 1, ignore: np.ndarray | None = None) -> np.ndarray:
    """3-class target from an instance-id map: 0 background, 1 object interior, 2 object boundary.

    Boundary pixels are the object pixels next to a pixel of another label (background or
    another object; ``skimage.segmentation.find_boundaries(mode="inner")``), thickened to
    ``width`` pixels inside the objects. Touching objects are thus separated by boundary.

    Parameters
    ----------
    id_map : (H, W) int ndarray
        0 = background, k > 0 = object k.
    width : int
        Boundary thickness in pixels (>= 1).
    ignore : (H, W) bool ndarray, optional
        Pixels set to 255 (crowd regions, unlabelled areas).

    Returns
    -------
    (H, W) uint8 ndarray

    Examples
    --------
    >>> ids = np.zeros((5, 8), np.int32); ids[:, 1:4] = 1; ids[:, 4:7] = 2
    >>> fg_boundary_target(ids)[2].tolist()
    [0, 2, 1, 2, 2, 1, 2, 0]
    """
    id_map = np.asarray(id_map)
    if id_map.ndim != 2 or not np.issubdtype(id_map.dtype, np.integer):
        raise DataError(f"an instance-id map must be a 2-D integer array, got {id_map.shape} {id_map.dtype}")
    if width < 1:
        raise ParameterError(f"boundary width {width} must be >= 1")
    fg = id_map > 0
    bound = find_boundaries(id_map, mode="inner") & fg
    if width > 1:
        bound = ndimage.binary_dilation(bound, iterations=width - 1) & fg
    out = fg.astype(np.uint8)
    out[bound] = 2
    if ignore is not None:
        out[np.asarray(ignore, bool)] = 255
    return out


def fg_boundary_class_map(class_map: ClassMap) -> ClassMap:
    """``background``, the object class, ``boundary``: the classes of a fg-boundary model.

    The object class keeps the name of the dataset's single object class (``foreground``
    when the dataset has several; the pipeline is class-agnostic).
    """
    names = class_map.names
    obj = names[1] if len(names) == 2 and names[1] != BOUNDARY_CLASS else "foreground"
    return ClassMap(["background", obj, BOUNDARY_CLASS], ignore_index=class_map.ignore_index)


def _target_of(sample: Sample, width: int, ignore_index: int) -> np.ndarray:
    inst = sample.instances
    if inst is None:
        mask = sample.mask
        if mask is None:
            raise DataError(
                f"sample {sample.id}: has neither instances nor a mask to build fg-boundary targets"
            )
        inst = Instances.from_semantic(np.asarray(mask), ignore_index=ignore_index)
    crowd = inst[np.flatnonzero(inst.iscrowd)] if inst.iscrowd.any() else None
    objects = inst[np.flatnonzero(~inst.iscrowd)] if crowd is not None else inst
    ignore = crowd.to_masks().any(0) if crowd is not None else None
    target = fg_boundary_target(objects.to_id_map(np.int32), width=width, ignore=ignore)
    if ignore_index != 255 and ignore is not None:
        target = target.astype(np.uint16)
        target[ignore] = ignore_index
    return target


def target_dataset(dataset: Dataset, target: str = "fg-boundary", *, width: int = 1) -> Dataset:
    """``dataset`` with its label maps replaced by a training target (lazily, per sample).

    ``"mask"`` returns ``dataset`` unchanged; ``"fg-boundary"`` gives 3-class maps
    (:func:`fg_boundary_target`) from each sample's instances (or from the connected components
    of its mask when it has no instances).

    Examples
    --------
    >>> from segscope.datasets import shapes_class_map
    >>> ds = Dataset([], shapes_class_map())
    >>> target_dataset(ds).class_map.names
    ('background', 'foreground', 'boundary')
    """
    if target not in TARGETS:
        raise ParameterError(f"unknown target '{target}'; use one of {', '.join(TARGETS)}")
    if target == "mask":
        return dataset
    cmap = fg_boundary_class_map(dataset.class_map)
    samples = []
    for s in dataset:
        loader: Any = functools.partial(_target_of, s, width, cmap.ignore_index)
        samples.append(
            Sample(
                s.id,
                load_image=s.load_image,
                load_mask=loader,
                image_path=s.image_path,
                mask_path=s.mask_path,
                split=s.split,
                metadata=dict(s.metadata),
            )
        )
    notes = [*dataset.notes, f"fg-boundary targets (boundary width {width}) built from the instances"]
    return Dataset(samples, cmap, root=dataset.root, format=dataset.format, task="semantic", notes=notes)
