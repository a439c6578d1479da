"""Torch datasets and the Lightning data module over segscope :class:`~segscope.Dataset` objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch

from segscope.core.dataset import Dataset
from segscope.errors import DataError, ParameterError
from segscope.models.network import padded_size
from segscope.models.preprocessing import Preprocessing

__all__ = ["SegmentationDataset", "pad_collate", "SegmentationDataModule"]


class SegmentationDataset(torch.utils.data.Dataset):
    """``(image (C, H, W) float32, mask (H, W) int64)`` pairs: scaled, augmented, normalised.

    Images and masks are read once and cached as scaled float32 / uint8 arrays when ``cache``.
    ``repeat`` lists every sample that many times per epoch (more random crops per epoch of a
    small dataset, so validation and checkpoints do not run after every few steps).
    """

    def __init__(
        self,
        dataset: Dataset,
        preprocessing: Preprocessing,
        *,
        transform: Any = None,
        cache: bool = True,
        repeat: int = 1,
    ) -> None:
        if repeat < 1:
            raise ParameterError(f"repeat {repeat} must be >= 1")
        self.dataset = dataset
        self.repeat = int(repeat)
        self.pre = preprocessing
        self.transform = transform
        self.cache = cache
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.ignore_index = dataset.class_map.ignore_index

    def __len__(self) -> int:
        return len(self.dataset) * self.repeat

    def raw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Scaled ``(H, W, C) float32`` image and ``(H, W) uint8`` mask, before augmentation."""
        if i in self._cache:
            return self._cache[i]
        sample = self.dataset[i]
        image = self.pre.channels_last(sample.image, source=f"sample {sample.id}")
        mask = sample.mask
        if mask is None:
            raise DataError(f"sample {sample.id} has no mask; training needs ground truth for every sample")
        if mask.shape != image.shape[:2]:
            raise DataError(
                f"sample {sample.id}: mask shape {mask.shape} differs from image {image.shape[:2]}; fix the dataset"
            )
        mask = mask.astype(np.uint8 if self.ignore_index <= 255 else np.uint16)
        if self.cache:
            self._cache[i] = (image, mask)
        return image, mask

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.raw(i % len(self.dataset))
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        x = self.pre.normalize(np.asarray(image, np.float32))
        return torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(mask).astype(np.int64))


def pad_collate(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]], *, divisor: int = 32, ignore_index: int = 255
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a batch, padding every image to the batch's largest size rounded up to ``divisor``.

    Images pad with 0 (the normalised mean), masks with ``ignore_index`` so padding never counts.
    """
    h = max(int(x.shape[1]) for x, _ in batch)
    w = max(int(x.shape[2]) for x, _ in batch)
    ph, pw = padded_size(h, w, divisor)
    xs = torch.zeros((len(batch), batch[0][0].shape[0], ph, pw), dtype=torch.float32)
    ys = torch.full((len(batch), ph, pw), ignore_index, dtype=torch.int64)
    for k, (x, y) in enumerate(batch):
        xs[k, :, : x.shape[1], : x.shape[2]] = x
        ys[k, : y.shape[0], : y.shape[1]] = y
    return xs, ys


class SegmentationDataModule(L.LightningDataModule):
    """Train and validation loaders (train shuffled and augmented, val as is)."""

    def __init__(
        self,
        train: SegmentationDataset,
        val: SegmentationDataset,
        *,
        batch_size: int = 8,
        num_workers: int = 0,
        divisor: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_set, self.val_set = train, val
        self.batch_size, self.num_workers, self.divisor, self.seed = batch_size, num_workers, divisor, seed

    def _collate(
        self, batch: Sequence[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_collate(batch, divisor=self.divisor, ignore_index=self.train_set.ignore_index)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=len(self.train_set) > self.batch_size,
            num_workers=self.num_workers,
            collate_fn=self._collate,
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        sampler = None
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Each validation sample to exactly one process (Lightning's default sampler pads
            # by repeating samples, which would count them twice in the metrics).
            from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

            sampler = UnrepeatedDistributedSampler(self.val_set, shuffle=False)
        return torch.utils.data.DataLoader(
            self.val_set,
            batch_size=self.batch_size,
            shuffle=False,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=self._collate,
            persistent_workers=self.num_workers > 0,
        )
