"""Discriminators for frames and clips, shared by the GAN-trained methods:

- ``PatchDiscriminator`` on single frames (PatchGAN, Isola et al. 2017): the cINN's D_S,
- ``TemporalDiscriminator`` on whole clips (a 3D ResNet, Hara et al. 2018): the cINN's D_T.

Both use spectral normalisation (for hinge GAN stability; the cINN paper does not name its
discriminators' normalisation) and return their logits with intermediate features for
feature matching (``kinema.nn.gan.feature_matching``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.nn.norms import spectral
from kinema.nn.video3d import ResNet3d


class PatchDiscriminator(nn.Module):
    """Strided 4x4 convolutions to a map of patch logits. frames (b c h w) -> logits (b 1 h' w')
    and the features after every strided convolution."""

    def __init__(self, channels: int, widths: tuple[int, ...]):
        super().__init__()
        layers = []
        previous = channels
        for width in widths:
            layers.append(spectral(nn.Conv2d(previous, width, 4, stride=2, padding=1)))
            previous = width
        self.layers = nn.ModuleList(layers)
        self.head = spectral(nn.Conv2d(previous, 1, 3, padding=1))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        h = frames
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
            features.append(h)
        return self.head(h), features


class TemporalDiscriminator(nn.Module):
    """3D ResNet over a clip, global average pool, linear logit. video (b t c h w) -> logits (b)
    and the features of every ResNet stage. Time is halved after every stage but the first."""

    def __init__(self, channels: int, widths: tuple[int, ...]):
        super().__init__()
        self.body = ResNet3d(channels, widths, time_downsample=len(widths) - 1, norm="none",
                             spectral_norm=True)
        self.head = spectral(nn.Linear(self.body.out_channels, 1))

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.body(rearrange(video, "b t c h w -> b c t h w"))
        pooled = features[-1].mean(dim=(2, 3, 4))        # (b c)
        return self.head(pooled).squeeze(1), features
