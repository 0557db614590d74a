"""GenDeF's discriminators: StyleGAN2's residual discriminator on single frames (stage 1) and
StyleGAN-V's on sparse frames with their time differences (stage 2, Sec. 4.1: "D follows the
structure of StyleGAN-V").

StyleGAN-V's discriminator runs every frame through the same image blocks down to
``fuse_resolution``, concatenates the k frames' features along channels there, continues with
image blocks on the fused map, and is conditioned on the time differences between the frames
by projection (Miyato & Koyama 2018, as StyleGAN2-ADA's conditional D): the logit is
<phi(x), psi(dt)> / sqrt(d) with psi an MLP over sinusoidal features of dt. With k = 1 and
no condition it is StyleGAN2's image discriminator, whose per-frame blocks initialise the
video discriminator's after pre-training (parameters with one name and shape are copied).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.nn.modulated import EqualizedLinear, channel_widths, leaky_relu_gained


class EqualizedConv2d(nn.Module):
    """Conv2d with equalised learning rate (weights N(0, 1) scaled by 1/sqrt(fan_in) at run time)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "lrelu"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.weight.shape[-1] // 2)
        return leaky_relu_gained(y) if self.activation == "lrelu" else y


class DiscriminatorBlock(nn.Module):
    """StyleGAN2's residual block: two 3x3 convs and a 2x downsampling, plus a 1x1 skip; the sum
    is divided by sqrt(2) to keep its variance. (b in h w) -> (b out h/2 w/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, bias=False, activation="linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = self.conv1(F.avg_pool2d(self.conv0(x), 2))
        return (skip + x) / math.sqrt(2.0)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """StyleGAN's minibatch standard deviation: the mean std over groups of samples, appended as
    one channel. (b c h w) -> (b c+1 h w); the group is the largest size <= group_size dividing b."""
    b, c, h, w = x.shape
    group = next(g for g in range(min(group_size, b), 0, -1) if b % g == 0)
    y = rearrange(x, "(g m) c h w -> g m c h w", g=group)
    std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))       # (m)
    std = std.repeat(group)[:, None, None, None].expand(b, 1, h, w)
    return torch.cat([x, std], dim=1)


def time_features(dt: torch.Tensor, count: int, max_period: float = 256.0) -> torch.Tensor:
    """(b k) time differences in frames -> (b k 2 count) sin/cos at periods log-spaced in [2, max_period]."""
    periods = 2.0 ** torch.linspace(1.0, math.log2(max_period), count, device=dt.device, dtype=dt.dtype)
    angle = 2 * math.pi * dt.unsqueeze(-1) / periods
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


class StyleDiscriminator(nn.Module):
    """frames (b k c h w) [+ times (b k)] -> logits (b).

    ``num_frames`` k = 1: StyleGAN2's image discriminator. k > 1: StyleGAN-V's, conditioned on the
    k - 1 time differences of the sorted times.
    """

    def __init__(self, channels: int, resolution: int, channel_base: int, channel_max: int, num_frames: int = 1,
                 fuse_resolution: int = 4, time_frequencies: int = 16, mbstd_group: int = 4):
        super().__init__()
        self.num_frames, self.resolution, self.fuse_resolution = num_frames, resolution, fuse_resolution
        if num_frames > 1 and not 4 <= fuse_resolution <= resolution:
            raise ValueError(f"fuse_resolution must be in [4, {resolution}], got {fuse_resolution}")
        widths = channel_widths(resolution, channel_base, channel_max)
        self.from_image = EqualizedConv2d(channels, widths[resolution], 1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(widths[r], widths[r // 2])
                                    for r in sorted(widths, reverse=True) if r > 4)
        self.fuse = (EqualizedConv2d(widths[fuse_resolution] * num_frames, widths[fuse_resolution], 1)
                     if num_frames > 1 else None)
        self.mbstd_group = mbstd_group
        top = widths[4]
        self.epilogue_conv = EqualizedConv2d(top + 1, top, 3)
        self.epilogue_fc = EqualizedLinear(top * 16, top, activation="lrelu")
        if num_frames > 1:
            self.time_frequencies = time_frequencies
            self.time_mapping = nn.Sequential(
                EqualizedLinear(2 * time_frequencies * (num_frames - 1), top, activation="lrelu"),
                EqualizedLinear(top, top))
            self.out = EqualizedLinear(top, top)          # projected on the time embedding
        else:
            self.out = EqualizedLinear(top, 1)

    def forward(self, frames: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        if frames.ndim == 4:
            frames = frames.unsqueeze(1)
        b, k = frames.shape[:2]
        if k != self.num_frames:
            raise ValueError(f"this discriminator takes {self.num_frames} frame(s) per sample, got {k}")
        x = self.from_image(rearrange(frames, "b k c h w -> (b k) c h w"))
        resolution = self.resolution
        fused = self.fuse is None
        for block in self.blocks:
            if not fused and resolution == self.fuse_resolution:
                x, fused = self.fuse(rearrange(x, "(b k) c h w -> b (k c) h w", k=k)), True
            x = block(x)
            resolution //= 2
        if not fused:                                       # fuse_resolution == 4
            x = self.fuse(rearrange(x, "(b k) c h w -> b (k c) h w", k=k))
        x = self.epilogue_conv(minibatch_stddev(x, self.mbstd_group))
        x = self.out(self.epilogue_fc(x.flatten(1)))
        if self.num_frames == 1:
            return x.squeeze(1)
        if times is None or times.shape != (b, k):
            raise ValueError(f"times must be (b k) = ({b} {k})")
        dt = times[:, 1:] - times[:, :-1]                   # (b k-1): what D is conditioned on
        embedding = self.time_mapping(time_features(dt, self.time_frequencies).flatten(1))
        return (x * embedding).sum(dim=1) / math.sqrt(x.shape[1])

    def load_frame_blocks(self, image_discriminator: "StyleDiscriminator") -> list[str]:
        """Copy every parameter of a pre-trained image discriminator with the same name and shape
        (the per-frame blocks; the fusion, time mapping and output stay new). Returns the names."""
        mine = self.state_dict()
        copied = {n: v for n, v in image_discriminator.state_dict().items()
                  if n in mine and mine[n].shape == v.shape}
        self.load_state_dict(copied, strict=False)
        return sorted(copied)
