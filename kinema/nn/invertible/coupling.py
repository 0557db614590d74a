"""Affine coupling (Dinh et al. 2016, RealNVP) for vectors and feature maps, with an optional
condition (the cINN paper's conditional coupling, Sec. 3.2 and appendix B.1).

The input is split into two halves; a subnetwork of the first half (and of the condition)
gives a log-scale and a shift for the second half:

    y1 = x1,   y2 = x2 * s(x1, c) + t(x1, c),   log|det| = sum log s

which is the coupling of Sec. 2.2 of the ILE paper ("using half of the layer's input we learn
to produce an affine transformation to apply to the other half"). The scale is kept positive
and bounded by a soft clamp, s = exp(clamp * tanh(raw / clamp)), as in FrEIA's
``AllInOneBlock`` / the cINN paper's reference implementation, so a single step can never blow
up or vanish a channel (the ILE paper notes the numerical fragility of its training loop,
Sec. 2.5). The subnet's last layer is initialised to zero, so each coupling starts as the
identity (Glow's habit; issue 4).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from kinema.nn.invertible.layers import InvertibleLayer, _check_input
from kinema.nn.precision import fp32_island


def conv_subnet(in_channels: int, out_channels: int, hidden: int) -> nn.Module:
    """3x3 conv -> 1x1 conv -> 3x3 conv with a wide middle (ILE Sec. 3.2, Glow's NN())."""
    net = nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
        nn.Conv2d(hidden, out_channels, 3, padding=1),
    )
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}   # LeakyReLU at torch's 0.01


def fc_subnet(in_features: int, out_features: int, hidden: int, layers: int = 2,
              activation: str = "relu") -> nn.Module:
    """``layers`` hidden Linear + activation pairs, then a zero-initialised Linear (the cINN's
    fully connected subnetwork; the defaults are kinema's first shape: 2 hidden ReLU layers)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    if layers < 1:
        raise ValueError(f"a subnet needs at least 1 hidden layer, got {layers}")
    modules: list[nn.Module] = []
    for i in range(layers):
        modules += [nn.Linear(in_features if i == 0 else hidden, hidden), ACTIVATIONS[activation]()]
    net = nn.Sequential(*modules, nn.Linear(hidden, out_features))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class SeparateScaleShift(nn.Module):
    """Two subnets of the same input, one for the raw log-scale and one for the shift,
    returning them as [raw log s, t] along dim 1 (the cINN's official code: separate s and t
    networks, appendix B.1)."""

    def __init__(self, scale: nn.Module, shift: nn.Module):
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.scale(x), self.shift(x)], dim=1)


def separate_fc_subnets(in_features: int, out_features: int, hidden: int, layers: int = 2,
                        activation: str = "relu") -> nn.Module:
    """An s net and a t net, each ``fc_subnet(in, out_features // 2)``."""
    half = out_features // 2
    return SeparateScaleShift(fc_subnet(in_features, half, hidden, layers, activation),
                              fc_subnet(in_features, half, hidden, layers, activation))


class AffineCoupling(InvertibleLayer):
    """Affine coupling over channels of ``(b c h w)`` (conv subnet) or entries of ``(b d)``
    (fully connected subnet).

    ``cond_channels``: size of the condition concatenated to the subnet input. For feature maps
    the condition may be ``(b k h w)`` or ``(b k)`` (broadcast over positions).
    ``flip``: transform the first half from the second instead (alternate it in a stack so
    both halves change, when no permutation sits between couplings).
    ``subnet_constructor(in_channels, out_channels) -> nn.Module``: replaces the default
    subnet (FrEIA's convention); its output must have ``out_channels`` = 2 x the changed half
    (log-scale, shift) and should start near zero so that the coupling starts near identity.
    """

    def __init__(self, channels: int, hidden: int = 512, cond_channels: int = 0,
                 spatial: bool = True, clamp: float = 2.0, flip: bool = False,
                 subnet_constructor: Callable[[int, int], nn.Module] | None = None):
        super().__init__()
        if channels < 2:
            raise ValueError(f"AffineCoupling needs at least 2 channels, got {channels}")
        self.channels, self.cond_channels = channels, cond_channels
        self.spatial, self.clamp, self.flip = spatial, clamp, flip
        self.split = channels // 2
        kept, changed = (channels - self.split, self.split) if flip else (self.split, channels - self.split)
        if subnet_constructor is not None:
            self.subnet = subnet_constructor(kept + cond_channels, 2 * changed)
        else:
            make = conv_subnet if spatial else fc_subnet
            self.subnet = make(kept + cond_channels, 2 * changed, hidden)

    def _halves(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = x[:, :self.split], x[:, self.split:]
        return (b, a) if self.flip else (a, b)   # (kept, changed)

    def _join(self, kept: torch.Tensor, changed: torch.Tensor) -> torch.Tensor:
        return torch.cat([changed, kept] if self.flip else [kept, changed], dim=1)

    def _subnet_input(self, kept: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if self.cond_channels == 0:
            return kept
        if cond is None:
            raise ValueError(f"this coupling was built with cond_channels={self.cond_channels} "
                             "and needs a condition")
        if cond.shape[1] != self.cond_channels:
            raise ValueError(f"condition has {cond.shape[1]} channels, expected {self.cond_channels}")
        if kept.ndim == 4 and cond.ndim == 2:
            cond = cond[:, :, None, None].expand(-1, -1, kept.shape[2], kept.shape[3])
        return torch.cat([kept, cond.to(kept.dtype)], dim=1)

    def _scale_shift(self, kept: torch.Tensor, cond: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.subnet(self._subnet_input(kept, cond))      # (in autocast's 16 bits)
        # fp32 island: log s and t, and so exp(log s), the changed half and the log-determinant
        # (a sum over every dimension), are float32; the subnet alone runs in 16 bits
        with fp32_island("affine coupling scale and shift", raw) as raw:
            raw_scale, shift = raw.chunk(2, dim=1)
            return self.clamp * torch.tanh(raw_scale / self.clamp), shift   # bounded, s = exp(.) > 0

    def _check(self, x: torch.Tensor) -> None:
        _check_input(x)
        if (x.ndim == 4) != self.spatial:
            raise ValueError(f"coupling built for {'(b c h w)' if self.spatial else '(b d)'} "
                             f"inputs, got {tuple(x.shape)}")

    def forward(self, x, cond=None, reverse=False):
        self._check(x)
        kept, changed = self._halves(x)
        log_scale, shift = self._scale_shift(kept, cond)
        logdet = log_scale.flatten(1).sum(dim=1)
        if reverse:
            changed = (changed - shift) * torch.exp(-log_scale)
            return self._join(kept, changed), -logdet
        changed = changed * torch.exp(log_scale) + shift
        return self._join(kept, changed), logdet

    def recompute(self, y, cond=None):
        """The memory-saving backward's step (``InvertibleLayer.recompute``) with ONE subnet
        pass: the kept half is the same on both sides of the coupling, so the subnet run on it
        with autograd gives both the inverse (x2 = (y2 - t) / s, computed without a graph) and
        the re-run forward; the default (inverse, then forward) would run it twice."""
        self._check(y)
        kept_y, changed_y = self._halves(y)
        kept = kept_y.detach().requires_grad_(True)
        with torch.enable_grad():
            log_scale, shift = self._scale_shift(kept, cond)
        with torch.no_grad():
            changed = ((changed_y - shift) * torch.exp(-log_scale)).requires_grad_(True)
        with torch.enable_grad():
            out = self._join(kept, changed * torch.exp(log_scale) + shift)
            logdet = log_scale.flatten(1).sum(dim=1)
        return [kept, changed], lambda parts: self._join(*parts), out, logdet
