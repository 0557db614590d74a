"""The cINN's own losses: the VAE regulariser of Eq. (4) (in the autoencoder's Eq. (10)) and
the flow's Eq. (8). The adversarial terms of Eqs. (10)-(12) are shared: ``kinema.nn.gan``."""
from __future__ import annotations

import torch

from kinema.nn.precision import fp32_function


@fp32_function("loss reduction")
def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """D_KL(N(mu, exp(logvar)) || N(0, I)) summed over the code, mean over the batch
    (the regulariser of Eq. (4))."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()


@fp32_function("loss reduction")
def flow_nll(nu: torch.Tensor, logdet: torch.Tensor) -> torch.Tensor:
    """Eq. (8): E[ ||T^-1(z; x0)||^2 / 2 - log|det J_{T^-1}(z; x0)| ] per dimension.

    nu = T^-1(z; x0) (b d) and logdet = log|det J_{T^-1}| (b). The 1/2 of the Gaussian's
    log-density is kept (Eq. (8) drops it together with the constants; with it the value is
    the exact negative log-likelihood up to d/2 log 2 pi), and the mean is divided by d so
    runs with different d_z compare.
    """
    d = nu.shape[1]
    return (0.5 * nu.pow(2).sum(dim=1) - logdet).mean() / d
