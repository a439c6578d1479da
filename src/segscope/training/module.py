"""The Lightning module: a :class:`~segscope.models.network.SegmentationNet`, a loss, an optimiser."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from segscope.errors import ParameterError
from segscope.metrics.semantic import ConfusionMatrix
from segscope.models.network import SegmentationNet
from segscope.training.losses import make_loss

__all__ = ["SegmentationTask", "SCHEDULES"]

SCHEDULES = ("cosine", "step", "none")


class SegmentationTask(L.LightningModule):
    """Train a segmentation network; logs ``train_loss``, ``val_loss`` and ``val_miou`` per epoch.

    The hyper-parameters (model config and preprocessing included) are stored in every
    checkpoint, so :func:`segscope.models.load_model` rebuilds the model from the file alone.
    """

    def __init__(
        self,
        model_config: dict[str, Any],
        preprocessing: dict[str, Any],
        *,
        loss: str = "ce",
        class_weights: Sequence[float] | None = None,
        ignore_index: int = 255,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        schedule: str = "cosine",
        epochs: int = 10,
        step_size: int | None = None,
        weights: str | Path | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ParameterError(f"unknown schedule '{schedule}'; use one of {', '.join(SCHEDULES)}")
        self.save_hyperparameters(ignore=["weights"])
        self.net = SegmentationNet(model_config, weights=weights)
        self.loss_fn = make_loss(
            loss, num_classes=self.net.num_classes, ignore_index=ignore_index, class_weights=class_weights
        )
        self.confusion = ConfusionMatrix(self.net.num_classes, ignore_index=ignore_index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def on_fit_start(self) -> None:
        if self.hparams.get("channels_last"):
            self.net.to(memory_format=torch.channels_last)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.get("channels_last") else x

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.net(self._layout(x)).float(), y)
        self.log(
            "train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(x), sync_dist=True
        )
        return loss

    def on_validation_epoch_start(self) -> None:
        self.confusion.reset()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        # Validation runs in float32 whatever the training precision, so val_miou is the score
        # that `segscope predict` + `segscope evaluate` give for the saved checkpoint.
        with torch.autocast(device_type=x.device.type, enabled=False):
            logits = self.net(self._layout(x.float()))
        self.log("val_loss", self.loss_fn(logits, y), on_epoch=True, batch_size=len(x), sync_dist=True)
        pred = logits.argmax(1).cpu().numpy().astype(np.int64)
        self.confusion.update(y.cpu().numpy(), pred)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.world_size > 1:
            # Sum the counts of every process: the exact mIoU of the whole validation set, not
            # a mean of per-process mIoUs (the val sampler gives each sample to one process).
            counts = self.all_gather(torch.from_numpy(self.confusion.matrix)).reshape(
                -1, *self.confusion.matrix.shape
            )
            self.confusion.matrix = counts.sum(0).cpu().numpy()
        scores = self.confusion.compute()
        miou = float(scores["mean_iou"]) if np.isfinite(scores["mean_iou"]) else 0.0
        self.log("val_miou", miou, prog_bar=True)
        self.log("val_pixel_accuracy", float(scores["pixel_accuracy"]))

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.schedule == "none":
            return opt
        if hp.schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(hp.epochs, 1))
        else:
            step = hp.step_size or max(hp.epochs // 3, 1)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=0.1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
