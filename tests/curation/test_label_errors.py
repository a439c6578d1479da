"""Likely label errors: planted errors on shapes and ISBI rank at the top.

The probabilities come from a *simulated good model* (see ``conftest.simulated_probs``): the
TRUE, uncorrupted mask turned into noisy, blurred softmax outputs. The masks given to the
label-error search are the CORRUPTED ones, as a user's annotations would be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from segscope.curation.label_errors import (
    LabelErrorResults,
    class_thresholds,
    error_heatmap,
    find_label_errors,
    label_quality,
    pixel_issues,
)
from segscope.errors import DataError, ParameterError
from segscope.formats.files import read_image

from .conftest import simulated_probs

ISBI = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isbi2012_membrane"


def _corrupt_shapes(shapes40, n_planted: int = 8, seed: int = 0):
    """Relabel the largest object of half the planted images, erase it in the other half."""
    rng = np.random.default_rng(seed)
    given = shapes40.masks.copy()
    planted: dict[str, tuple[str, np.ndarray]] = {}
    for n, i in enumerate(rng.permutation(len(given))[:n_planted]):
        idm, labels = shapes40.id_maps[i], shapes40.labels[i]
        k = int(np.argmax(np.bincount(idm.ravel(), minlength=len(labels) + 1)[1:])) + 1
        obj = idm == k
        if n % 2 == 0:
            given[i][obj] = labels[k - 1] % 3 + 1  # another shape class
            planted[shapes40.ids[i]] = ("wrong_class", obj)
        else:
            given[i][obj] = 0  # annotation erased
            planted[shapes40.ids[i]] = ("missing", obj)
    return given, planted


@pytest.fixture(scope="module")
def shapes_case(shapes40):
    rng = np.random.default_rng(7)
    # a noisier model than needed, so clean images have small disagreements too
    probs = [simulated_probs(m, rng, num_classes=4, noise=2.0, strength=5.0) for m in shapes40.masks]
    given, planted = _corrupt_shapes(shapes40)
    return shapes40.ids, probs, given, planted


def test_planted_shape_errors_rank_first(shapes_case, tmp_path):
    ids, probs, given, planted = shapes_case
    res = find_label_errors(list(zip(ids, probs, given, strict=True)), heatmap_dir=tmp_path / "heat")
    k = len(planted)
    precision = sum(i in planted for i in res.ranking[:k]) / k
    assert precision >= 0.8
    # region level: the top-k findings lie on the planted objects and have the planted kind
    hits = 0
    for f in res.findings[:k]:
        if f.sample_id in planted:
            kind, obj = planted[f.sample_id]
            x0, y0, x1, y1 = f.bbox
            hits += kind == f.kind and obj[y0:y1, x0:x1].mean() > 0.5
    assert hits / k >= 0.8
    heat = read_image(tmp_path / "heat" / f"{res.ranking[0]}.png")
    assert heat.shape == (96, 96, 3) and len(list((tmp_path / "heat").glob("*.png"))) == len(ids)


def test_relabelled_region_suggests_true_class(shapes_case, shapes40):
    ids, probs, given, planted = shapes_case
    res = find_label_errors(list(zip(ids, probs, given, strict=True)))
    for f in res.findings:
        if f.sample_id in planted and planted[f.sample_id][0] == "wrong_class" and f.area > 100:
            i = ids.index(f.sample_id)
            x0, y0, x1, y1 = f.bbox
            true = np.bincount(shapes40.masks[i][y0:y1, x0:x1].ravel()).argmax()
            assert f.suggested == true and f.given == given[i][y0:y1, x0:x1].max()


def test_clean_data_has_no_large_findings(shapes40):
    rng = np.random.default_rng(1)
    pairs = [
        (i, simulated_probs(m, rng, num_classes=4, noise=2.0), m)
        for i, m in zip(shapes40.ids[:10], shapes40.masks[:10], strict=True)
    ]
    res = find_label_errors(pairs, min_area=40)
    assert res.findings == []
    assert all(r["score"] == 0 for r in res.images)


def test_thresholds_quality_and_issues_against_direct_computation():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 3, (12, 10))
    mask[0, :3] = 255
    probs = rng.dirichlet(np.ones(3), size=(12, 10)).astype(np.float32)
    t = class_thresholds([(probs, mask)], num_classes=3)
    for c in range(3):
        assert t[c] == pytest.approx(probs[..., c][mask == c].mean(), rel=1e-6)
    q = label_quality(probs, mask)
    assert np.isnan(q[0, :3]).all()
    ref_issues = np.zeros(mask.shape, bool)
    ref_sug = np.full(mask.shape, -1)
    for y, x in np.ndindex(mask.shape):
        g = mask[y, x]
        if g == 255 or probs[y, x, g] >= t[g]:
            continue
        others = [j for j in range(3) if j != g and probs[y, x, j] >= t[j]]
        if others:
            ref_issues[y, x] = True
            ref_sug[y, x] = max(others, key=lambda j: probs[y, x, j])
        heat = max(probs[y, x, j] for j in range(3) if j != g) - probs[y, x, g]
        assert error_heatmap(probs, mask)[y, x] == pytest.approx(max(heat, 0.0), abs=1e-6)
    issues, sug = pixel_issues(probs, mask, t)
    np.testing.assert_array_equal(issues, ref_issues)
    np.testing.assert_array_equal(sug, ref_sug)


def test_results_round_trip(shapes_case):
    ids, probs, given, _ = shapes_case
    res = find_label_errors(lambda: zip(ids[:6], probs[:6], given[:6], strict=True))
    back = LabelErrorResults.from_dict(res.to_dict())
    assert back.ranking == res.ranking and back.findings == res.findings


def test_errors():
    p = np.full((4, 4, 2), 0.5, np.float32)
    with pytest.raises(DataError, match="mask shape \\(3, 4\\) differs from probs shape \\(4, 4\\)"):
        find_label_errors([("a", p, np.zeros((3, 4), int))])
    with pytest.raises(DataError, match="mask values \\[5\\] are not classes 0..1"):
        find_label_errors([("a", p, np.full((4, 4), 5))])
    with pytest.raises(DataError, match="sum to 1"):
        find_label_errors([("a", np.ones((4, 4, 2), np.float32), np.zeros((4, 4), int))])
    with pytest.raises(ParameterError, match="min_area=0"):
        find_label_errors([], min_area=0)
    with pytest.raises(DataError, match="no \\(id, probs, mask\\) pairs"):
        find_label_errors([])


@pytest.mark.skipif(not ISBI.is_dir(), reason="ISBI 2012 data not present")
def test_planted_errors_on_isbi_membranes():
    """ISBI masks (0 membrane, 1 cell) with corruptions: a cell relabelled as membrane, or a
    stretch of membrane painted over as cell (a gap in the annotation)."""
    rng = np.random.default_rng(0)
    ids, probs, given, planted = [], [], [], set()
    for n in range(12):
        raw = read_image(ISBI / "masks" / f"{n}.png")[:256, :256]
        true = (raw > 127).astype(np.uint8)
        probs.append(simulated_probs(true, rng, num_classes=2, noise=1.5, strength=5.0, blur=1.0))
        mask = true.copy()
        if n in (1, 4, 7, 10):
            cells, k = ndimage.label(true)
            areas = np.bincount(cells.ravel())[1:]
            mask[cells == 1 + int(np.argsort(areas)[-2])] = 0  # second-largest cell -> membrane
            planted.add(str(n))
        elif n in (2, 9):
            y, x = np.argwhere(true == 0)[len(np.argwhere(true == 0)) // 2]
            box = (slice(max(y - 20, 0), y + 20), slice(max(x - 20, 0), x + 20))
            mask[box][true[box] == 0] = 1  # membrane erased in a 40x40 box
            planted.add(str(n))
        ids.append(str(n))
        given.append(mask)
    res = find_label_errors(list(zip(ids, probs, given, strict=True)), background=None, min_area=30)
    k = len(planted)
    assert sum(i in planted for i in res.ranking[:k]) / k >= 0.8
    assert {f.kind for f in res.findings[:k]} == {"wrong_class"}
