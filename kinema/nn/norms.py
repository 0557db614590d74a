"""Conditional normalisations and spectral-norm helpers for generators.

- ``SPADE`` (Park et al. 2019): normalise, then modulate with a per-position scale and shift
  predicted from a conditioning image (the cINN paper's decoder conditions on x0 this way,
  Sec. 3.3; appendix B.1 uses GroupNorm inside SPADE).
- ``AdaIN`` (Huang & Belongie 2017): instance-normalise, then scale and shift per channel from
  a code vector (the cINN decoder injects the video code z this way).
- ``spectral(module, enabled)``: torch's spectral normalisation (Miyato et al. 2018), a no-op
  when disabled, so a config flag can switch it.

Both norms work on video features ``(b c t h w)`` and image features ``(b c h w)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm as _TorchSpectralNorm

from kinema.nn.precision import fp32_island


class _SpectralNorm(_TorchSpectralNorm):
    """torch's spectral-norm parametrisation (the same buffers and state-dict keys) with its
    power iteration and sigma in an fp32 island: under bfloat16 autocast a 16-bit sigma made
    the cINN decoder's weight gradients infinite (benchmarks/precision.md)."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with fp32_island("spectral norm power iteration", weight) as weight:
            return super().forward(weight)


def spectral(module: nn.Module, enabled: bool = True) -> nn.Module:
    """``module`` with spectral normalisation of its weight when ``enabled`` (as
    ``nn.utils.parametrizations.spectral_norm``: one power iteration per training forward)."""
    if not enabled:
        return module
    transposed = isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
    parametrize.register_parametrization(
        module, "weight", _SpectralNorm(module.weight, 1, 1 if transposed else 0, 1e-12))
    return module


def group_count(channels: int, preferred: int = 8) -> int:
    """The largest number of groups <= ``preferred`` that divides ``channels``."""
    for groups in range(min(preferred, channels), 0, -1):
        if channels % groups == 0:
            return groups
    return 1


class SPADE(nn.Module):
    """GroupNorm (no affine) followed by ``x * (1 + gamma(c)) + beta(c)``, where gamma and beta
    are maps predicted by a small conv net from the condition image ``c`` resized to the
    feature's spatial size (shared over time for video features).

    x: (b c t h w) or (b c h w); condition: (b k H W).
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32):
        super().__init__()
        self.norm = nn.GroupNorm(group_count(channels), channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(cond_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        c = F.interpolate(condition, size=size, mode="nearest")
        features = self.shared(c)
        gamma, beta = self.gamma(features), self.beta(features)     # (b c h w)
        if x.ndim == 5:
            gamma = rearrange(gamma, "b c h w -> b c 1 h w")
            beta = rearrange(beta, "b c h w -> b c 1 h w")
        with fp32_island("group norm statistics", x) as x:   # (as AdaIN's statistics)
            normed = self.norm(x)
        return normed * (1 + gamma) + beta


class AdaIN(nn.Module):
    """Instance normalisation (per sample and channel, over all remaining axes) followed by
    ``x * (1 + gamma(z)) + beta(z)`` with gamma, beta from a linear map of the code ``z``.

    x: (b c t h w) or (b c h w); code: (b d).
    """

    def __init__(self, channels: int, code_dim: int, eps: float = 1e-5):
        super().__init__()
        self.affine = nn.Linear(code_dim, 2 * channels)
        self.eps = eps

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, x.ndim))
        # fp32 island: a bfloat16 variance of nearly constant features (8 bits for the
        # mean's square minus the square's mean) made the cINN decoder's gradients NaN
        # (benchmarks/precision.md)
        with fp32_island("instance norm statistics", x) as x:
            mean = x.mean(dim=dims, keepdim=True)
            var = x.var(dim=dims, keepdim=True, unbiased=False)
            normed = (x - mean) / torch.sqrt(var + self.eps)
        gamma, beta = self.affine(code).chunk(2, dim=1)          # (b c) each
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)
        return normed * (1 + gamma.view(shape)) + beta.view(shape)
