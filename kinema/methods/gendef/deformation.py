"""GenDeF's deformation field generator G_d (Eq. (2), appendix A, Figs. A1-A2).

Delta m_t = G_d(z_d, u_t; f_c): StyleGAN-V's generator with a 2-channel output.

- z_d goes through G_d's own mapping network to w_d (one w for every layer);
- u_t are StyleGAN-V motion codes (``kinema.nn.motion_codes``), concatenated to the learned
  4x4 constant input of every frame;
- the canonical feature f_c (b D h w), from G_c, is resized to the resolution of the features
  each synthesis layer takes and concatenated to them (Fig. A2a: "we introduce the canonical
  feature to the synthesis layers"; Fig. A1 passes it to both layers of a block);
- every block upsamples the previous field and adds the residual its "ToOut" layer predicts
  (a toRGB with 2 outputs); the first block's ToOut output is the field itself;
- the last block's ToOut has 4 outputs, a multiplier and an adder: field = up(field) * mult +
  add (Fig. A1). Its weight and bias are zero-initialised, so every field is exactly 0 at the
  start of fine-tuning: every frame is the canonical image (appendix A). Without the multiplier
  (Table A1's "w/o multi.") the last block adds a residual like the others, default init.

Fields are in normalised image coordinates (grid_sample's units: 1 = half the image), so their
values do not depend on the resolution; ``GenDeF`` converts them to pixels for warping.
With ``out_channels = 3`` and no canonical feature this is the StyleGAN-V-like baseline that
generates frames directly (the field sum is then StyleGAN2's skip image sum).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import repeat
from torch import nn

from kinema.nn.checkpointing import checkpointed
from kinema.nn.modulated import MappingNetwork, SynthesisLayer, ToImage, channel_widths, upsample2x
from kinema.nn.motion_codes import MotionCodes


class DeformationGenerator(nn.Module):
    """(z_d (b z), motion noise (b k zm), times (b n), f_c (b D h w) or None) -> (b n out h w)."""

    def __init__(self, resolution: int, z_dim: int, w_dim: int, mapping_layers: int, channel_base: int,
                 channel_max: int, motion: MotionCodes, canonical_channels: int = 0, out_channels: int = 2,
                 use_multiplier: bool = True):
        super().__init__()
        self.resolution, self.out_channels = resolution, out_channels
        self.canonical_channels, self.use_multiplier = canonical_channels, use_multiplier
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.motion = motion
        widths = channel_widths(resolution, channel_base, channel_max)
        self.const = nn.Parameter(torch.randn(widths[4], 4, 4))
        layers, heads = [], []
        previous = widths[4] + motion.code_dim
        resolutions = list(widths)
        for res in resolutions:
            block = nn.ModuleList()
            for index in range(1 if res == 4 else 2):
                block.append(SynthesisLayer(previous + canonical_channels, widths[res], w_dim, res,
                                            up=(res > 4 and index == 0), use_noise=False))
                previous = widths[res]
            layers.append(block)
            last = res == resolutions[-1]
            heads.append(ToImage(widths[res], 2 * out_channels if (last and use_multiplier) else out_channels, w_dim))
        self.blocks = nn.ModuleList(layers)
        self.heads = nn.ModuleList(heads)
        if use_multiplier:
            self.heads[-1].zero_()
        self.activation_checkpointing = False   # per synthesis layer (kinema.nn.checkpointing)

    def _with_canonical(self, x: torch.Tensor, canonical: torch.Tensor | None, frames: int) -> torch.Tensor:
        if not self.canonical_channels:
            return x
        f = F.interpolate(canonical, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([x, f.repeat_interleave(frames, dim=0)], dim=1)          # (b n) c h w

    def forward(self, z: torch.Tensor, motion_noise: torch.Tensor, times: torch.Tensor,
                canonical: torch.Tensor | None = None, w: torch.Tensor | None = None) -> torch.Tensor:
        """Fields (b n out h w) for the frames at ``times`` (b n, any real >= 0); ``w`` (b w_dim)
        replaces mapping(z) when given (e.g. a truncated or fixed w_d)."""
        if self.canonical_channels and (canonical is None or canonical.shape[1] != self.canonical_channels):
            raise ValueError(f"G_d is conditioned on a canonical feature of {self.canonical_channels} channels")
        b, n = times.shape
        w = self.mapping(z) if w is None else w
        w = w.repeat_interleave(n, dim=0)                                           # (b n) w_dim
        codes = self.motion(times, motion_noise).flatten(0, 1)                      # (b n) code_dim
        x = torch.cat([repeat(self.const, "c h w -> m c h w", m=b * n),
                       repeat(codes, "m c -> m c h w", h=4, w=4)], dim=1)
        field = None
        for index, (block, head) in enumerate(zip(self.blocks, self.heads)):
            for layer in block:
                x = checkpointed(self, layer, self._with_canonical(x, canonical, n), w)
            out = head(x, w)
            if field is None:
                field = out
            elif index == len(self.blocks) - 1 and self.use_multiplier:
                multiplier, adder = out.split(self.out_channels, dim=1)              # Fig. A1
                field = upsample2x(field) * multiplier + adder
            else:
                field = upsample2x(field) + out
        return field.unflatten(0, (b, n))
