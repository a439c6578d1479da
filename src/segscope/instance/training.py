"""Training Mask R-CNN with the semantic training machinery: same run folder, Lightning, MLflow.

Imports torch and Lightning at module level: :func:`segscope.training.train` imports this
module only for ``task="instance"``.

The run folder is the one of semantic training (``config.yaml``, ``classes.yaml``,
``metrics.csv``, ``checkpoints/best.ckpt`` + ``last.ckpt``, ``overlays/``); the monitored
metric is the validation COCO mask AP (``val_ap``) instead of the mIoU.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segscope.core.dataset import Dataset
from segscope.core.instances import Instances
from segscope.errors import DataError
from segscope.instance.maskrcnn import build_maskrcnn, outputs_to_instances
from segscope.models.preprocessing import Preprocessing
from segscope.training.data import SegmentationDataModule
from segscope.training.module import SegmentationTask

__all__ = [
    "InstanceDataModule",
    "InstanceDataset",
    "InstanceTask",
    "boxes_from_masks",
    "instance_collate",
    "instance_parts",
    "write_instance_overlays",
]

Target = dict[str, torch.Tensor]


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` bool -> ``(N, 4)`` float32 ``[x1, y1, x2, y2]`` (x2, y2 exclusive, as COCO).

    >>> m = np.zeros((1, 4, 5), bool); m[0, 1:3, 2:5] = True
    >>> boxes_from_masks(m).tolist()
    [[2.0, 1.0, 5.0, 3.0]]
    """
    out = np.zeros((len(masks), 4), np.float32)
    for k, m in enumerate(masks):
        rows = np.flatnonzero(m.any(1))
        cols = np.flatnonzero(m.any(0))
        out[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return out


class InstanceDataset(torch.utils.data.Dataset):
    """``(image (3, H, W) float32 in [0, 1], target dict)`` pairs for torchvision detection models.

    Augmentation runs on the instance-id map (one ``mask`` for Albumentations, nearest
    neighbour, new pixels 0) when objects do not overlap, else on the stack of masks; boxes
    are then recomputed from the augmented masks, so masks and boxes always agree. Objects
    smaller than ``min_area`` pixels after augmentation are dropped. Crowd objects are left out.
    """

    def __init__(
        self,
        dataset: Dataset,
        preprocessing: Preprocessing,
        *,
        transform: Any = None,
        min_area: int = 2,
        cache: bool = True,
    ) -> None:
        self.dataset = dataset
        self.pre = preprocessing
        self.transform = transform
        self.min_area = min_area
        self.cache = cache
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def raw(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scaled ``(H, W, 3) float32`` image, ``(N, H, W) bool`` masks and ``(N,)`` labels."""
        if i in self._cache:
            return self._cache[i]
        sample = self.dataset[i]
        image = self.pre.channels_last(sample.image, source=f"sample {sample.id}")
        inst = sample.instances
        if inst is None:
            mask = sample.mask
            if mask is None:
                raise DataError(f"sample {sample.id} has no instances or mask; instance training needs them")
            inst = Instances.from_semantic(np.asarray(mask), ignore_index=self.dataset.class_map.ignore_index)
        if (inst.height, inst.width) != image.shape[:2]:
            raise DataError(
                f"sample {sample.id}: instances are {(inst.height, inst.width)} but the image is "
                f"{image.shape[:2]}; fix the dataset"
            )
        keep = np.flatnonzero(~inst.iscrowd)
        inst = inst[keep]
        item = (image, inst.to_masks(), inst.labels.astype(np.int64))
        if self.cache:
            self._cache[i] = item
        return item

    def _augment(self, image: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.transform is None or len(masks) == 0:
            out = self.transform(image=image) if self.transform is not None else {"image": image}
            return out["image"], np.zeros((0, *out["image"].shape[:2]), bool)
        if len(masks) < 65535 and masks.sum(0).max() <= 1:
            ids = np.zeros(masks.shape[1:], np.uint16)
            for k, m in enumerate(masks):
                ids[m] = k + 1
            out = self.transform(image=image, mask=ids)
            return out["image"], out["mask"][None] == np.arange(1, len(masks) + 1)[:, None, None]
        out = self.transform(image=image, masks=[m.astype(np.uint8) for m in masks])
        return out["image"], np.stack([np.asarray(m) > 0 for m in out["masks"]])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Target]:
        image, masks, labels = self.raw(i)
        image, masks = self._augment(image, masks) if self.transform is not None else (image, masks)
        keep = masks.sum(axis=(1, 2)) >= self.min_area if len(masks) else np.zeros(0, bool)
        masks, labels = masks[keep], labels[keep]
        x = torch.from_numpy(np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)))
        target = {
            "boxes": torch.from_numpy(boxes_from_masks(masks)).reshape(-1, 4),
            "labels": torch.from_numpy(labels),
            "masks": torch.from_numpy(masks.astype(np.uint8)),
        }
        return x, target


def instance_collate(batch: Sequence[tuple[torch.Tensor, Target]]) -> tuple[list[torch.Tensor], list[Target]]:
    """Detection models take lists of images of any size, so a batch stays a list."""
    return [x for x, _ in batch], [t for _, t in batch]


class InstanceTask(SegmentationTask):
    """Train a torchvision Mask R-CNN; logs ``train_loss`` (sum of its losses) and ``val_ap``.

    Shares :class:`~segscope.training.module.SegmentationTask`'s optimiser and schedule;
    the model config and preprocessing are stored in every checkpoint, as there.
    """

    def __init__(
        self,
        model_config: dict[str, Any],
        preprocessing: dict[str, Any],
        *,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        schedule: str = "cosine",
        epochs: int = 10,
        step_size: int | None = None,
        weights: str | Path | None = None,
    ) -> None:
        # SegmentationTask.__init__ builds a semantic network and loss; only its optimiser is
        # shared, so skip to LightningModule's (super() also lets save_hyperparameters see the args).
        super(SegmentationTask, self).__init__()
        from segscope.errors import ParameterError
        from segscope.training.module import SCHEDULES

        if schedule not in SCHEDULES:
            raise ParameterError(f"unknown schedule '{schedule}'; use one of {', '.join(SCHEDULES)}")
        self.save_hyperparameters(ignore=["weights"])
        pre = Preprocessing.from_dict(preprocessing)
        self.net = build_maskrcnn(model_config, weights=weights, image_mean=pre.mean, image_std=pre.std)
        self._gt: dict[int, Instances] = {}
        self._dt: dict[int, Instances] = {}

    def forward(self, images: list[torch.Tensor]) -> Any:  # type: ignore[override]
        return self.net(images)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:  # type: ignore[override]
        images, targets = batch
        losses = self.net(images, targets)
        loss = sum(losses.values())
        n = len(images)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n)
        for key, value in losses.items():
            self.log(f"train_{key}", value, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._gt, self._dt = {}, {}

    def validation_step(self, batch: Any, batch_idx: int) -> None:  # type: ignore[override]
        images, targets = batch
        outputs = self.net(images)
        for x, t, out in zip(images, targets, outputs, strict=True):
            h, w = int(x.shape[1]), int(x.shape[2])
            k = len(self._gt)
            masks = t["masks"].cpu().numpy().astype(bool)
            self._gt[k] = Instances.from_masks(masks, t["labels"].cpu().numpy())
            self._dt[k] = outputs_to_instances(out, h, w)

    def on_validation_epoch_end(self) -> None:
        from segscope.metrics.instance import coco_evaluate

        categories = list(range(1, int(self.hparams.model_config["num_classes"])))
        if self.trainer.world_size > 1:
            # COCO AP of the whole validation set: every process gets every process's images.
            import torch.distributed as dist

            parts: list[Any] = [None] * self.trainer.world_size
            dist.all_gather_object(parts, (list(self._gt.values()), list(self._dt.values())))
            gts = [g for part in parts for g in part[0]]
            dts = [d for part in parts for d in part[1]]
            self._gt, self._dt = dict(enumerate(gts)), dict(enumerate(dts))
        if any(len(g) for g in self._gt.values()):
            coco = coco_evaluate(self._gt, self._dt, categories=categories)
            ap, ap50 = max(coco["AP"], 0.0), max(coco["AP50"], 0.0)
        else:
            ap = ap50 = 0.0
        self.log("val_ap", ap, prog_bar=True)
        self.log("val_ap50", ap50)


class InstanceDataModule(SegmentationDataModule):
    """Train (shuffled, augmented) and validation loaders of list batches (no padding)."""

    def _collate(self, batch: Sequence[tuple[torch.Tensor, Target]]) -> Any:  # type: ignore[override]
        return instance_collate(batch)


def _rgb(image: np.ndarray) -> np.ndarray:
    """Grey -> 3 channels, RGBA -> RGB, as :meth:`Preprocessing.channels_last` feeds Mask R-CNN."""
    image = np.asarray(image)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3] if image.shape[2] == 4 else image


def instance_parts(train_set: Dataset, val_set: Dataset, cfg: Any, *, resume: bool) -> tuple[Any, ...]:
    """Model config, preprocessing, Lightning module and data module of a Mask R-CNN run.

    Called by :func:`segscope.training.train` for ``task="instance"``. Pretrained weights
    (``coco``/``imagenet``) come with ImageNet normalisation; from scratch, the training set's
    own mean and std are used.
    """
    from segscope.instance.maskrcnn import IMAGENET_MEAN, IMAGENET_STD, maskrcnn_config
    from segscope.training.augment import make_augmentation

    class_map = train_set.class_map
    mconf = maskrcnn_config(cfg.model, num_classes=class_map.num_classes, **dict(cfg.model_kwargs))
    pretrained = cfg.weights is not None and str(cfg.weights).lower() in ("coco", "imagenet")
    mean = cfg.mean or (list(IMAGENET_MEAN) if pretrained else None)
    std = cfg.std or (list(IMAGENET_STD) if pretrained else None)
    pre = Preprocessing.from_images(
        (_rgb(s.image) for s in train_set),
        in_channels=3,
        mean=mean,
        std=std,
        class_map=class_map.to_dict(),
        image_shift=cfg.image_shift,
    )
    # Instance masks pad with 0 (no object), not with the ignore value.
    transform = make_augmentation(cfg.augment, crop=cfg.crop, ignore_index=0)
    train_ds = InstanceDataset(train_set, pre, transform=transform)
    val_ds = InstanceDataset(val_set, pre)
    task = InstanceTask(
        mconf,
        pre.to_dict(),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        schedule=cfg.schedule,
        epochs=cfg.epochs,
        weights=None if resume else cfg.weights,
    )
    dm = InstanceDataModule(
        train_ds,  # type: ignore[arg-type]
        val_ds,  # type: ignore[arg-type]
        batch_size=cfg.batch_size,
        num_workers=cfg.num_workers,
        seed=cfg.seed,
    )
    return mconf, pre, task, dm


def write_instance_overlays(checkpoint: Path, val_set: Dataset, folder: Path, n: int) -> list[Path]:
    """Predict ``n`` validation samples with the best model; save one-colour-per-object overlays."""
    if n <= 0 or not checkpoint.is_file():
        return []
    from segscope.formats.files import write_image
    from segscope.formats.predictions import PredictionWriter
    from segscope.instance.maskrcnn import InstancePredictor

    predictor = InstancePredictor.load(checkpoint, score_threshold=0.5)
    drawer = PredictionWriter(folder, predictor.class_map)  # only its overlay(); writes nothing
    written = []
    for sample in list(val_set)[:n]:
        image = sample.image
        path = folder / f"{sample.id}.png"
        write_image(path, drawer.overlay(image, predictor.predict(image)))
        written.append(path)
    return written
