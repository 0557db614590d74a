"""Parameter-light invertible layers: actnorm, fixed permutation, invertible 1x1 conv,
squeeze and an invertible leaky ReLU.

Every layer follows one contract (STYLE.md §2, FrEIA's habit)::

    y, logdet = layer(x, cond=None, reverse=False)

``x`` is a batch of vectors ``(b d)`` or of feature maps ``(b c h w)``; ``logdet`` is ``(b,)``:
log|det dy/dx| in the forward direction and log|det dx/dy| (its negative at the same point)
in reverse, so that summing along a chain is always the change-of-variables correction of the
direction that was run. ``cond`` is accepted and ignored by layers without a condition, so a
sequence can pass it to every member.

Written by hand rather than taken from FrEIA 0.2: FrEIA's ``PermuteRandom`` reseeds numpy's
global RNG and stores its permutation as a parameter, its ``ActNorm`` cannot be told when to
initialise, and the memory-saving sequence of ``sequence.py`` needs each layer's exact
inverse behind one call signature.
"""
from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from kinema.nn.precision import fp32_island


def spatial_size(x: torch.Tensor) -> int:
    """Number of positions that share one per-channel parameter: h*w for maps, 1 for vectors."""
    return x.shape[2] * x.shape[3] if x.ndim == 4 else 1


def _check_input(x: torch.Tensor) -> None:
    if x.ndim not in (2, 4):
        raise ValueError(f"invertible layers take (b d) or (b c h w) tensors, got {tuple(x.shape)}")


def _per_channel(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a (c,) vector against (b c) or (b c h w)."""
    return v.view(1, -1, 1, 1) if x.ndim == 4 else v.view(1, -1)


class InvertibleLayer(nn.Module):
    """Marker base class: ``forward(x, cond=None, reverse=False) -> (y, logdet (b,))``."""

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self(y, cond=cond, reverse=True)[0]

    def recompute(self, y: torch.Tensor, cond: torch.Tensor | None = None):
        """One step of the memory-saving backward (``sequence.py``): the input x of this layer
        from its output y, and the layer re-run on it with autograd.

        Returns ``(parts, join, out, logdet)``: ``parts`` are leaf tensors that require grad
        and make up x (``join(parts)`` is x; ``join`` of their gradients is dL/dx), and
        ``out, logdet = layer(x)`` carry the graph. This default inverts, then re-runs;
        a layer can share work between the two (``AffineCoupling``)."""
        with torch.no_grad():
            x = self(y, cond=cond, reverse=True)[0]
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out, logdet = self(x, cond=cond)
        return [x], _only, out, logdet


def _only(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0]


class ActNorm(InvertibleLayer):
    """Per-channel affine y = (x + bias) * exp(log_scale) (Glow, Kingma & Dhariwal 2018).

    Data-dependent initialisation: the first forward call (not reverse) sets bias and scale so
    that that batch has zero mean and unit variance per channel. Whether this happened is a
    buffer, so it is saved and loaded with the weights (a loaded model never re-initialises).
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        dims = [0, 2, 3] if x.ndim == 4 else [0]
        mean = x.mean(dim=dims)
        std = x.std(dim=dims, unbiased=False) if x.shape[0] * spatial_size(x) > 1 \
            else torch.ones_like(mean)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + self.eps))
        self.initialized.fill_(True)

    def forward(self, x, cond=None, reverse=False):
        _check_input(x)
        if not reverse and not bool(self.initialized):
            self.initialize(x)
        bias, log_scale = _per_channel(self.bias, x), _per_channel(self.log_scale, x)
        logdet = (self.log_scale.sum() * spatial_size(x)).expand(x.shape[0])
        if reverse:
            return x * torch.exp(-log_scale) - bias, -logdet
        return (x + bias) * torch.exp(log_scale), logdet


class FixedPermutation(InvertibleLayer):
    """A fixed random shuffle of channels (or vector entries); log|det| = 0.

    The permutation is drawn from a local ``torch.Generator`` seeded by ``seed`` (never the
    global RNG) and kept as a buffer (saved, not trained)."""

    def __init__(self, channels: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        perm = torch.randperm(channels, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x, cond=None, reverse=False):
        _check_input(x)
        index = self.inv_perm if reverse else self.perm
        return x[:, index], x.new_zeros(x.shape[0])


class Invertible1x1Conv(InvertibleLayer):
    """Glow's learned channel mixing y = W x at every position; log|det| = h*w*log|det W|.

    W starts as a random rotation from a local generator (so log|det| starts at 0)."""

    def __init__(self, channels: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
        self.weight = nn.Parameter(q)

    def forward(self, x, cond=None, reverse=False):
        _check_input(x)
        # fp32 island: log|det W| and W^-1 of the flow (a 16-bit product would make the
        # inverse pass miss the forward one)
        with fp32_island("invertible 1x1 convolution", x) as x:
            logdet = (torch.linalg.slogdet(self.weight).logabsdet * spatial_size(x)).expand(x.shape[0])
            weight = torch.linalg.inv(self.weight) if reverse else self.weight
            if x.ndim == 4:
                y = torch.einsum("oc,bchw->bohw", weight, x)
            else:
                y = x @ weight.T
        return y, (-logdet if reverse else logdet)


class Squeeze(InvertibleLayer):
    """Space-to-depth: (b c h w) -> (b 4c h/2 w/2), a permutation of entries (log|det| = 0)."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor

    def forward(self, x, cond=None, reverse=False):
        f = self.factor
        if x.ndim != 4:
            raise ValueError(f"Squeeze takes (b c h w) feature maps, got {tuple(x.shape)}")
        if reverse:
            y = rearrange(x, "b (c p q) h w -> b c (h p) (w q)", p=f, q=f)
        else:
            if x.shape[2] % f or x.shape[3] % f:
                raise ValueError(f"Squeeze needs h, w divisible by {f}, got {tuple(x.shape)}")
            y = rearrange(x, "b c (h p) (w q) -> b (c p q) h w", p=f, q=f)
        return y, x.new_zeros(x.shape[0])


class InvertibleLeakyReLU(InvertibleLayer):
    """y = x for x >= 0, y = slope * x otherwise; log|det| = (#negative entries) * log(slope).

    The true log-determinant is returned (the cINN paper's official code returns 0 for its
    leaky ReLU, which makes its likelihood wrong; issue 5 asks for the true value)."""

    def __init__(self, negative_slope: float = 0.1):
        super().__init__()
        if not 0 < negative_slope:
            raise ValueError(f"negative_slope must be > 0 to be invertible, got {negative_slope}")
        self.negative_slope = negative_slope

    def forward(self, x, cond=None, reverse=False):
        _check_input(x)
        negative = x < 0
        log_slope = math.log(self.negative_slope)
        count = negative.flatten(1).sum(dim=1).to(x.dtype)
        if reverse:
            return torch.where(negative, x / self.negative_slope, x), -count * log_slope
        return torch.where(negative, x * self.negative_slope, x), count * log_slope
