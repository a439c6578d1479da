"""Tiny synthetic datasets for the format tests, built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segscope.core.classes import ClassMap
from segscope.formats.files import list_files, read_mask, write_image, write_mask

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ISBI = DATA / "isbi2012_membrane"
DSB = DATA / "dsb2018_stage1_test"


def make_shapes_folder(root: Path, *, n: int = 4, shape: tuple[int, int] = (24, 32), seed: int = 0) -> Path:
    """images/ (RGB), masks/ (classes 0..2), instances/ (ids 1..k, non-overlapping boxes),
    classes.yaml and splits/ -- like ``segscope datasets make-shapes``."""
    rng = np.random.default_rng(seed)
    h, w = shape
    for i in range(n):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ids = np.zeros(shape, np.uint8)
        sem = np.zeros(shape, np.uint8)
        k = 0
        for cy in range(0, h, 12):
            for cx in range(0, w, 16):
                if rng.random() < 0.3:
                    continue
                k += 1
                y, x = cy + rng.integers(0, 4), cx + rng.integers(0, 6)
                ids[y : y + rng.integers(3, 8), x : x + rng.integers(3, 9)] = k
                sem[ids == k] = rng.integers(1, 3)
        write_image(root / "images" / f"{i:03d}.png", image)
        write_mask(root / "masks" / f"{i:03d}.png", sem)
        write_mask(root / "instances" / f"{i:03d}.png", ids)
    ClassMap(("background", "circle", "square")).save(root / "classes.yaml")
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("\n".join(f"{i:03d}" for i in range(n - 1)) + "\n")
    (root / "splits" / "val.txt").write_text(f"{n - 1:03d}\n")
    return root


def assert_same_masks(a: Path, b: Path) -> int:
    """Every mask file in folder ``a`` has a pixel-identical twin (same stem) in ``b``."""
    fa, fb = list_files(a), {p.stem: p for p in list_files(b)}
    assert fa and sorted(p.stem for p in fa) == sorted(fb)
    for p in fa:
        x, y = read_mask(p), read_mask(fb[p.stem])
        assert x.shape == y.shape and np.array_equal(x.astype(np.int64), y.astype(np.int64)), p.name
    return len(fa)


needs_isbi = pytest.mark.skipif(not ISBI.is_dir(), reason=f"real data folder {ISBI} is absent")
needs_dsb = pytest.mark.skipif(not DSB.is_dir(), reason=f"real data folder {DSB} is absent")
