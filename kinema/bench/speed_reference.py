"""A plain PyTorch cINN flow built the way the paper's official code builds it, for
``kinema bench speed`` to time kinema against (issue 16).

As in the official code: one module per layer (actnorm, invertible leaky ReLU, a "double"
coupling holding ModuleLists of separate s and t MLPs, a shuffle), a Python loop over the
blocks, the halves swapped by ``cat(chunk(...)[::-1])`` before the second coupling, s nets
ending in tanh, and ``torch.optim.Adam(amsgrad=True)`` with torch's default (per-tensor)
implementation. Two changes so that it computes exactly kinema's function and the timing
compares equal work (``copy_from_kinema``; tests/bench/test_speed.py checks loss and
gradients): the leaky ReLU returns its true log-determinant (the official code returns 0),
and the shuffle index absorbs the half swap the official block leaves behind.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class ReferenceMLP(nn.Module):
    """Linear -> LeakyReLU, 1 + depth times, -> Linear (-> Tanh for s), the official s/t net."""

    def __init__(self, dim: int, depth: int, hidden: int, out_dim: int, use_tanh: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(dim, hidden), nn.LeakyReLU()]
        for _ in range(depth):
            layers += [nn.Linear(hidden, hidden), nn.LeakyReLU()]
        layers.append(nn.Linear(hidden, out_dim))
        if use_tanh:
            layers.append(nn.Tanh())
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x)


class ReferenceActNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, dim))
        self.scale = nn.Parameter(torch.ones(1, dim))

    def forward(self, x):
        logdet = torch.sum(torch.log(torch.abs(self.scale))) * x.new_ones(x.shape[0])
        return self.scale * (x + self.loc), logdet


class ReferenceLeakyReLU(nn.Module):
    def __init__(self, alpha: float):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        negative = x < 0
        logdet = negative.to(x.dtype).sum(dim=1) * math.log(self.alpha)   # the true value
        return torch.where(negative, x * self.alpha, x), logdet


class ReferenceShuffle(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("idx", torch.randperm(dim))

    def forward(self, x):
        return x[:, self.idx], x.new_zeros(x.shape[0])


class ReferenceDoubleCoupling(nn.Module):
    def __init__(self, dim: int, cond_dim: int, hidden: int, depth: int):
        super().__init__()
        half = dim // 2
        self.s = nn.ModuleList([ReferenceMLP(half + cond_dim, depth, hidden, half, True)
                                for _ in range(2)])
        self.t = nn.ModuleList([ReferenceMLP(half + cond_dim, depth, hidden, half, False)
                                for _ in range(2)])

    def forward(self, x, cond):
        logdet = 0
        for i in range(len(self.s)):
            if i % 2 != 0:
                x = torch.cat(torch.chunk(x, 2, dim=1)[::-1], dim=1)
            x = torch.chunk(x, 2, dim=1)
            inp = torch.cat((x[0], cond), dim=1)
            scale = self.s[i](inp)
            x_ = x[1] * scale.exp() + self.t[i](inp)
            x = torch.cat((x[0], x_), dim=1)
            logdet = logdet + torch.sum(scale, dim=1)
        return x, logdet


class ReferenceFlow(nn.Module):
    """z (b d), cond (b k) -> nu (b d), log|det| (b): ``blocks`` x [actnorm, leaky ReLU,
    double coupling, shuffle], looped in Python."""

    def __init__(self, dim: int, cond_dim: int, blocks: int, hidden: int, depth: int = 2,
                 alpha: float = 0.9):
        super().__init__()
        self.norms = nn.ModuleList([ReferenceActNorm(dim) for _ in range(blocks)])
        self.relus = nn.ModuleList([ReferenceLeakyReLU(alpha) for _ in range(blocks)])
        self.couplings = nn.ModuleList([ReferenceDoubleCoupling(dim, cond_dim, hidden, depth)
                                        for _ in range(blocks)])
        self.shuffles = nn.ModuleList([ReferenceShuffle(dim) for _ in range(blocks)])

    def forward(self, z, cond):
        logdet = 0.0
        x = z
        for i in range(len(self.norms)):
            x, ld = self.norms[i](x)
            logdet = logdet + ld
            x, ld = self.relus[i](x)
            logdet = logdet + ld
            x, ld = self.couplings[i](x, cond)
            logdet = logdet + ld
            x, ld = self.shuffles[i](x)
            logdet = logdet + ld
        return x, logdet


def reference_loss(flow: ReferenceFlow, z, cond) -> torch.Tensor:
    """Eq. (8) as ``kinema.methods.cinn.losses.flow_nll`` writes it (mean over d too)."""
    nu, logdet = flow(z, cond)
    return (0.5 * nu.pow(2).sum(dim=1) - logdet).mean() / nu.shape[1]


def reference_optimizer(flow: ReferenceFlow, lr: float = 1e-5) -> torch.optim.Adam:
    return torch.optim.Adam(flow.parameters(), lr=lr, amsgrad=True)


@torch.no_grad()
def copy_from_kinema(reference: ReferenceFlow, kinema_flow) -> None:
    """Give ``reference`` the weights of a kinema ``ConditionalINN`` built with the official
    subnet shape (separate s/t nets, LeakyReLU, clamp 1), so both compute the same function."""
    from kinema.nn.invertible import (ActNorm, AffineCoupling, FixedPermutation,
                                      InvertibleLeakyReLU)

    layers = list(kinema_flow.chain.layers)
    per_block = 5
    if len(layers) != per_block * len(reference.norms):
        raise ValueError("the kinema flow and the reference have different numbers of blocks")
    for i in range(len(reference.norms)):
        norm, relu, first, second, shuffle = layers[per_block * i: per_block * (i + 1)]
        assert isinstance(norm, ActNorm) and isinstance(relu, InvertibleLeakyReLU)
        assert isinstance(first, AffineCoupling) and isinstance(second, AffineCoupling)
        assert isinstance(shuffle, FixedPermutation) and first.clamp == 1.0 == second.clamp
        ref_norm = reference.norms[i]
        ref_norm.loc.copy_(norm.bias[None])
        ref_norm.scale.copy_(torch.exp(norm.log_scale)[None])
        reference.relus[i].alpha = relu.negative_slope
        for j, coupling in enumerate((first, second)):
            for ours, theirs in ((coupling.subnet.scale, reference.couplings[i].s[j]),
                                 (coupling.subnet.shift, reference.couplings[i].t[j])):
                mine = [m for m in ours if isinstance(m, nn.Linear)]
                other = [m for m in theirs.main if isinstance(m, nn.Linear)]
                for a, b in zip(mine, other, strict=True):
                    b.weight.copy_(a.weight)
                    b.bias.copy_(a.bias)
        # the official block leaves its halves swapped (b, a'); kinema's holds (a', b)
        d = shuffle.perm.numel()
        swap = torch.cat([torch.arange(d // 2, d), torch.arange(0, d // 2)])
        reference.shuffles[i].idx.copy_(swap[shuffle.perm])
