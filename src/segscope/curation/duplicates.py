"""Exact and near-duplicate images, grouped, and leakage of near-duplicates across splits.

* **exact**: a SHA-1 of the decoded pixels (shape, dtype and values), so the same image saved
  as PNG and as ``.npy`` is one image, while a re-encoded JPEG is not.
* **phash**: a 64-bit perceptual hash (DCT of a 32x32 grey thumbnail, the 8x8 lowest
  frequencies against their median); near-duplicates differ in a few bits. Robust to
  resizing and re-encoding; hashing five crops of each image as well makes it robust to
  slight crops.
* **embedding**: cosine distance between image embeddings (:mod:`segscope.curation.embeddings`).

Pairs closer than a threshold are joined into groups by connected components
(``scipy.sparse.csgraph``), so a chain of near-copies is one group. Leakage is a group whose
members lie in more than one split.

NumPy, OpenCV and SciPy only; no torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from segscope.core.image import to_display, validate_image
from segscope.errors import DataError, ParameterError
from segscope.registry import Registry

__all__ = [
    "DUPLICATE_METHODS",
    "DuplicateGroups",
    "content_hash",
    "perceptual_hash",
    "hamming_distances",
    "crop_variants",
    "phash_distances",
    "group_pairs",
    "find_duplicates",
    "find_leakage",
]

DUPLICATE_METHODS: Registry[str] = Registry("duplicate method")
DUPLICATE_METHODS.add("exact", "identical decoded pixels (SHA-1 of shape, dtype and values)")
DUPLICATE_METHODS.add("phash", "perceptual hash: DCT of a 32x32 thumbnail, Hamming distance <= threshold")
DUPLICATE_METHODS.add("embedding", "cosine distance between image embeddings <= threshold")

#: Default thresholds: bits out of 64 for ``phash``, cosine distance for ``embedding``.
DEFAULT_THRESHOLDS = {"exact": 0.0, "phash": 10.0, "embedding": 0.05}


def content_hash(image: np.ndarray) -> str:
    """SHA-1 hex digest of the decoded pixels, their shape and dtype.

    Examples
    --------
    >>> a = np.zeros((2, 3), np.uint8)
    >>> content_hash(a) == content_hash(a.copy()), content_hash(a) == content_hash(a.astype(np.uint16))
    (True, False)
    """
    image = np.ascontiguousarray(validate_image(image))
    h = hashlib.sha1(f"{image.shape}|{image.dtype.str}|".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def _grey_float(image: np.ndarray) -> np.ndarray:
    """Any image -> ``(H, W) float32`` grey in [0, 255] (display stretch for non-8-bit data)."""
    rgb = to_display(validate_image(image))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def perceptual_hash(image: np.ndarray, *, hash_size: int = 8, highfreq_factor: int = 4) -> np.ndarray:
    """Perceptual hash (pHash): ``hash_size**2`` bits from the DCT of a small grey thumbnail.

    The image is turned grey, resized to ``(hash_size * highfreq_factor)`` square with area
    averaging, transformed with OpenCV's DCT, and the ``hash_size x hash_size`` lowest
    frequencies are compared with their median (the pHash construction of Zauner 2010 and the
    ``imagehash`` package; written with OpenCV here to avoid a dependency).

    Parameters
    ----------
    image : (H, W[, C]) ndarray
    hash_size : int
        Side of the kept block of frequencies; 8 gives a 64-bit hash.
    highfreq_factor : int
        Thumbnail side is ``hash_size * highfreq_factor`` (32 by default).

    Returns
    -------
    (hash_size**2,) bool ndarray

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = cv2.GaussianBlur(rng.integers(0, 255, (64, 64), dtype=np.uint8), (9, 9), 3)
    >>> small = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
    >>> int((perceptual_hash(img) != perceptual_hash(small)).sum()) <= 6
    True
    """
    if hash_size < 2 or highfreq_factor < 1:
        raise ParameterError(f"hash_size={hash_size}, highfreq_factor={highfreq_factor}: use >= 2 and >= 1")
    side = hash_size * highfreq_factor
    thumb = cv2.resize(_grey_float(image), (side, side), interpolation=cv2.INTER_AREA)
    freq = cv2.dct(thumb)[:hash_size, :hash_size]
    return (freq > np.median(freq)).reshape(-1)


def hamming_distances(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``(N, M)`` number of differing bits between the rows of bool arrays ``a`` and ``b``.

    ``b`` defaults to ``a``.

    Examples
    --------
    >>> hamming_distances(np.array([[0, 1, 1], [1, 1, 0]], bool)).tolist()
    [[0, 2], [2, 0]]
    """
    x = np.asarray(a, dtype=np.float32)
    y = x if b is None else np.asarray(b, dtype=np.float32)
    # a != b counted as a(1-b) + (1-a)b: one matrix product each (exact for < 2**24 bits)
    return np.rint(x @ (1 - y).T + (1 - x) @ y.T).astype(np.int64)


def crop_variants(image: np.ndarray, *, crop: float = 0.1) -> list[np.ndarray]:
    """The image, its centre crop and its four corner crops, each ``1 - crop`` of each side.

    Hashing these lets a slightly cropped copy match its original (see :func:`phash_distances`).

    Examples
    --------
    >>> [v.shape for v in crop_variants(np.zeros((10, 20)), crop=0.2)][:3]
    [(10, 20), (8, 16), (8, 16)]
    """
    h, w = image.shape[:2]
    a, b = int(round(h * crop)), int(round(w * crop))
    if a == 0 and b == 0:
        return [image]
    return [
        image,
        image[a // 2 : h - (a - a // 2), b // 2 : w - (b - b // 2)],
        image[a:, b:],
        image[: h - a, : w - b],
        image[a:, : w - b],
        image[: h - a, b:],
    ]


def phash_distances(images: Sequence[np.ndarray], *, crop: float = 0.1, chunk: int = 512) -> np.ndarray:
    """``(N, N)`` Hamming distances of perceptual hashes, tolerant to slight crops.

    The distance of ``i`` and ``j`` is the smallest of: the whole of ``i`` against the whole
    of ``j`` or one of its crops (:func:`crop_variants`), and the other way round. A copy with
    up to about ``crop`` of a side cut away then lies a few bits from its original.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = cv2.GaussianBlur(rng.integers(0, 255, (64, 64), dtype=np.uint8), (9, 9), 3)
    >>> d = phash_distances([img, img[6:, 6:], rng.integers(0, 255, (64, 64), dtype=np.uint8)])
    >>> bool(d[0, 1] <= 4 and d[0, 2] > 16)
    True
    """
    variants = [[perceptual_hash(v) for v in crop_variants(im, crop=crop)] for im in images]
    n = len(variants)
    k = max(len(v) for v in variants)
    whole = np.stack([v[0] for v in variants])
    # pad to k variants per image by repeating the whole image's hash
    every = np.stack([np.stack(v + [v[0]] * (k - len(v))) for v in variants]).reshape(n * k, -1)
    dist = np.empty((n, n), np.int64)
    for start in range(0, n, chunk):
        block = hamming_distances(whole[start : start + chunk], every)
        dist[start : start + chunk] = block.reshape(-1, n, k).min(axis=2)
    return np.minimum(dist, dist.T)


def group_pairs(n: int, pairs: np.ndarray) -> list[list[int]]:
    """Connected components of the graph on ``n`` nodes with edges ``pairs`` (``(P, 2)``).

    Returns the groups of two or more nodes, each sorted, ordered by their first node.

    Examples
    --------
    >>> group_pairs(5, np.array([[0, 3], [3, 4]]))
    [[0, 3, 4]]
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(comp.tolist()):
        groups.setdefault(c, []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


@dataclass
class DuplicateGroups:
    """Groups of duplicate images found by :func:`find_duplicates`.

    Parameters
    ----------
    ids : list of str
        Sample ids, in dataset order.
    groups : list of list of str
        Each group's sample ids (two or more).
    method : str
        ``exact``, ``phash`` or ``embedding``.
    threshold : float
        Largest distance counted as a duplicate.
    distances : list of float
        Largest pairwise distance inside each group (0 for exact copies).
    splits : dict, optional
        Sample id -> split, to report leakage.
    """

    ids: list[str]
    groups: list[list[str]]
    method: str
    threshold: float
    distances: list[float] = field(default_factory=list)
    splits: dict[str, str | None] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def tags(self) -> dict[str, list[str]]:
        """Sample id -> tags: ``duplicate`` for every group member, ``leak`` across splits."""
        out: dict[str, list[str]] = {}
        leaking = {i for g in self.leaks() for i in g}
        for g in self.groups:
            for i in g:
                out[i] = ["duplicate", "leak"] if i in leaking else ["duplicate"]
        return out

    def leaks(self) -> list[list[str]]:
        """The groups whose members lie in two or more splits."""
        return [g for g in self.groups if len({self.splits.get(i) for i in g if self.splits.get(i)}) > 1]

    def rows(self) -> list[dict[str, Any]]:
        """One row per group: ``group``, ``size``, ``ids``, ``splits``, ``max_distance``, ``leak``."""
        rows = []
        for k, g in enumerate(self.groups):
            splits = sorted({s for i in g if (s := self.splits.get(i))})
            rows.append(
                {
                    "group": k,
                    "size": len(g),
                    "ids": list(g),
                    "splits": splits,
                    "max_distance": float(self.distances[k]) if k < len(self.distances) else None,
                    "leak": len(splits) > 1,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "duplicates",
            "method": self.method,
            "threshold": self.threshold,
            "ids": list(self.ids),
            "groups": [list(g) for g in self.groups],
            "distances": [float(d) for d in self.distances],
            "splits": dict(self.splits),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DuplicateGroups:
        return cls(
            ids=list(data["ids"]),
            groups=[list(g) for g in data["groups"]],
            method=str(data["method"]),
            threshold=float(data["threshold"]),
            distances=[float(d) for d in data.get("distances", [])],
            splits=dict(data.get("splits", {})),
        )


def _distance_matrix(
    method: str, images: Sequence[np.ndarray] | None, embeddings: np.ndarray | None, crop: float
) -> np.ndarray:
    if method == "phash":
        return phash_distances(list(images or []), crop=crop).astype(np.float64)
    if embeddings is None:
        raise ParameterError(
            "method 'embedding' needs embeddings=; compute them with segscope.curation.embed"
        )
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2:
        raise DataError(f"embeddings must be (N, D), got shape {e.shape}")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return np.clip(1.0 - e @ e.T, 0.0, 2.0)


def find_duplicates(
    images: Iterable[np.ndarray] | None = None,
    *,
    ids: Sequence[str] | None = None,
    method: str = "phash",
    threshold: float | None = None,
    embeddings: np.ndarray | None = None,
    splits: Mapping[str, str | None] | Sequence[str | None] | None = None,
    crop: float = 0.1,
) -> DuplicateGroups:
    """Group exact or near-duplicate images.

    Parameters
    ----------
    images : iterable of (H, W[, C]) ndarray, optional
        The images (any size, dtype and channel count); not needed for ``method="embedding"``.
    ids : sequence of str, optional
        One id per image; default ``"0"``, ``"1"``, ...
    method : {"exact", "phash", "embedding"}
        See the module docstring.
    threshold : float, optional
        Largest distance joined: Hamming bits (``phash``, default 10 of 64) or cosine distance
        (``embedding``, default 0.05). Ignored by ``exact``.
    embeddings : (N, D) ndarray, optional
        For ``method="embedding"``.
    splits : mapping id -> split or sequence, optional
        Split of each sample, to report leakage with :meth:`DuplicateGroups.leaks`.
    crop : float
        ``phash`` also matches crops cutting up to about this share of a side (0 turns it off).

    Returns
    -------
    DuplicateGroups

    Examples
    --------
    >>> a = np.arange(64, dtype=np.uint8).reshape(8, 8)
    >>> find_duplicates([a, a.T, a.copy()], method="exact").groups
    [['0', '2']]
    """
    DUPLICATE_METHODS.get(method)  # raises with the valid names
    method = method.strip().lower()
    imgs = None if images is None else list(images)
    if imgs is None and method != "embedding":
        raise ParameterError(f"method '{method}' needs the images; pass images=")
    if method == "embedding" and embeddings is None:
        raise ParameterError(
            "method 'embedding' needs embeddings= (CLI: --embeddings FILE from 'segscope embed')"
        )
    n = len(imgs) if imgs is not None else len(np.asarray(embeddings))
    if imgs is not None and embeddings is not None and len(embeddings) != n:
        raise DataError(f"{n} images but {len(embeddings)} embeddings; give one embedding per image")
    ids = [str(i) for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(ids) != n:
        raise DataError(f"{n} images but {len(ids)} ids; give one id per image")
    if splits is None:
        split_map: dict[str, str | None] = {}
    elif isinstance(splits, Mapping):
        split_map = {i: splits.get(i) for i in ids}
    else:
        split_map = dict(zip(ids, splits, strict=True))
    thr = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    if thr < 0:
        raise ParameterError(f"threshold={thr} must be >= 0")
    if not 0 <= crop < 0.5:
        raise ParameterError(f"crop={crop} must be in [0, 0.5); 0.1 matches copies with 10% cut away")

    if method == "exact":
        by_hash: dict[str, list[int]] = {}
        for i, im in enumerate(imgs or []):
            by_hash.setdefault(content_hash(im), []).append(i)
        index_groups = sorted((g for g in by_hash.values() if len(g) > 1), key=lambda g: g[0])
        dists = [0.0] * len(index_groups)
    else:
        dist = _distance_matrix(method, imgs, embeddings, crop)
        iu, ju = np.nonzero(np.triu(dist <= thr + 1e-12, k=1))
        index_groups = group_pairs(n, np.stack([iu, ju], axis=1))
        dists = [float(dist[np.ix_(g, g)].max()) for g in index_groups]
    return DuplicateGroups(
        ids=ids,
        groups=[[ids[i] for i in g] for g in index_groups],
        method=method,
        threshold=thr,
        distances=dists,
        splits=split_map,
    )


def find_leakage(groups: DuplicateGroups) -> list[dict[str, Any]]:
    """Rows of :meth:`DuplicateGroups.rows` for groups spanning two or more splits.

    Examples
    --------
    >>> g = DuplicateGroups(["a", "b"], [["a", "b"]], "exact", 0.0, [0.0], {"a": "train", "b": "test"})
    >>> find_leakage(g)[0]["splits"]
    ['test', 'train']
    """
    if not any(groups.splits.values()):
        raise DataError("the samples have no splits; leakage needs train/val/test splits (splits/*.txt)")
    return [r for r in groups.rows() if r["leak"]]
