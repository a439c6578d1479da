"""Image and region embeddings, and 2-D maps of them for the app's embeddings view.

Three embedders, by name (:data:`EMBEDDERS`):

* ``descriptor``: needs no weights, works offline on any image: grey-level/colour
  histograms, a HOG descriptor and a uniform-LBP histogram (scikit-image) and an 8x8
  thumbnail, each block L2-normalised, then the whole vector L2-normalised.
* ``model``: a trained segscope model (run dir or checkpoint); its encoder's deepest
  feature map, average-pooled (torch imported inside the function).
* ``torchvision``: a torchvision classification backbone through its weights API
  (``resnet18`` with ``weights="DEFAULT"``, ``"IMAGENET1K_V1"``, a local state-dict file, or
  none), with its classifier removed.

Region embeddings pool a feature map inside each mask (:func:`pool_regions`), so one vector
describes one object or one class region. 2-D maps come from PCA or t-SNE (scikit-learn) or
UMAP (umap-learn).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segscope.core.image import to_display, validate_image
from segscope.errors import DataError, MissingDependencyError, ParameterError
from segscope.registry import Registry

__all__ = [
    "EMBEDDERS",
    "PROJECTIONS",
    "descriptor",
    "embed_images",
    "pool_regions",
    "region_embeddings",
    "feature_maps",
    "project_2d",
    "l2_normalize",
]

EMBEDDERS: Registry[str] = Registry("embedder")
EMBEDDERS.add("descriptor", "weights-free: histograms + HOG + LBP + thumbnail (scikit-image), offline")
EMBEDDERS.add("model", "a trained segscope model's encoder, average-pooled (--model RUN_DIR)")
EMBEDDERS.add(
    "torchvision", "a torchvision backbone by name (--backbone resnet18 --weights DEFAULT|PATH|none)"
)

PROJECTIONS: Registry[str] = Registry("projection")
PROJECTIONS.add("pca", "principal components (scikit-learn), deterministic and fast")
PROJECTIONS.add("umap", "UMAP (umap-learn): keeps local neighbourhoods")
PROJECTIONS.add("tsne", "t-SNE (scikit-learn): keeps local neighbourhoods, slower")


def l2_normalize(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Divide by the L2 norm along ``axis`` (zero vectors stay zero).

    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]])).astype(float).round(3).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return np.where(n > 0, x / np.maximum(n, 1e-12), 0.0).astype(np.float32)


def descriptor(image: np.ndarray, *, size: int = 64, bins: int = 16) -> np.ndarray:
    """A weights-free image embedding (needs no model, works offline).

    The image is shown as 8-bit RGB (:func:`segscope.core.image.to_display`, so any dtype
    and channel count works) and resized to ``size`` square. Blocks, each L2-normalised:
    per-channel histograms (``bins`` each), HOG of the grey image (``skimage.feature.hog``,
    16-pixel cells), a uniform LBP histogram (``skimage.feature.local_binary_pattern``, P=8,
    R=1) and the 8x8 grey thumbnail minus its mean. The concatenation is L2-normalised.

    Parameters
    ----------
    image : (H, W[, C]) ndarray
    size : int
        Side of the working thumbnail (at least 32).
    bins : int
        Histogram bins per channel.

    Returns
    -------
    (D,) float32 ndarray
        ``D = 3 * bins + HOG + 10 + 64`` (410 for the defaults).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> e = descriptor(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    >>> e.shape, round(float(np.linalg.norm(e)), 4)
    ((410,), 1.0)
    """
    from skimage.feature import hog, local_binary_pattern

    if size < 32:
        raise ParameterError(f"size={size}: use at least 32 pixels")
    rgb = to_display(validate_image(image))
    rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hist = np.concatenate(
        [
            np.bincount(((rgb[..., c].astype(np.int64) * bins) // 256).ravel(), minlength=bins)
            for c in range(3)
        ]
    ).astype(np.float32)
    hog_vec = hog(grey, orientations=8, pixels_per_cell=(16, 16), cells_per_block=(2, 2), feature_vector=True)
    lbp = local_binary_pattern(grey, P=8, R=1, method="uniform")
    lbp_hist = np.bincount(lbp.astype(np.int64).ravel(), minlength=10)[:10].astype(np.float32)
    thumb = cv2.resize(grey, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    blocks = [hist, hog_vec, lbp_hist, thumb - thumb.mean()]
    return l2_normalize(np.concatenate([l2_normalize(b) for b in blocks]))


# --------------------------------------------------------------------------- torch side
def _torchvision_backbone(
    name: str, weights: str | os.PathLike[str] | None
) -> tuple[Any, Any, list[float], list[float]]:
    """(module without classifier, torch, mean, std) for a torchvision classification model."""
    import torch
    from torchvision import models

    path = Path(weights) if weights is not None and Path(str(weights)).is_file() else None
    tv_weights = None
    if weights not in (None, "none") and path is None:
        try:
            tv_weights = models.get_model_weights(name).verify(weights if weights != "default" else "DEFAULT")
        except (ValueError, KeyError) as exc:
            raise ParameterError(
                f"torchvision weights '{weights}' for '{name}': {exc}; use DEFAULT, a weights name, "
                "a local .pth file or none"
            ) from exc
    try:
        net = models.get_model(name, weights=tv_weights)
    except ValueError as exc:
        raise ParameterError(
            f"unknown torchvision model '{name}'; see torchvision.models.list_models()"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - download failures come as many types
        raise ParameterError(
            f"cannot get torchvision weights '{weights}' for '{name}' ({type(exc).__name__}: {exc}); "
            "no network? pass a local .pth file or --weights none"
        ) from exc
    if path is not None:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    # the classifier is the last attribute under one of these names in torchvision's models
    for attr in ("fc", "classifier", "heads", "head"):
        if hasattr(net, attr):
            setattr(net, attr, torch.nn.Identity())
            break
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    if tv_weights is not None:
        tf = tv_weights.transforms()
        mean, std = list(getattr(tf, "mean", mean)), list(getattr(tf, "std", std))
    return net.eval(), torch, mean, std


def _segscope_encoder(model: str | os.PathLike[str] | Any) -> tuple[Callable[[Any], Any], Any, Any, int]:
    """(features fn: x -> (N, D, h, w), preprocessing, torch, divisor) for a segscope model."""
    import torch

    from segscope.models.checkpoint import load_model

    if isinstance(model, tuple):
        net, pre = model
    else:
        net, pre = load_model(model)
    net = net.eval()
    inner = net.net
    if hasattr(inner, "encoder"):  # segmentation_models_pytorch

        def features(x: Any) -> Any:
            return inner.encoder(x)[-1]

    elif hasattr(inner, "backbone"):  # torchvision segmentation models

        def features(x: Any) -> Any:
            return inner.backbone(x)["out"]

    else:
        raise ParameterError(f"model {net.config.get('arch')} has no encoder or backbone to embed with")
    return features, pre, torch, net.divisor


def feature_maps(
    images: Iterable[np.ndarray],
    *,
    method: str = "model",
    model: str | os.PathLike[str] | Any = None,
    backbone: str = "resnet18",
    weights: str | os.PathLike[str] | None = None,
    size: int | None = None,
) -> Iterable[np.ndarray]:
    """Yield the deepest encoder feature map ``(D, h, w)`` of each image (torch inside).

    Parameters
    ----------
    images : iterable of (H, W[, C]) ndarray
    method : {"model", "torchvision"}
    model : path or (net, preprocessing), for ``method="model"``
        A ``segscope train`` run dir, checkpoint or model file.
    backbone, weights : for ``method="torchvision"``
        A torchvision model name and ``DEFAULT`` / a weights name / a local file / ``None``.
    size : int, optional
        Resize each image to ``size`` square first (keeps memory and time bounded).
    """
    if method == "model":
        if model is None:
            raise ParameterError("method 'model' needs model=RUN_DIR (a 'segscope train' run or checkpoint)")
        fn, pre, torch, divisor = _segscope_encoder(model)

        def prepare(image: np.ndarray) -> np.ndarray:
            return pre.apply(image)

    elif method == "torchvision":
        net, torch, mean, std = _torchvision_backbone(backbone, weights)
        body = _strip_pool(net, torch)
        divisor = 32
        m = np.asarray(mean, np.float32)[:, None, None]
        s = np.asarray(std, np.float32)[:, None, None]

        def fn(x: Any) -> Any:
            return body(x)

        def prepare(image: np.ndarray) -> np.ndarray:
            rgb = to_display(validate_image(image)).astype(np.float32) / 255.0
            return (rgb.transpose(2, 0, 1) - m) / s

    else:
        raise ParameterError(f"feature_maps method '{method}': use 'model' or 'torchvision'")
    with torch.inference_mode():
        for image in images:
            image = np.asarray(image)
            if size is not None:
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            x = prepare(image)[None]
            h, w = x.shape[-2:]
            ph, pw = -(-h // divisor) * divisor, -(-w // divisor) * divisor
            if (ph, pw) != (h, w):
                x = np.pad(x, ((0, 0), (0, 0), (0, ph - h), (0, pw - w)), mode="edge")
            out = fn(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
            yield out[0].float().cpu().numpy()


def _strip_pool(net: Any, torch: Any) -> Any:
    """A torchvision classifier without its global pooling and flatten, returning (N, D, h, w)."""
    children = list(net.named_children())
    if hasattr(net, "features"):  # VGG, MobileNet, EfficientNet, ConvNeXt, DenseNet...
        return net.features
    keep = [m for name, m in children if name not in ("avgpool", "fc", "classifier", "head", "heads")]
    return torch.nn.Sequential(*keep)


def embed_images(
    images: Iterable[np.ndarray],
    *,
    method: str = "descriptor",
    model: str | os.PathLike[str] | Any = None,
    backbone: str = "resnet18",
    weights: str | os.PathLike[str] | None = None,
    size: int | None = None,
    total: int | None = None,
) -> np.ndarray:
    """``(N, D) float32`` L2-normalised embeddings of images.

    Parameters
    ----------
    images : iterable of (H, W[, C]) ndarray
    method : {"descriptor", "model", "torchvision"}
        See :data:`EMBEDDERS`.
    model, backbone, weights, size
        As in :func:`feature_maps` (``size`` defaults to 64 for the descriptor).
    total : int, optional
        Number of images, for the progress bar.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> embed_images([rng.integers(0, 255, (40, 40), dtype=np.uint8) for _ in range(3)]).shape
    (3, 410)
    """
    from segscope.utils.progress import progress

    EMBEDDERS.get(method)
    method = method.strip().lower()
    if method == "descriptor":
        vecs = [descriptor(im, size=size or 64) for im in progress(images, total=total, desc="embed")]
    else:
        maps = feature_maps(images, method=method, model=model, backbone=backbone, weights=weights, size=size)
        vecs = [f.mean(axis=(1, 2)) for f in progress(maps, total=total, desc="embed")]
    if not vecs:
        raise DataError("no images to embed")
    return l2_normalize(np.stack(vecs))


def pool_regions(features: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Average a ``(D, h, w)`` feature map inside each of ``(K, H, W)`` masks -> ``(K, D)``.

    Each mask is area-resized to the feature map's grid, so a feature cell counts with the
    share of it the region covers; a region smaller than a cell still gets the cells it
    touches. L2-normalised; an empty mask gives a zero vector.

    Examples
    --------
    >>> f = np.arange(8, dtype=np.float32).reshape(2, 2, 2)  # D=2, 2x2 grid
    >>> m = np.zeros((1, 4, 4), bool); m[0, :2, :2] = True     # top-left quarter
    >>> (pool_regions(f, m) * np.linalg.norm([0, 4])).round(3).tolist()
    [[0.0, 4.0]]
    """
    features = np.asarray(features, dtype=np.float32)
    masks = np.asarray(masks)
    if features.ndim != 3 or masks.ndim != 3:
        raise DataError(
            f"features must be (D, h, w) and masks (K, H, W); got {features.shape} and {masks.shape}"
        )
    d, h, w = features.shape
    weights = (
        np.stack([cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) for m in masks])
        if len(masks)
        else np.zeros((0, h, w), np.float32)
    )
    sums = weights.reshape(len(masks), -1).sum(axis=1, keepdims=True)
    pooled = weights.reshape(len(masks), -1) @ features.reshape(d, -1).T
    return l2_normalize(np.where(sums > 0, pooled / np.maximum(sums, 1e-12), 0.0))


def region_embeddings(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    **kwargs: Any,
) -> list[np.ndarray]:
    """Per-region embeddings: encoder features pooled inside each region mask.

    Parameters
    ----------
    images : sequence of (H, W[, C]) ndarray
    masks : sequence of (K_i, H, W) bool ndarray
        The regions of each image (instances' ``to_masks()``, or one mask per class).
    **kwargs
        ``method`` (``model`` or ``torchvision``), ``model``, ``backbone``, ``weights``, as in
        :func:`feature_maps` (no ``size``: features must align with the masks).

    Returns
    -------
    list of (K_i, D) float32 ndarray
    """
    if len(images) != len(masks):
        raise DataError(f"{len(images)} images but {len(masks)} mask stacks; give one stack per image")
    out = []
    for feats, m in zip(feature_maps(images, **kwargs), masks, strict=True):
        out.append(pool_regions(feats, m))
    return out


def project_2d(embeddings: np.ndarray, *, method: str = "pca", seed: int = 0, **options: Any) -> np.ndarray:
    """``(N, 2) float32`` map of ``(N, D)`` embeddings for a scatter plot.

    Parameters
    ----------
    embeddings : (N, D) ndarray
    method : {"pca", "umap", "tsne"}
    seed : int
        Random state (UMAP, t-SNE).
    **options
        Passed to the estimator (``n_neighbors=`` for UMAP, ``perplexity=`` for t-SNE).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> project_2d(rng.normal(size=(20, 5))).shape
    (20, 2)
    """
    PROJECTIONS.get(method)
    method = method.strip().lower()
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or len(x) < 3:
        raise DataError(f"embeddings must be (N, D) with N >= 3 to map in 2-D; got shape {x.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA

        out = (
            PCA(n_components=2, random_state=seed).fit_transform(x)
            if x.shape[1] >= 2
            else np.c_[x, np.zeros(len(x))]
        )
    elif method == "tsne":
        from sklearn.manifold import TSNE

        opts = {"perplexity": min(30.0, (len(x) - 1) / 3), "init": "pca", **options}
        out = TSNE(n_components=2, random_state=seed, **opts).fit_transform(x)
    else:
        try:
            import umap
        except ImportError as exc:  # pragma: no cover - pinned dependency
            raise MissingDependencyError("UMAP maps need umap-learn: pip install umap-learn") from exc
        opts = {"n_neighbors": min(15, len(x) - 1), **options}
        out = umap.UMAP(n_components=2, random_state=seed, n_jobs=1, **opts).fit_transform(x)
    return np.asarray(out, dtype=np.float32)
