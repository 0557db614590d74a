"""Losses of Mathieu, Couprie & LeCun (2015), "Deep multi-scale video prediction beyond mean
square error". Written by hand: no kept library has the gradient difference loss.

As in the paper, image losses are sums over pixels (and channels) of one frame; here they are
then averaged over the batch, so they do not depend on the batch size.
"""
from __future__ import annotations

import torch

from kinema.nn.precision import fp32_function


@fp32_function("loss reduction")
def lp_loss(prediction: torch.Tensor, target: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """ℓ_p(Ŷ, Y) = ||Ŷ - Y||_p^p (the ℓ_p loss of Mathieu et al., Sec. 2); (b c h w)."""
    return (prediction - target).abs().pow(p).flatten(1).sum(1).mean()


@fp32_function("loss reduction")
def gradient_difference_loss(prediction: torch.Tensor, target: torch.Tensor,
                             alpha: float = 1.0) -> torch.Tensor:
    """The gradient difference loss of Mathieu et al. (Sec. 4): the image gradients of the
    prediction should match those of the target,
        Σ_{i,j} | |Y_{i,j} - Y_{i-1,j}| - |Ŷ_{i,j} - Ŷ_{i-1,j}| |^α
              + | |Y_{i,j-1} - Y_{i,j}| - |Ŷ_{i,j-1} - Ŷ_{i,j}| |^α ,
    over the pixels that have a neighbour above (left); inputs (b c h w)."""
    def vertical(x):
        return (x[..., 1:, :] - x[..., :-1, :]).abs()

    def horizontal(x):
        return (x[..., :, 1:] - x[..., :, :-1]).abs()

    rows = (vertical(target) - vertical(prediction)).abs().pow(alpha).flatten(1).sum(1)
    cols = (horizontal(target) - horizontal(prediction)).abs().pow(alpha).flatten(1).sum(1)
    return (rows + cols).mean()

