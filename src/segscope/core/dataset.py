"""Samples and datasets: ordered, lazily loaded collections of images with ground truth.

A :class:`Sample` knows where its image and ground truth live and loads them on demand; a
:class:`Dataset` is an ordered list of samples with a class map, indexable by position or id.
Prediction runs attach to a dataset under a key (each run is itself a dataset of
predictions, aligned by sample id), and evaluation results attach per sample, so a catalog
and the app can sit on the same objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from segscope.core.classes import ClassMap
from segscope.core.instances import Instances
from segscope.errors import DataError

__all__ = ["Sample", "Dataset"]

Loader = Callable[[], Any]


@dataclass
class Sample:
    """One image and its optional ground truth, loaded lazily.

    Parameters
    ----------
    id : str
        Identifier unique in the dataset (usually the file stem).
    load_image, load_mask, load_instances, load_probs : callable, optional
        Zero-argument functions returning the image ``(H, W[, C])``, the label map
        ``(H, W)`` of class ids, the :class:`Instances`, and (for predictions) the
        ``(H, W, C)`` probabilities. Formats pass picklable
        ``functools.partial`` objects so datasets can cross process boundaries.
    image_path, mask_path : Path, optional
        Files behind the sample, for display and error messages.
    split : str, optional
        ``train``, ``val``, ``test`` or any name.
    metadata : dict
        Free-form, JSON-serialisable extras.
    metrics : dict
        Per-sample metric values by evaluation key, filled by evaluation runs.
    """

    id: str
    load_image: Loader | None = None
    load_mask: Loader | None = None
    load_instances: Loader | None = None
    load_probs: Loader | None = None
    image_path: Path | None = None
    mask_path: Path | None = None
    split: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def image(self) -> np.ndarray:
        if self.load_image is None:
            raise DataError(f"sample {self.id}: has no image")
        return self.load_image()

    @property
    def mask(self) -> np.ndarray | None:
        """Label map of class ids, or ``None`` when the sample has no semantic ground truth."""
        if self.load_mask is not None:
            return self.load_mask()
        if self.load_instances is not None:
            inst = self.load_instances()
            return inst.to_semantic() if inst is not None else None
        return None

    @property
    def instances(self) -> Instances | None:
        return None if self.load_instances is None else self.load_instances()

    @property
    def probs(self) -> np.ndarray | None:
        return None if self.load_probs is None else self.load_probs()

    @property
    def has_gt(self) -> bool:
        return self.load_mask is not None or self.load_instances is not None


class Dataset(Sequence[Sample]):
    """An ordered collection of samples with a class map.

    Parameters
    ----------
    samples : sequence of Sample
        In a stable order (sorted by id by the readers).
    class_map : ClassMap
        Names, colours and ignore value of the label maps.
    root : Path, optional
        Folder or file the dataset was read from.
    format : str, optional
        Registered format name it was read with.
    task : {"semantic", "instance"}
        Whether the ground truth is one label per pixel or one mask per object.
    notes : sequence of str
        Decisions a reader made that a user should know (e.g. "masks stored as 0/255 read
        as classes 0 and 1"); shown by ``segscope info``.

    Examples
    --------
    >>> ds = Dataset([Sample("a"), Sample("b", split="val")], ClassMap.default(2))
    >>> len(ds), ds["b"].split, ds.splits, len(ds.split("val"))
    (2, 'val', ['val'], 1)
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        class_map: ClassMap,
        *,
        root: Path | None = None,
        format: str | None = None,
        task: str = "semantic",
        notes: Sequence[str] = (),
        warnings: Sequence[str] = (),
    ) -> None:
        self.samples = list(samples)
        self.class_map = class_map
        self.root = root
        self.format = format
        self.task = task
        self.notes = list(notes)
        self.warnings = list(warnings)
        self.runs: dict[str, Dataset] = {}
        self._index = {s.id: i for i, s in enumerate(self.samples)}
        if len(self._index) != len(self.samples):
            seen: set[str] = set()
            dup = next(s.id for s in self.samples if s.id in seen or seen.add(s.id))  # type: ignore[func-returns-value]
            raise DataError(f"{root or 'dataset'}: sample id '{dup}' appears twice; ids must be unique")

    def __len__(self) -> int:
        return len(self.samples)

    @overload
    def __getitem__(self, key: int | str) -> Sample: ...

    @overload
    def __getitem__(self, key: slice) -> Dataset: ...

    def __getitem__(self, key: int | str | slice) -> Sample | Dataset:
        if isinstance(key, slice):
            return self._subset(self.samples[key])
        if isinstance(key, str):
            if key not in self._index:
                raise KeyError(f"no sample with id '{key}' in {self.root or 'dataset'}")
            return self.samples[self._index[key]]
        return self.samples[key]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __contains__(self, key: object) -> bool:
        return key in self._index if isinstance(key, str) else key in self.samples

    def __repr__(self) -> str:
        return (
            f"Dataset({len(self)} samples, task={self.task!r}, classes={list(self.class_map.names)}, "
            f"format={self.format!r}, root={str(self.root) if self.root else None!r})"
        )

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    @property
    def splits(self) -> list[str]:
        """Split names present, in first-seen order."""
        return list(dict.fromkeys(s.split for s in self.samples if s.split is not None))

    def split(self, name: str) -> Dataset:
        """The samples of one split; raises with the valid names if it does not exist."""
        picked = [s for s in self.samples if s.split == name]
        if not picked:
            raise DataError(
                f"{self.root or 'dataset'}: no split named '{name}'; splits present: {self.splits or 'none'}"
            )
        return self._subset(picked)

    def _subset(self, samples: Sequence[Sample]) -> Dataset:
        return Dataset(
            samples, self.class_map, root=self.root, format=self.format, task=self.task, notes=self.notes
        )

    def attach_run(self, key: str, predictions: Dataset) -> None:
        """Attach a prediction run (a dataset of predictions aligned by sample id) under ``key``."""
        self.runs[key] = predictions
