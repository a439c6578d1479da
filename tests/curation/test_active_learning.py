"""Active learning: acquisition scores, k-centre greedy, strategies and the exported batch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segscope.core.classes import ClassMap
from segscope.curation.active_learning import (
    STRATEGIES,
    Selection,
    acquisition_score,
    balanced_class_weights,
    export_batch,
    k_center_greedy,
    select,
    uncertainty_map,
)
from segscope.errors import DataError, ParameterError
from segscope.formats import load_dataset

from .conftest import simulated_probs


def test_uncertainty_measures_against_formulas():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=(5, 6)).astype(np.float32)
    s = np.sort(p, axis=2)
    np.testing.assert_allclose(uncertainty_map(p, measure="least-confidence"), 1 - s[..., -1], atol=1e-6)
    np.testing.assert_allclose(uncertainty_map(p, measure="margin"), 1 - (s[..., -1] - s[..., -2]), atol=1e-6)
    np.testing.assert_allclose(
        uncertainty_map(p, measure="entropy"), -(p * np.log(p)).sum(2) / np.log(4), atol=1e-5
    )
    u = uncertainty_map(p).ravel()
    assert acquisition_score(p, reduce="topk", top_k=0.2) == pytest.approx(np.sort(u)[-6:].mean(), rel=1e-6)


def test_k_center_greedy_against_brute_force_objective():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    picked = k_center_greedy(x, 5, labelled=[0, 1])
    assert len(set(picked)) == 5 and not {0, 1} & set(picked)

    # greedy is a 2-approximation of the optimal k-centre radius; check the radius shrinks
    def radius(centres):
        return np.sqrt(((x[:, None] - x[centres][None]) ** 2).sum(-1)).min(1).max()

    radii = [radius([0, 1, *picked[:j]]) for j in range(6)]
    assert all(a >= b for a, b in zip(radii, radii[1:], strict=False)) and radii[-1] < radii[0]
    # each pick is the farthest point from the current centres
    for j, p in enumerate(picked):
        centres = [0, 1, *picked[:j]]
        d = np.sqrt(((x[:, None] - x[centres][None]) ** 2).sum(-1)).min(1)
        assert d[p] == pytest.approx(d.max())


def test_strategies_choose_as_documented():
    ids = [f"s{i}" for i in range(10)]
    scores = {i: float(k) for k, i in enumerate(ids)}
    # two tight clusters among the most uncertain: diversity takes one from each
    emb = np.zeros((10, 2))
    emb[9], emb[8], emb[7], emb[6] = [0, 0], [0, 0.01], [10, 10], [10, 10.01]
    assert select(ids, budget=2, strategy="entropy", scores=scores).ids == ["s9", "s8"]
    div = select(ids, budget=2, strategy="entropy-diversity", scores=scores, embeddings=emb, candidates=2)
    # first pick: the candidate farthest from the mean (s6), then the farthest from it (s9)
    assert div.ids == ["s6", "s9"] and div.params["candidates"] == 4
    r1 = select(ids, budget=3, strategy="random", seed=4).ids
    assert r1 == select(ids, budget=3, strategy="random", seed=4).ids and len(set(r1)) == 3
    assert Selection.from_dict(div.to_dict()) == div
    assert "entropy-diversity" in STRATEGIES.list()


def test_export_batch_writes_readable_pre_annotations(tmp_path, shapes40):
    rng = np.random.default_rng(0)
    ids = shapes40.ids[:12]
    probs = {
        i: simulated_probs(m, rng, num_classes=4, noise=3.0)
        for i, m in zip(ids, shapes40.masks, strict=False)
    }
    scores = {i: acquisition_score(p) for i, p in probs.items()}
    from segscope.curation.embeddings import embed_images

    emb = embed_images(shapes40.images[:12])
    sel = select(ids, budget=4, strategy="entropy-diversity", scores=scores, embeddings=emb)
    preds = {i: probs[i].argmax(2).astype(np.uint8) for i in ids}
    images = dict(zip(ids, shapes40.images, strict=False))
    cm = ClassMap(["background", "ellipse", "rectangle", "triangle"])
    info = export_batch(sel, images=images, masks=preds, class_map=cm, out=tmp_path / "batch")
    ds = load_dataset(tmp_path / "batch", format="mask-folder")
    assert sorted(ds.ids) == sorted(sel.ids) and info["images"] == 4
    for s in ds:
        np.testing.assert_array_equal(s.mask, preds[s.id])
        np.testing.assert_array_equal(s.image, images[s.id])
    coco = json.loads((tmp_path / "batch" / "annotations.json").read_text())
    assert len(coco["annotations"]) == info["annotations"] > 0
    assert json.loads((tmp_path / "batch" / "selection.json").read_text())["ids"] == sel.ids


def test_errors():
    with pytest.raises(ParameterError, match="unknown strategy 'entropi'.*did you mean 'entropy'"):
        select(["a"], budget=1, strategy="entropi")
    with pytest.raises(ParameterError, match="needs acquisition scores"):
        select(["a"], budget=1, strategy="margin")
    with pytest.raises(ParameterError, match="needs embeddings"):
        select(["a"], budget=1, strategy="entropy-diversity", scores=[1.0])
    with pytest.raises(DataError, match="2 pool ids but 1 scores"):
        select(["a", "b"], budget=1, strategy="entropy", scores=[1.0])
    with pytest.raises(ParameterError, match="budget=0"):
        select(["a"], budget=0, strategy="random")
    with pytest.raises(ParameterError, match="reduce 'max'"):
        acquisition_score(np.full((2, 2, 2), 0.5, np.float32), reduce="max")
    with pytest.raises(DataError, match="no image or predicted mask"):
        export_batch(["x"], images={}, masks={}, class_map=ClassMap.default(2), out="unused")


def test_balanced_class_weights_match_sklearn_and_cover_absent_classes():
    from sklearn.utils.class_weight import compute_class_weight

    rng = np.random.default_rng(3)
    masks = rng.choice(3, size=(4, 9, 9), p=[0.7, 0.2, 0.1])
    masks[0, 0, :3] = 255  # ignored pixels do not count
    y = masks[masks != 255]
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_allclose(balanced_class_weights(masks, 3), expected, rtol=1e-12)
    # a class absent from the labels weighs as if seen once: the largest weight
    w = balanced_class_weights([np.zeros((2, 5), np.int64)], 2)
    np.testing.assert_allclose(w, [10 / (2 * 10), 10 / (2 * 1)])
    with pytest.raises(DataError, match="outside 0..1"):
        balanced_class_weights(masks, 2)


def test_class_weighted_roll_up_prefers_the_uncertain_rare_class():
    # Two images with the same entropy map: uncertain pixels on background (class 0) in
    # one, on the rare class 1 in the other. Unweighted they tie; balanced weights split them.
    def image(cls: int) -> np.ndarray:
        p = np.zeros((10, 10, 2), np.float32)
        p[..., 0] = 1.0
        p[:2, :] = [0.4, 0.6] if cls == 1 else [0.6, 0.4]
        return p

    bg, rare = image(0), image(1)
    assert acquisition_score(bg, reduce="topk", top_k=0.2) == pytest.approx(
        acquisition_score(rare, reduce="topk", top_k=0.2)
    )
    w = np.array([0.5, 5.0])
    s_bg = acquisition_score(bg, reduce="topk", top_k=0.2, class_weights=w)
    s_rare = acquisition_score(rare, reduce="topk", top_k=0.2, class_weights=w)
    h = uncertainty_map(bg)[0, 0]
    assert s_bg == pytest.approx(h * (0.6 * 0.5 + 0.4 * 5.0), rel=1e-5)
    assert s_rare == pytest.approx(h * (0.4 * 0.5 + 0.6 * 5.0), rel=1e-5) and s_rare > s_bg
    with pytest.raises(ParameterError, match="one finite weight >= 0 per class"):
        acquisition_score(bg, class_weights=[1.0, 2.0, 3.0])
