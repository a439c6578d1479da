from pathlib import Path

import numpy as np
import pytest

from segscope.errors import ParameterError
from segscope.training import AUGMENT_PRESETS, check_augmentation, make_augmentation

pytest.importorskip("albumentations")


def test_strong_preset_keeps_masks_valid_and_warps_them():
    rng = np.random.default_rng(0)
    image = rng.random((64, 64, 1)).astype(np.float32)
    mask = np.zeros((64, 64), np.uint8)
    mask[::8] = 1  # thin lines, like membranes
    transform = make_augmentation("strong", crop=32)
    assert "strong" in AUGMENT_PRESETS
    assert check_augmentation(transform, [(image, mask)], num_classes=2, repeats=8) == []
    outs = [transform(image=image, mask=mask) for _ in range(8)]
    assert all(o["image"].shape == (32, 32, 1) and o["mask"].shape == (32, 32) for o in outs)
    assert all(set(np.unique(o["mask"]).tolist()) <= {0, 1, 255} for o in outs)
    # Warps bend the straight rows: some augmented mask is not made of whole rows or columns.
    straight = [
        np.all((o["mask"] == o["mask"][:, :1]) | (o["mask"] == 255)) or np.all(o["mask"] == o["mask"][:1])
        for o in outs
    ]
    assert not all(straight)


def test_example_strong_hflip_pipeline_is_strong_without_up_down_changes():
    # examples/augment/strong-hflip.yaml (the ISBI benchmark's pipeline): the strong preset less
    # the transforms that mirror an up-down label offset, and never an up-down mirrored mask.
    path = Path(__file__).resolve().parents[2] / "examples" / "augment" / "strong-hflip.yaml"
    names = [type(t).__name__ for t in make_augmentation(path).transforms[0].transforms]
    strong = [type(t).__name__ for t in make_augmentation("strong").transforms]
    assert names == [n for n in strong if n not in ("VerticalFlip", "RandomRotate90")]
    image = np.zeros((32, 32, 1), np.float32)
    mask = np.zeros((32, 32), np.uint8)
    mask[:4] = 1  # a band along the top edge stays at the top (warps move it by a few pixels only)
    transform = make_augmentation(path)
    transform.set_random_seed(0)
    for _ in range(20):
        out = transform(image=image, mask=mask)["mask"]
        assert (out[:8] == 1).mean() > (out[24:] == 1).mean()


def test_example_strong_linear_mask_pipeline_puts_warped_edges_on_the_half_contour():
    # examples/augment/strong-linear-mask.yaml: the strong preset whose warps interpolate 0/1
    # masks linearly; OpenCV rounds the result, so each warped mask is the 0.5 level set of the
    # same warp applied to the mask as a float image (nearest neighbour moves edges instead).
    path = Path(__file__).resolve().parents[2] / "examples" / "augment" / "strong-linear-mask.yaml"
    steps = make_augmentation(path).transforms[0].transforms
    assert [type(t).__name__ for t in steps] == [
        type(t).__name__ for t in make_augmentation("strong").transforms
    ]
    warps = next(t for t in steps if type(t).__name__ == "OneOf").transforms
    mask = np.zeros((64, 64), np.uint8)
    mask[3::8] = 1  # thin lines, like membranes
    mask[:, 5::11] = 1
    for warp in warps:
        warp.p = 1.0
        warp.set_random_seed(0)
        out = warp(image=mask.astype(np.float32), mask=mask)
        assert set(np.unique(out["mask"]).tolist()) <= {0, 1}
        away_from_ties = np.abs(out["image"] - 0.5) > 0.01
        assert np.array_equal(out["mask"][away_from_ties], (out["image"] > 0.5)[away_from_ties]), type(warp)
        assert not np.array_equal(out["mask"], mask)  # it did warp


def test_unknown_preset_lists_strong():
    with pytest.raises(ParameterError, match="light, strong or a .yaml"):
        make_augmentation("heavy")


def test_augmentation_does_not_ask_pypi_for_updates(tmp_path):
    """albumentations checks PyPI for a newer version on import (a 2 s wait and a warning
    offline) unless NO_ALBUMENTATIONS_UPDATE is set; segscope sets it."""
    import os
    import subprocess
    import sys

    code = (
        "import urllib.request\n"
        "calls = []\n"
        "urllib.request.OpenerDirector.open = lambda self, *a, **k: calls.append(a) or 1 / 0\n"
        "from segscope.training import make_augmentation\n"
        "make_augmentation('strong', crop=16)\n"
        "print('requests', len(calls))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "requests 0", out.stderr
