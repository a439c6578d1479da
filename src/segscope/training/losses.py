"""Training losses by name, built from torch and ``segmentation_models_pytorch.losses``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from segscope.errors import ParameterError
from segscope.registry import Registry

__all__ = ["LOSSES", "make_loss"]

# name -> factory(num_classes, ignore_index, class_weights) -> loss(logits, target)
LOSSES: Registry[Callable[..., Any]] = Registry("loss")


def _ce(num_classes: int, ignore_index: int, class_weights: Sequence[float] | None) -> Any:
    import torch

    weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
    return torch.nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index)


def _dice(num_classes: int, ignore_index: int, class_weights: Sequence[float] | None) -> Any:
    from segmentation_models_pytorch.losses import DiceLoss

    return DiceLoss(mode="multiclass", ignore_index=ignore_index)


def _focal(num_classes: int, ignore_index: int, class_weights: Sequence[float] | None) -> Any:
    from segmentation_models_pytorch.losses import FocalLoss

    return FocalLoss(mode="multiclass", ignore_index=ignore_index)


def _ce_dice(num_classes: int, ignore_index: int, class_weights: Sequence[float] | None) -> Any:
    import torch

    class CEDice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ce = _ce(num_classes, ignore_index, class_weights)
            self.dice = _dice(num_classes, ignore_index, class_weights)

        def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return self.ce(logits, target) + self.dice(logits, target)

    return CEDice()


LOSSES.add("ce", _ce, aliases=("cross-entropy",))
LOSSES.add("dice", _dice)
LOSSES.add("ce+dice", _ce_dice, aliases=("dice+ce",))
LOSSES.add("focal", _focal)


def make_loss(
    name: str, *, num_classes: int, ignore_index: int = 255, class_weights: Sequence[float] | None = None
) -> Any:
    """A loss module ``loss(logits (N, C, H, W), target (N, H, W) int64) -> scalar``.

    ``class_weights`` (one per class) weight the cross-entropy term (``ce`` and ``ce+dice``).

    Examples
    --------
    >>> loss = make_loss("ce+dice", num_classes=3)  # doctest: +SKIP
    """
    factory = LOSSES.get(name)
    if class_weights is not None:
        class_weights = [float(w) for w in class_weights]
        if len(class_weights) != num_classes:
            raise ParameterError(
                f"got {len(class_weights)} class weights for {num_classes} classes; give one per class"
            )
        if factory in (_dice, _focal):
            raise ParameterError(f"loss '{name}' takes no class weights; use ce or ce+dice")
    return factory(num_classes, ignore_index, class_weights)
