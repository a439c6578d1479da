"""Instances: one mask per object (COCO RLE through pycocotools), with label, score and box."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from segscope.errors import DataError

__all__ = ["Instances", "rle_areas"]


def rle_areas(rles: Sequence[dict[str, Any]]) -> np.ndarray:
    """Pixel count of each RLE, ``(N,)`` int64.

    pycocotools' ``area()`` sizes a scratch array as uint8 from the RLE count, which NumPy 2
    rejects (OverflowError) for more than 255 RLEs; calling it in chunks avoids that.
    """
    out = np.zeros(len(rles), np.int64)
    for s in range(0, len(rles), 255):
        out[s : s + 255] = mask_utils.area(list(rles[s : s + 255]))
    return out


def _rles_from_sorted_positions(
    order: np.ndarray, starts: np.ndarray, ends: np.ndarray, h: int, w: int
) -> list[dict[str, Any]]:
    """Compressed RLEs of objects whose column-major pixel positions are ``order[s:e]`` (ascending).

    pycocotools has no encoder from positions, so the uncompressed counts are built here and
    compressed by ``frPyObjects``.
    """
    uncompressed = []
    total = h * w
    for s, e in zip(starts, ends, strict=True):
        pos = order[s:e]
        breaks = np.flatnonzero(np.diff(pos) != 1) + 1
        run_starts = pos[np.r_[0, breaks]]
        run_ends = pos[np.r_[breaks - 1, pos.size - 1]] + 1
        # counts alternate background, foreground: gap before each run, then the run.
        gaps = run_starts - np.r_[0, run_ends[:-1]]
        counts = np.empty(2 * run_starts.size + 1, np.int64)
        counts[0:-1:2] = gaps
        counts[1:-1:2] = run_ends - run_starts
        counts[-1] = total - run_ends[-1]
        if counts[-1] == 0:  # pycocotools' encoder writes no empty trailing run
            counts = counts[:-1]
        uncompressed.append({"size": [h, w], "counts": counts.tolist()})
    return list(mask_utils.frPyObjects(uncompressed, h, w)) if uncompressed else []


def _encode(masks: np.ndarray) -> list[dict[str, Any]]:
    """``(N, H, W)`` bool -> list of compressed RLEs (pycocotools wants Fortran order)."""
    if len(masks) == 0:
        return []
    return list(mask_utils.encode(np.asfortranarray(np.moveaxis(masks, 0, -1).astype(np.uint8))))


@dataclass
class Instances:
    """Objects in one image: COCO compressed RLE masks, class labels, scores and crowd flags.

    Parameters
    ----------
    rles : list of dict
        Compressed RLEs as produced by ``pycocotools.mask.encode`` (``size`` is ``[H, W]``).
    labels : (N,) int array
        Class id per object.
    scores : (N,) float array, optional
        Confidence per object; ``None`` for ground truth.
    iscrowd : (N,) bool array, optional
        COCO crowd flag per object (crowd regions are ignored in evaluation).
    height, width : int
        Image size.

    Examples
    --------
    >>> ids = np.array([[0, 1, 1], [0, 0, 2]])
    >>> inst = Instances.from_id_map(ids)
    >>> len(inst), inst.areas.tolist(), inst.boxes.tolist()
    (2, [2, 1], [[1.0, 0.0, 3.0, 1.0], [2.0, 1.0, 3.0, 2.0]])
    >>> bool((inst.to_id_map() == ids).all())
    True
    """

    rles: list[dict[str, Any]]
    labels: np.ndarray
    height: int
    width: int
    scores: np.ndarray | None = None
    iscrowd: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.rles)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if self.labels.shape != (n,):
            raise DataError(f"instances: {n} masks but {self.labels.size} labels; give one label per mask")
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
            if self.scores.shape != (n,):
                raise DataError(
                    f"instances: {n} masks but {self.scores.size} scores; give one score per mask"
                )
        if self.iscrowd is None:
            self.iscrowd = np.zeros(n, dtype=bool)
        self.iscrowd = np.asarray(self.iscrowd, dtype=bool).reshape(-1)
        if self.iscrowd.shape != (n,):
            raise DataError(f"instances: {n} masks but {self.iscrowd.size} crowd flags")
        for rle in self.rles:
            if list(rle["size"]) != [self.height, self.width]:
                raise DataError(
                    f"instances: an RLE has size {list(rle['size'])} but the image is "
                    f"{[self.height, self.width]}; encode masks at the image size"
                )

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, height: int, width: int, *, with_scores: bool = False) -> Instances:
        return cls([], np.zeros(0, np.int64), height, width, np.zeros(0) if with_scores else None)

    @classmethod
    def from_masks(
        cls,
        masks: np.ndarray,
        labels: Sequence[int] | np.ndarray | None = None,
        scores: Sequence[float] | np.ndarray | None = None,
        iscrowd: Sequence[bool] | np.ndarray | None = None,
    ) -> Instances:
        """From a ``(N, H, W)`` boolean stack; labels default to 1."""
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise DataError(f"instance masks must be (N, H, W), got shape {masks.shape}")
        n, h, w = masks.shape
        labels = np.ones(n, np.int64) if labels is None else labels
        return cls(_encode(masks.astype(bool)), labels, h, w, scores, iscrowd)  # type: ignore[arg-type]

    @classmethod
    def from_id_map(
        cls,
        id_map: np.ndarray,
        labels: Sequence[int] | np.ndarray | dict[int, int] | None = None,
        *,
        semantic: np.ndarray | None = None,
        ignore_index: int = 255,
    ) -> Instances:
        """From an instance-id map (0 = background, k = object k), in ascending id order.

        Labels come from ``labels`` (a sequence in id order or a dict id -> label), else from
        the most frequent non-ignore value of ``semantic`` inside each object, else 1.
        """
        id_map = np.asarray(id_map)
        if id_map.ndim != 2 or not np.issubdtype(id_map.dtype, np.integer):
            raise DataError(
                f"an instance-id map must be a 2-D integer array, got {id_map.shape} {id_map.dtype}"
            )
        if id_map.size and int(id_map.min()) < 0:
            raise DataError(f"an instance-id map must hold ids >= 0, found {int(id_map.min())}")
        h, w = id_map.shape
        # One stable sort of the column-major pixels gives, per object, its pixel positions in
        # ascending order; run lengths follow from where positions stop being consecutive. This
        # builds every RLE in O(pixels log pixels) without an (H, W) array per object.
        flat = id_map.ravel(order="F")
        order = np.argsort(flat, kind="stable")
        sorted_ids = flat[order]
        ids = np.unique(sorted_ids)
        ids = ids[ids != 0]
        if ids.size == 0:
            return cls.empty(h, w)
        starts = np.searchsorted(sorted_ids, ids, side="left")
        ends = np.searchsorted(sorted_ids, ids, side="right")
        rles = _rles_from_sorted_positions(order, starts, ends, h, w)
        if isinstance(labels, dict):
            lab = np.array([labels.get(int(i), 1) for i in ids], np.int64)
        elif labels is not None:
            lab = np.asarray(labels, np.int64)
        elif semantic is not None:
            sem = np.asarray(semantic).ravel(order="F")
            lab = np.ones(ids.size, np.int64)
            for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
                vals = sem[order[s:e]]
                vals = vals[vals != ignore_index]
                if vals.size:
                    lab[k] = np.bincount(vals.astype(np.int64)).argmax()
        else:
            lab = np.ones(ids.size, np.int64)
        inst = cls(rles, lab, h, w)
        # Objects of an id map never overlap, so the map renumbered 1..N is exactly to_id_map().
        lut = np.zeros(int(ids[-1]) + 1, np.uint32)
        lut[ids] = np.arange(1, ids.size + 1)
        inst._id_map = lut[id_map]
        return inst

    @classmethod
    def from_semantic(
        cls, mask: np.ndarray, *, ignore_index: int = 255, background: int | None = 0, connectivity: int = 2
    ) -> Instances:
        """Connected components of each class of a label map become instances.

        ``ignore_index`` pixels become crowd regions (one per connected component), so
        evaluation ignores them as COCO does.
        """
        from scipy import ndimage

        mask = np.asarray(mask)
        structure = ndimage.generate_binary_structure(2, connectivity)
        masks: list[np.ndarray] = []
        labels: list[int] = []
        crowd: list[bool] = []
        for value in np.unique(mask):
            if background is not None and value == background:
                continue
            comps, n = ndimage.label(mask == value, structure=structure)
            for k in range(1, n + 1):
                masks.append(comps == k)
                labels.append(int(value))
                crowd.append(bool(value == ignore_index))
        h, w = mask.shape
        if not masks:
            return cls.empty(h, w)
        return cls.from_masks(np.stack(masks), labels, iscrowd=crowd)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.rles)

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> Instances:
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return Instances(
            [self.rles[i] for i in idx],
            self.labels[idx],
            self.height,
            self.width,
            None if self.scores is None else self.scores[idx],
            self.iscrowd[idx],
        )

    @property
    def areas(self) -> np.ndarray:
        """Pixel count per object, ``(N,)`` int."""
        return rle_areas(self.rles)

    @property
    def boxes_xywh(self) -> np.ndarray:
        """COCO boxes ``[x, y, w, h]`` per object, ``(N, 4)`` float."""
        if not self.rles:
            return np.zeros((0, 4))
        return np.asarray(mask_utils.toBbox(self.rles), np.float64).reshape(-1, 4)

    @property
    def boxes(self) -> np.ndarray:
        """Boxes ``[x1, y1, x2, y2]`` per object (torchvision convention), ``(N, 4)`` float."""
        b = self.boxes_xywh.copy()
        b[:, 2:] += b[:, :2]
        return b

    def to_masks(self) -> np.ndarray:
        """``(N, H, W)`` bool stack."""
        if not self.rles:
            return np.zeros((0, self.height, self.width), bool)
        return np.moveaxis(mask_utils.decode(self.rles), -1, 0).astype(bool)

    def to_id_map(self, dtype: np.dtype | type | None = None) -> np.ndarray:
        """Instance-id map, object k (0-based) -> id k + 1; later objects are drawn on top."""
        n = len(self)
        dtype = dtype or (np.uint8 if n < 256 else np.uint16 if n < 65536 else np.uint32)
        cached = getattr(self, "_id_map", None)
        if cached is not None:
            return cached.astype(dtype)
        out = np.zeros((self.height, self.width), dtype)
        for k, rle in enumerate(self.rles):
            out[mask_utils.decode(rle).astype(bool)] = k + 1
        return out

    def to_semantic(
        self, *, background: int = 0, ignore_index: int = 255, dtype: Any = np.uint8
    ) -> np.ndarray:
        """Label map painted with each object's label (later objects on top); crowd -> ignore."""
        cached = getattr(self, "_id_map", None)
        if cached is not None:
            lut = np.r_[background, np.where(self.iscrowd, ignore_index, self.labels)].astype(dtype)
            return lut[cached]
        out = np.full((self.height, self.width), background, dtype)
        for rle, label, crowd in zip(self.rles, self.labels, self.iscrowd, strict=True):
            out[mask_utils.decode(rle).astype(bool)] = ignore_index if crowd else label
        return out

    def to_coco(
        self, image_id: int, *, first_id: int = 1, category_ids: dict[int, int] | None = None
    ) -> list[dict[str, Any]]:
        """COCO annotation dicts (RLE counts as str), ids from ``first_id``.

        ``category_ids`` maps labels to COCO category ids (identity by default). Scores are
        written when present, so the output is a valid COCO results list too.
        """
        anns = []
        areas = self.areas
        boxes = self.boxes_xywh
        for k, rle in enumerate(self.rles):
            counts = rle["counts"]
            ann: dict[str, Any] = {
                "id": first_id + k,
                "image_id": image_id,
                "category_id": int((category_ids or {}).get(int(self.labels[k]), self.labels[k])),
                "segmentation": {
                    "size": [int(self.height), int(self.width)],
                    "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
                },
                "area": int(areas[k]),
                "bbox": [float(v) for v in boxes[k]],
                "iscrowd": int(self.iscrowd[k]),
            }
            if self.scores is not None:
                ann["score"] = float(self.scores[k])
            anns.append(ann)
        return anns
