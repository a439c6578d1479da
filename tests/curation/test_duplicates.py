"""Duplicates and leakage: planted exact and near copies on shapes are all found, no false groups."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segscope.curation.duplicates import (
    DuplicateGroups,
    content_hash,
    find_duplicates,
    find_leakage,
    group_pairs,
    hamming_distances,
    perceptual_hash,
)
from segscope.errors import DataError, ParameterError


def _jpeg(image: np.ndarray, quality: int = 70) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def _planted(shapes40):
    """30 distinct shapes images + 7 planted copies; returns images, ids and the true groups."""
    images = [im for im in shapes40.images[:30]]
    ids = list(shapes40.ids[:30])
    h = images[0].shape[0]
    copies = {
        "exact_of_1": images[1].copy(),
        "resized_of_2": cv2.resize(images[2], (72, 72), interpolation=cv2.INTER_AREA),
        "upsized_jpeg_of_3": _jpeg(cv2.resize(images[3], (150, 150), interpolation=cv2.INTER_LINEAR)),
        "jpeg_of_4": _jpeg(images[4], 60),
        "crop_of_5": images[5][5 : h - 4, 4 : h - 5],  # ~10% cut, centred
        "corner_crop_of_6": images[6][8:, : h - 7],
        "crop_jpeg_of_1": _jpeg(images[1][:-6, 6:], 80),  # joins the exact group of 1
    }
    truth = [
        {ids[1], "exact_of_1", "crop_jpeg_of_1"},
        {ids[2], "resized_of_2"},
        {ids[3], "upsized_jpeg_of_3"},
        {ids[4], "jpeg_of_4"},
        {ids[5], "crop_of_5"},
        {ids[6], "corner_crop_of_6"},
    ]
    return images + list(copies.values()), ids + list(copies), truth


def test_content_hash_is_pixels_not_encoding():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert content_hash(a) == content_hash(np.asfortranarray(a))
    assert content_hash(a) != content_hash(a.reshape(4, 3))
    assert content_hash(a) != content_hash(a.astype(np.int16))


def test_exact_finds_only_identical_pixels(shapes40):
    images, ids, _ = _planted(shapes40)
    res = find_duplicates(images, ids=ids, method="exact")
    assert [set(g) for g in res.groups] == [{ids[1], "exact_of_1"}]
    assert res.distances == [0.0]


def test_phash_finds_every_planted_near_copy_and_nothing_else(shapes40):
    images, ids, truth = _planted(shapes40)
    res = find_duplicates(images, ids=ids, method="phash")
    assert sorted(map(sorted, map(set, res.groups))) == sorted(map(sorted, truth))
    assert all(d <= res.threshold for d in res.distances)


def test_phash_without_crop_tolerance_misses_a_crop(shapes40):
    # the crop variants are what make slight crops match: without them the cropped copy is far
    images, ids, _ = _planted(shapes40)
    res = find_duplicates(images, ids=ids, method="phash", crop=0.0, threshold=4)
    found = {i for g in res.groups for i in g}
    assert "jpeg_of_4" in found and "corner_crop_of_6" not in found


def test_perceptual_hash_matches_reference_construction():
    # independent reference: scipy's orthonormal DCT-II on the same OpenCV thumbnail
    from scipy.fft import dctn

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8), (7, 7), 2)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    thumb = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA)
    low = dctn(thumb.astype(np.float64), type=2, norm="ortho")[:8, :8]
    np.testing.assert_array_equal(perceptual_hash(img), (low > np.median(low)).reshape(-1))


def test_hamming_and_grouping_by_components():
    h = np.array([[1, 0, 1, 1], [1, 0, 1, 0], [0, 1, 0, 0]], bool)
    ref = (h[:, None, :] != h[None, :, :]).sum(-1)
    np.testing.assert_array_equal(hamming_distances(h), ref)
    assert group_pairs(6, np.array([[0, 1], [1, 4], [2, 3]])) == [[0, 1, 4], [2, 3]]
    assert group_pairs(3, np.zeros((0, 2))) == []


def test_embedding_method_and_leakage():
    emb = np.array([[1, 0, 0], [0.999, 0.04, 0], [0, 1, 0], [0, 0, 1], [0, 0.02, 1]])
    res = find_duplicates(
        None, ids=list("abcde"), method="embedding", embeddings=emb,
        splits={"a": "train", "b": "test", "c": "train", "d": "val", "e": "val"},
    )  # fmt: skip
    assert res.groups == [["a", "b"], ["d", "e"]]
    leaks = find_leakage(res)
    assert [r["ids"] for r in leaks] == [["a", "b"]] and leaks[0]["splits"] == ["test", "train"]
    assert res.tags == {
        "a": ["duplicate", "leak"],
        "b": ["duplicate", "leak"],
        "d": ["duplicate"],
        "e": ["duplicate"],
    }
    back = DuplicateGroups.from_dict(res.to_dict())
    assert back.groups == res.groups and back.leaks() == res.leaks()


def test_errors_name_the_problem():
    with pytest.raises(ParameterError, match="unknown duplicate method 'phsh'.*did you mean 'phash'"):
        find_duplicates([np.zeros((4, 4))], method="phsh")
    with pytest.raises(ParameterError, match="needs embeddings="):
        find_duplicates([np.zeros((4, 4))], method="embedding")
    with pytest.raises(DataError, match="2 images but 1 ids"):
        find_duplicates([np.zeros((4, 4))] * 2, ids=["a"], method="exact")
    with pytest.raises(ParameterError, match="crop=0.6"):
        find_duplicates([np.zeros((4, 4))], crop=0.6)
    res = find_duplicates([np.zeros((4, 4))] * 2, method="exact")
    with pytest.raises(DataError, match="no splits"):
        find_leakage(res)
