"""Embeddings: weights-free descriptor, segscope model encoder, torchvision backbone, regions, 2-D maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segscope.curation.duplicates import find_duplicates
from segscope.curation.embeddings import (
    descriptor,
    embed_images,
    feature_maps,
    pool_regions,
    project_2d,
    region_embeddings,
)
from segscope.errors import DataError, ParameterError

TINY = {"encoder_depth": 3, "decoder_channels": (16, 8, 4)}


def test_descriptor_is_unit_norm_and_works_for_any_image():
    rng = np.random.default_rng(0)
    for img in (
        rng.integers(0, 255, (50, 70, 3), dtype=np.uint8),
        rng.integers(0, 65535, (40, 40), dtype=np.uint16),
        rng.random((33, 45, 5)).astype(np.float32),
    ):
        e = descriptor(img)
        assert e.shape == (410,) and e.dtype == np.float32
        assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)


def test_descriptor_near_duplicates_close_and_distinct_images_far(shapes40):
    imgs = list(shapes40.images[:20])
    copies = [cv2.resize(imgs[0], (70, 70), interpolation=cv2.INTER_AREA), imgs[1][4:-4, 4:-4]]
    emb = embed_images(imgs + copies)
    sim = emb @ emb.T
    assert sim[20, 0] > 0.97 and sim[21, 1] > 0.95
    off = sim[:20, :20][np.triu_indices(20, 1)]
    assert off.max() < min(sim[20, 0], sim[21, 1])
    res = find_duplicates(None, method="embedding", embeddings=emb, threshold=1 - (off.max() + 0.02))
    assert sorted(map(sorted, res.groups)) == [["0", "20"], ["1", "21"]]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from segscope.models import Preprocessing, create_model, save_model

    torch.manual_seed(0)
    net = create_model("unet", encoder="resnet18", in_channels=3, num_classes=4, **TINY)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, net, Preprocessing(3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), scale=255.0))
    return path


def test_model_encoder_embeddings_match_direct_encoder_call(tiny_model, shapes40):
    torch = pytest.importorskip("torch")
    from segscope.models.checkpoint import load_model

    imgs = list(shapes40.images[:3])
    emb = embed_images(imgs, method="model", model=tiny_model)
    net, pre = load_model(tiny_model)
    with torch.no_grad():
        x = torch.from_numpy(np.stack([pre.apply(im) for im in imgs]))
        ref = net.net.encoder(x)[-1].mean(dim=(2, 3)).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(emb, ref, atol=1e-5)


def test_region_embeddings_pool_inside_masks(tiny_model, shapes40):
    img, idm = shapes40.images[0], shapes40.id_maps[0]
    masks = np.stack([idm == k for k in range(1, idm.max() + 1)])
    (regions,) = region_embeddings([img], [masks], method="model", model=tiny_model)
    feats = next(iter(feature_maps([img], method="model", model=tiny_model)))
    assert regions.shape == (len(masks), feats.shape[0])
    # reference: weights = share of each feature cell covered by the mask (block mean)
    s = img.shape[0] // feats.shape[1]
    for k, m in enumerate(masks):
        w = m.reshape(feats.shape[1], s, feats.shape[2], s).mean(axis=(1, 3))
        ref = (feats * w).sum(axis=(1, 2)) / w.sum()
        np.testing.assert_allclose(regions[k], ref / np.linalg.norm(ref), atol=1e-5)


def test_pool_regions_empty_mask_and_errors():
    f = np.ones((3, 2, 2), np.float32)
    out = pool_regions(f, np.zeros((2, 8, 8), bool))
    assert out.shape == (2, 3) and not out.any()
    with pytest.raises(DataError, match="features must be \\(D, h, w\\)"):
        pool_regions(f[0], np.zeros((1, 8, 8), bool))


def test_torchvision_backbone_without_weights():
    pytest.importorskip("torchvision")
    rng = np.random.default_rng(0)
    emb = embed_images(
        [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(2)],
        method="torchvision", backbone="resnet18", weights=None,
    )  # fmt: skip
    assert emb.shape == (2, 512)
    with pytest.raises(ParameterError, match="unknown torchvision model 'resnet_nope'"):
        embed_images([np.zeros((32, 32, 3), np.uint8)], method="torchvision", backbone="resnet_nope")


def test_project_2d_pca_matches_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 6)) * np.array([5, 3, 1, 0.5, 0.1, 0.1])
    p = project_2d(x, method="pca")
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    ref = xc @ vt[:2].T
    np.testing.assert_allclose(np.abs(p), np.abs(ref), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_project_2d_tsne_separates_clusters():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 0.1, (15, 4)), rng.normal(5, 0.1, (15, 4))]
    p = project_2d(x, method="tsne")
    assert p.shape == (30, 2)
    assert np.linalg.norm(p[:15].mean(0) - p[15:].mean(0)) > 3 * max(p[:15].std(), p[15:].std())


@pytest.mark.slow
def test_project_2d_umap():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 0.1, (15, 4)), rng.normal(5, 0.1, (15, 4))]
    p = project_2d(x, method="umap")
    a, b = p[:15].mean(0), p[15:].mean(0)
    assert np.linalg.norm(a - b) > 3 * max(p[:15].std(), p[15:].std())


def test_errors():
    with pytest.raises(ParameterError, match="unknown embedder 'hog'"):
        embed_images([np.zeros((8, 8))], method="hog")
    with pytest.raises(ParameterError, match="needs model=RUN_DIR"):
        embed_images([np.zeros((8, 8))], method="model")
    with pytest.raises(ParameterError, match="unknown projection 'mds'"):
        project_2d(np.zeros((5, 3)), method="mds")
    with pytest.raises(DataError, match="N >= 3"):
        project_2d(np.zeros((2, 3)))
