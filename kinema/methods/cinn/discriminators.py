"""The video autoencoder's two discriminators (Sec. 3.3, appendix B.1):

- ``PatchDiscriminator`` D_S on single frames (PatchGAN, Isola et al. 2017),
- ``TemporalDiscriminator`` D_T on whole clips (a 3D ResNet, Hara et al. 2018).

Both use spectral normalisation (for hinge GAN stability; the paper does not name the
discriminators' normalisation) and return their logits with intermediate features for the
feature-matching loss of Eq. (10).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.nn.norms import spectral
from kinema.nn.video3d import ResNet3d


class PatchDiscriminator(nn.Module):
    """Strided 4x4 convolutions to a map of patch logits. frames (b c h w) -> logits (b 1 h' w')."""

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
    """3D ResNet over a clip, global average pool, linear logit. video (b t c h w) -> (b)."""

    def __init__(self, channels: int, widths: tuple[int, ...]):
        super().__init__()
        self.body = ResNet3d(channels, widths, time_downsample=len(widths) - 1, norm="none",
                             spectral_norm=True)
        self.head = spectral(nn.Linear(self.body.out_channels, 1))

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.body(rearrange(video, "b t c h w -> b c t h w"))
        pooled = features[-1].mean(dim=(2, 3, 4))        # (b c)
        return self.head(pooled).squeeze(1), features
