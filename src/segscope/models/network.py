"""The torch side of a model: one wrapper that owns ``forward``/``predict`` for every architecture.

Imports torch at module level: import this module only from the deep layers, inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segscope.errors import DataError
from segscope.models.registry import build_network

__all__ = ["SegmentationNet", "padded_size"]


def padded_size(h: int, w: int, divisor: int) -> tuple[int, int]:
    """Smallest ``(h', w') >= (h, w)`` divisible by ``divisor``."""
    return (-(-h // divisor) * divisor, -(-w // divisor) * divisor)


class SegmentationNet(nn.Module):
    """A segmentation network of any registered architecture, in_channels and num_classes.

    ``forward`` returns logits ``(N, K, H, W)`` and checks that H and W fit the encoder's
    output stride; ``predict`` pads automatically and returns softmax probabilities.

    Parameters
    ----------
    config : dict
        From :func:`segscope.models.model_config`.
    weights : None, "imagenet" or path
        Initial weights.
    """

    def __init__(self, config: dict[str, Any], *, weights: str | Path | None = None) -> None:
        super().__init__()
        self.config = dict(config)
        self.net = build_network(self.config, weights=weights)
        self.divisor = self._divisor()

    def _divisor(self) -> int:
        if self.config["library"] != "smp":
            return 1  # torchvision heads interpolate back to the input size
        if not getattr(self.net, "requires_divisible_input_shape", True):
            return 1
        return int(self.net.encoder.output_stride)

    @property
    def num_classes(self) -> int:
        return int(self.config["num_classes"])

    @property
    def in_channels(self) -> int:
        return int(self.config["in_channels"])

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise DataError(
                f"model input must be (N, {self.in_channels}, H, W), got {tuple(x.shape)}; "
                "apply the model's Preprocessing first"
            )
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if h % self.divisor or w % self.divisor:
            ph, pw = padded_size(h, w, self.divisor)
            raise DataError(
                f"input height and width must be divisible by {self.divisor} for "
                f"{self.config['arch']}/{self.config['encoder']}, got ({h}, {w}); "
                f"pad to ({ph}, {pw}) or use predict(), which pads for you"
            )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits without input checks (for tracing/export)."""
        out = self.net(x)
        return out["out"] if isinstance(out, dict) else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.logits(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities ``(N, K, H, W)`` for any H, W (reflect-padded to fit, then cropped)."""
        if self.training:
            self.eval()
        h, w = int(x.shape[-2]), int(x.shape[-1])
        ph, pw = padded_size(h, w, self.divisor)
        if (ph, pw) != (h, w):
            mode = "reflect" if ph - h < h and pw - w < w else "replicate"
            x = F.pad(x, (0, pw - w, 0, ph - h), mode=mode)
        return torch.softmax(self.forward(x), dim=1)[:, :, :h, :w]
