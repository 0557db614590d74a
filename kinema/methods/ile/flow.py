"""The invertible network g_theta of ILE: Glow-like and multi-scale (Sec. 3.2).

Each block: squeeze (space-to-depth), then ``steps_per_block`` affine couplings, each followed
by a fixed channel shuffle (the paper uses neither Glow's 1x1 convolutions nor actnorm; both
are config switches). At the end of every block but the last, half of the channels leave
early and go straight to the final embedding; the rest continue to the next block. The
embedding of a frame is the concatenation of all parts, D = c*h*w entries.

``encode`` is the paper's g^{-1}: frame -> embedding (with log|det|); ``decode`` is g.
"""
from __future__ import annotations

import torch
from torch import nn

from kinema.nn.invertible import (ActNorm, AffineCoupling, FixedPermutation, Invertible1x1Conv,
                                  InvertibleSequence, Squeeze)


class MultiScaleFlow(nn.Module):
    def __init__(self, channels: int, image_size: int, blocks: int, steps_per_block: int,
                 hidden: int, clamp: float = 2.0, actnorm: bool = False,
                 invertible_1x1: bool = False, memory_saving: bool = False, seed: int = 0):
        super().__init__()
        self.channels, self.image_size = channels, image_size
        self.levels = nn.ModuleList()
        self.part_shapes: list[tuple[int, int, int]] = []    # (c h w) of each part of z
        c, size = channels, image_size
        for block in range(blocks):
            c, size = 4 * c, size // 2
            layers: list[nn.Module] = [Squeeze()]
            for step in range(steps_per_block):
                if actnorm:
                    layers.append(ActNorm(c))
                layers.append(AffineCoupling(c, hidden=hidden, clamp=clamp))
                mix_seed = seed * 10_000 + block * 100 + step
                layers.append(Invertible1x1Conv(c, seed=mix_seed) if invertible_1x1
                              else FixedPermutation(c, seed=mix_seed))
            self.levels.append(InvertibleSequence(layers, memory_saving=memory_saving))
            if block < blocks - 1:
                leaving = c // 2
                self.part_shapes.append((leaving, size, size))
                c -= leaving
        self.part_shapes.append((c, size, size))
        self.dim = channels * image_size * image_size

    def set_memory_saving(self, enabled: bool) -> None:
        for level in self.levels:
            level.memory_saving = enabled

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N c h w) -> embedding (N D), log|det d emb / d x| (N,)."""
        parts, logdet = [], x.new_zeros(x.shape[0])
        h = x
        for i, level in enumerate(self.levels):
            h, ld = level(h)
            logdet = logdet + ld
            if i < len(self.levels) - 1:
                leaving = self.part_shapes[i][0]
                parts.append(h[:, :leaving].flatten(1))        # early connection out
                h = h[:, leaving:]
        parts.append(h.flatten(1))
        return torch.cat(parts, dim=1), logdet

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """embedding (N D) -> frames (N c h w), the exact inverse of ``encode``."""
        sizes = [c * h * w for c, h, w in self.part_shapes]
        parts = [p.reshape(-1, *shape) for p, shape in zip(z.split(sizes, dim=1), self.part_shapes)]
        h = parts[-1]
        for i in reversed(range(len(self.levels))):
            if i < len(self.levels) - 1:
                h = torch.cat([parts[i], h], dim=1)
            h, _ = self.levels[i](h, reverse=True)
        return h
