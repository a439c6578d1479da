"""Uniqueness (neighbourhood distance) and hardness (loss or entropy)."""

from __future__ import annotations

import numpy as np
import pytest

from segscope.curation.uniqueness import hardness, uniqueness
from segscope.errors import DataError, ParameterError


def test_uniqueness_against_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(25, 6))
    u = uniqueness(x, k=3)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = 1 - xn @ xn.T
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(u, np.sort(d, axis=1)[:, :3].mean(1), atol=1e-9)


def test_outlier_is_most_unique_and_copies_least():
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal([5, 0, 0], 0.3, (20, 3)), [[0, 0, 5]], [[5, 0, 0], [5, 0, 0]]]
    u = uniqueness(x, k=1)
    assert int(np.argmax(u)) == 20 and u[21] == pytest.approx(0.0, abs=1e-12) == u[22]


def test_hardness_is_cross_entropy_or_entropy():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=(6, 5)).astype(np.float32)
    m = rng.integers(0, 3, (6, 5))
    m[0, 0] = 255
    ref_ce = np.mean([-np.log(p[y, x, m[y, x]]) for y, x in np.ndindex(6, 5) if m[y, x] != 255])
    assert hardness(p, m) == pytest.approx(ref_ce, rel=1e-5)
    ref_h = np.mean(-(p * np.log(p)).sum(2) / np.log(3))
    assert hardness(p) == pytest.approx(ref_h, rel=1e-5)


def test_errors():
    with pytest.raises(DataError, match="N >= 2"):
        uniqueness(np.zeros((1, 3)))
    with pytest.raises(ParameterError, match="k=0"):
        uniqueness(np.eye(3), k=0)
    with pytest.raises(DataError, match="mask shape"):
        hardness(np.full((2, 2, 2), 0.5, np.float32), np.zeros((3, 2), int))


def test_curation_core_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; import segscope.curation as c; "
        "c.find_duplicates([np.zeros((8, 8))] * 2, method='phash'); c.select(['a'], budget=1, strategy='random'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
