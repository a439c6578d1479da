import functools

import numpy as np
import pytest

from segscope.core.classes import ClassMap
from segscope.core.dataset import Dataset, Sample

TINY_KW = {"encoder_depth": 3, "decoder_channels": [16, 8, 4]}


def _const(a):
    return a


def disks(n=24, size=32, *, channels=1, dtype=np.uint8, seed=0):
    """Bright disks (class 1) on a noisy dark background (class 0): learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    samples = []
    for i in range(n):
        cy, cx = rng.uniform(8, size - 8, 2)
        r = rng.uniform(4, 8)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
        img = 0.25 + 0.5 * mask[:, :, None] + rng.normal(0, 0.08, (size, size, channels))
        img = img.astype(np.float32) if dtype == np.float32 else np.clip(img * 255, 0, 255).astype(np.uint8)
        if channels == 1:
            img = img[:, :, 0]
        samples.append(
            Sample(
                f"d{i:03d}",
                load_image=functools.partial(_const, img),
                load_mask=functools.partial(_const, mask),
                split="val" if i % 4 == 0 else "train",
            )
        )
    return Dataset(samples, ClassMap(["background", "disk"]))


@pytest.fixture
def disk_data():
    return disks()
