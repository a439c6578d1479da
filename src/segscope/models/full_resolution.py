"""A full-resolution skip for smp's U-Net and U-Net++.

smp's U-Net decoders drop the encoder's first feature map (the input itself), so with a ResNet
encoder, whose stem halves the resolution, the last decoder stage works from features at half
resolution and sees no full-resolution skip. That costs accuracy on thin structures (cell
membranes, vessels, cracks) whose edges are a pixel wide. :class:`FullResolutionSkip` adds the
missing skip: two 3x3 conv-BN-ReLU layers on the input at full resolution, concatenated with the
decoder output and fused by one more 3x3 conv-BN-ReLU before smp's segmentation head.

Imports torch at module level: import it only from the model builders.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["FullResolutionSkip", "FULL_RESOLUTION_ARCHS"]

#: smp architectures whose decoder output is at the input resolution.
FULL_RESOLUTION_ARCHS = ("unet", "unetplusplus")


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class FullResolutionSkip(nn.Module):
    """An smp U-Net/U-Net++ with a ``channels``-wide skip from the input at full resolution.

    Keeps the wrapped model's ``encoder``, ``decoder`` and ``segmentation_head`` (so encoder
    weights load as before and the output stride is the encoder's).
    """

    def __init__(self, net: Any, in_channels: int, channels: int) -> None:
        super().__init__()
        self.encoder = net.encoder
        self.decoder = net.decoder
        self.segmentation_head = net.segmentation_head
        decoder_out = int(self.segmentation_head[0].in_channels)
        self.skip = nn.Sequential(_conv_bn_relu(in_channels, channels), _conv_bn_relu(channels, channels))
        self.fuse = _conv_bn_relu(decoder_out + channels, decoder_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        decoded = self.decoder(self.encoder(x))
        return self.segmentation_head(self.fuse(torch.cat([decoded, self.skip(x)], dim=1)))
