import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("albumentations")

import albumentations as A  # noqa: E402

from segscope.training import check_augmentation, make_augmentation  # noqa: E402
from segscope.training.transforms import VerticalFlipKeepOffset  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "augment"


def _lines_one_row_off(offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Dark rows in the image and a mask that marks the rows ``offset`` above them (class 1)."""
    image = np.ones((24, 8, 1), np.float32)
    rows = np.array([5, 11, 17])
    image[rows] = 0.0
    mask = np.zeros((24, 8), np.uint8)
    mask[rows - offset] = 1
    return image, mask


def test_flipped_mask_moves_and_the_uncovered_row_is_ignore():
    image = np.arange(4, dtype=np.float32).reshape(4, 1, 1)
    mask = np.arange(4, dtype=np.uint8).reshape(4, 1)
    out = VerticalFlipKeepOffset(mask_shift=-1, p=1.0)(image=image, mask=mask)
    np.testing.assert_array_equal(out["image"][:, 0, 0], [3, 2, 1, 0])
    np.testing.assert_array_equal(out["mask"][:, 0], [2, 1, 0, 255])
    several = VerticalFlipKeepOffset(mask_shift=-1, p=1.0)(image=image, masks=[mask, mask])["masks"]
    np.testing.assert_array_equal(np.asarray(several)[:, :, 0], [[2, 1, 0, 255]] * 2)
    down = VerticalFlipKeepOffset(mask_shift=2, fill_mask=9, p=1.0)(image=image, mask=mask)
    np.testing.assert_array_equal(down["mask"][:, 0], [9, 9, 3, 2])
    plain = A.VerticalFlip(p=1.0)(image=image, mask=mask)
    same = VerticalFlipKeepOffset(mask_shift=0, p=1.0)(image=image, mask=mask)
    np.testing.assert_array_equal(same["mask"], plain["mask"])
    np.testing.assert_array_equal(same["image"], plain["image"])


def test_a_label_offset_survives_the_flip():
    # Labels one row above their lines: a plain flip puts them one row below, the offset-keeping
    # flip (two rows up after the flip) keeps them one row above, like the unflipped image.
    image, mask = _lines_one_row_off(1)
    dark = lambda img: np.flatnonzero(img[:, 0, 0] == 0)  # noqa: E731
    marked = lambda m: np.flatnonzero(m[:, 0] == 1)  # noqa: E731
    np.testing.assert_array_equal(marked(mask), dark(image) - 1)
    plain = A.VerticalFlip(p=1.0)(image=image, mask=mask)
    np.testing.assert_array_equal(marked(plain["mask"]), dark(plain["image"]) + 1)
    kept = VerticalFlipKeepOffset(mask_shift=-2, p=1.0)(image=image, mask=mask)
    np.testing.assert_array_equal(marked(kept["mask"]), dark(kept["image"]) - 1)


def test_round_trips_through_yaml_and_pickle(tmp_path):
    flip = VerticalFlipKeepOffset(mask_shift=-1, fill_mask=255, p=0.25)
    path = tmp_path / "pipeline.yaml"
    A.save(A.Compose([flip]), path, data_format="yaml")
    loaded = make_augmentation(path).transforms[0].transforms[0]
    assert type(loaded) is VerticalFlipKeepOffset
    assert (loaded.mask_shift, loaded.fill_mask, loaded.p) == (-1, 255, 0.25)
    copy = pickle.loads(pickle.dumps(flip))  # data-loader workers started by spawn
    assert (copy.mask_shift, copy.p) == (-1, 0.25)


def test_example_strong_vflip_offset_pipeline():
    # examples/augment/strong-vflip-offset.yaml: strong-hflip.yaml plus the offset-keeping flip
    # right after the left-right flip; masks stay class ids or ignore.
    names = [
        type(t).__name__
        for t in make_augmentation(EXAMPLES / "strong-vflip-offset.yaml").transforms[0].transforms
    ]
    hflip_only = [
        type(t).__name__ for t in make_augmentation(EXAMPLES / "strong-hflip.yaml").transforms[0].transforms
    ]
    assert names == [hflip_only[0], "VerticalFlipKeepOffset", *hflip_only[1:]]
    transform = make_augmentation(EXAMPLES / "strong-vflip-offset.yaml", crop=16)
    flip = transform.transforms[0].transforms[1]
    assert (flip.mask_shift, flip.fill_mask, flip.p) == (-1, 255, 0.5)
    image, mask = _lines_one_row_off(0)
    assert check_augmentation(transform, [(image, mask)], num_classes=2, repeats=8) == []
