"""The conditional INN T_theta(nu; x0, eta) of Sec. 3.1-3.4 on d_z-dimensional video codes.

Appendix B.1: a stack of n_f invertible blocks, each of actnorm, affine coupling with fully
connected subnetworks that receive the condition, and a fixed shuffle. As in the paper's
official code each block also holds an invertible leaky ReLU; unlike that code, its
log-determinant is the true one (``kinema.nn.invertible.InvertibleLeakyReLU``). Each block
couples both halves (two couplings, the second flipped), the official code's "double" coupling.
The subnets' shape is configurable (``FlowConfig``): the ``paper`` preset is the official one,
separate s and t nets of 3 hidden LeakyReLU layers of width 512, log s bounded by tanh.

Direction convention: the stored chain runs z -> nu, i.e. it is T^-1, the direction Eq. (8)
is trained in (with log|det J_{T^-1}|); sampling runs it in reverse, nu -> z = T(nu; c).
"""
from __future__ import annotations

import torch
from torch import nn

from functools import partial

from kinema.nn.invertible import (ActNorm, AffineCoupling, FixedPermutation,
                                  InvertibleLeakyReLU, InvertibleSequence, fc_subnet,
                                  separate_fc_subnets)


def flow_block(dim: int, cond_dim: int, hidden: int, clamp: float, leaky_slope: float,
               seed: int, subnet_layers: int = 2, activation: str = "relu",
               separate_scale_shift: bool = False) -> list[nn.Module]:
    make = separate_fc_subnets if separate_scale_shift else fc_subnet
    subnet = partial(make, hidden=hidden, layers=subnet_layers, activation=activation)
    return [ActNorm(dim),
            InvertibleLeakyReLU(leaky_slope),
            AffineCoupling(dim, cond_channels=cond_dim, spatial=False, clamp=clamp,
                           subnet_constructor=subnet),
            AffineCoupling(dim, cond_channels=cond_dim, spatial=False, clamp=clamp, flip=True,
                           subnet_constructor=subnet),
            FixedPermutation(dim, seed=seed)]


class ConditionalINN(nn.Module):
    """T_theta between codes z (b d) and residuals nu (b d) given a condition c (b k).

    Each coupling's subnet: ``subnet_layers`` hidden layers of width ``hidden`` with
    ``activation``; one net giving [log s, t] or (``separate_scale_shift``) an s net and a t net.
    """

    def __init__(self, dim: int, cond_dim: int, blocks: int, hidden: int, clamp: float = 2.0,
                 leaky_slope: float = 0.9, seed: int = 0, subnet_layers: int = 2,
                 activation: str = "relu", separate_scale_shift: bool = False):
        super().__init__()
        self.dim, self.cond_dim = dim, cond_dim
        layers: list[nn.Module] = []
        for i in range(blocks):
            layers += flow_block(dim, cond_dim, hidden, clamp, leaky_slope, seed=seed * 1000 + i,
                                 subnet_layers=subnet_layers, activation=activation,
                                 separate_scale_shift=separate_scale_shift)
        self.chain = InvertibleSequence(layers)

    def _cond(self, cond: torch.Tensor | None) -> torch.Tensor | None:
        if self.cond_dim and cond is None:
            raise ValueError(f"this INN takes a condition of size {self.cond_dim}")
        return cond

    def to_residual(self, z: torch.Tensor, cond: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """nu = T^-1(z; c) (Eq. (3)) and log|det J_{T^-1}(z; c)| (b)."""
        return self.chain(z, cond=self._cond(cond))

    def to_code(self, nu: torch.Tensor, cond: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """z = T(nu; c) (Eq. (1)) and log|det J_T(nu; c)| (b)."""
        return self.chain(nu, cond=self._cond(cond), reverse=True)
