"""3D ResNet building blocks (Hara et al. 2018's 3D ResNet, with GroupNorm as in the cINN
paper's appendix B.1) for video encoders and temporal discriminators.

Features are ``(b c t h w)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kinema.nn.checkpointing import checkpointed
from kinema.nn.norms import group_count, spectral


class ResBlock3d(nn.Module):
    """Two 3x3x3 convolutions with a residual connection; ``stride`` (time, space) downsamples.

    ``norm``: "group" (GroupNorm) or "none"; ``spectral_norm`` wraps the convolutions (for
    discriminators).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int] = (1, 1),
                 norm: str = "group", spectral_norm: bool = False):
        super().__init__()
        if norm not in ("group", "none"):
            raise ValueError(f"norm must be 'group' or 'none', got {norm!r}")
        s = (stride[0], stride[1], stride[1])

        def make_norm(c: int) -> nn.Module:
            return nn.GroupNorm(group_count(c), c) if norm == "group" else nn.Identity()

        self.conv1 = spectral(nn.Conv3d(in_channels, out_channels, 3, stride=s, padding=1), spectral_norm)
        self.norm1 = make_norm(out_channels)
        self.conv2 = spectral(nn.Conv3d(out_channels, out_channels, 3, padding=1), spectral_norm)
        self.norm2 = make_norm(out_channels)
        self.skip: nn.Module = nn.Identity()
        if in_channels != out_channels or s != (1, 1, 1):
            self.skip = spectral(nn.Conv3d(in_channels, out_channels, 1, stride=s), spectral_norm)
        if not spectral_norm:   # (spectral norm's power iteration must not run twice a step)
            self.activation_checkpointing = False   # kinema.nn.checkpointing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpointed(self, self._body, x)

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.norm1(self.conv1(x)), 0.2)
        h = self.norm2(self.conv2(h))
        return F.leaky_relu(h + self.skip(x), 0.2)


class ResNet3d(nn.Module):
    """A stem convolution and ``ResBlock3d`` stages; each stage after the first halves space
    (and time, while ``time_downsample`` lasts). Returns every stage's output (features for
    feature matching) and ends with the last map ``(b c t' h' w')``.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], time_downsample: int = 0,
                 norm: str = "group", spectral_norm: bool = False):
        super().__init__()
        self.stem = spectral(nn.Conv3d(in_channels, widths[0], 3, padding=1), spectral_norm)
        stages = []
        previous = widths[0]
        for i, width in enumerate(widths):
            stride = (1, 1) if i == 0 else (2 if i <= time_downsample else 1, 2)
            stages.append(ResBlock3d(previous, width, stride, norm, spectral_norm))
            previous = width
        self.stages = nn.ModuleList(stages)
        self.out_channels = previous

    def forward(self, video: torch.Tensor) -> list[torch.Tensor]:
        """video (b c t h w) -> list of stage features, the last being the output map."""
        h = self.stem(video)
        features = []
        for stage in self.stages:
            h = stage(h)
            features.append(h)
        return features


def channels_last_3d(module: nn.Module) -> nn.Module:
    """Store every 5-D parameter (the Conv3d weights, spectral norm's ``weight_orig`` too) in
    the channels-last 3D layout, in place; returns ``module``. Convolutions then run on
    (b t h w c) memory (oneDNN's preferred layout on CPU) and their outputs stay in it; the
    values are the plain layout's (tests/nn/test_video3d_layout.py)."""
    import torch

    for p in module.parameters():
        if p.ndim == 5:
            p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    return module
