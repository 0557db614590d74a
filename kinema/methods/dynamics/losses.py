"""Losses of the spectral-volume VAE (Sec. 7: L1, multi-scale gradient consistency, KL with
weights 1, 0.2, 1e-6). Inputs are normalised spectral-volume slices (n 4 h w)."""
from __future__ import annotations

import torch

from kinema.nn.precision import fp32_function


@fp32_function("loss reduction")
def l1_reconstruction(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every element."""
    return (reconstruction - target).abs().mean()


@fp32_function("loss reduction")
def gradient_consistency(reconstruction: torch.Tensor, target: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Multi-scale gradient consistency (MegaDepth, the paper's refs. [54-56]).

    With the residual R = reconstruction - target subsampled by 2**s (every 2**s-th pixel, as
    MegaDepth does) at scales s = 0 .. scales-1:
    ``sum_s mean|R_s[..., :, 1:] - R_s[..., :, :-1]| + mean|R_s[..., 1:, :] - R_s[..., :-1, :]|``.
    It asks the reconstruction's spatial gradients to match the target's, at several scales.
    """
    residual = reconstruction - target
    total = residual.new_zeros(())
    for s in range(scales):
        r = residual[..., :: 2 ** s, :: 2 ** s]
        if r.shape[-1] > 1:
            total = total + (r[..., :, 1:] - r[..., :, :-1]).abs().mean()
        if r.shape[-2] > 1:
            total = total + (r[..., 1:, :] - r[..., :-1, :]).abs().mean()
    return total


@fp32_function("loss reduction")
def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over a sample's latent elements, mean over samples:
    ``mean_n sum 0.5 (mean^2 + exp(logvar) - 1 - logvar)`` (the LDM autoencoder's convention)."""
    per_element = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar)
    return per_element.flatten(1).sum(dim=1).mean()
