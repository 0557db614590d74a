"""The cINN's losses: the video autoencoder's Eq. (10)-(12) and the flow's Eq. (8)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """D_KL(N(mu, exp(logvar)) || N(0, I)) summed over the code, mean over the batch
    (the regulariser of Eq. (4))."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()


def hinge_discriminator(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """E[relu(1 - D(X))] + E[relu(1 + D(fake))], the hinge terms of Eqs. (11) and (12)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E ||grad_X D_T(X)||^2 on real clips (Eq. (11); Mescheder et al. 2018's R1)."""
    grad, = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1).mean()


def feature_matching(real_features: list[torch.Tensor], fake_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 distance of discriminator features of real and generated inputs (l_F of
    Eq. (10), Wang et al. 2018's pix2pixHD), averaged over layers."""
    losses = [F.l1_loss(f, r.detach()) for r, f in zip(real_features, fake_features)]
    return torch.stack(losses).mean()


def flow_nll(nu: torch.Tensor, logdet: torch.Tensor) -> torch.Tensor:
    """Eq. (8): E[ ||T^-1(z; x0)||^2 / 2 - log|det J_{T^-1}(z; x0)| ] per dimension.

    nu = T^-1(z; x0) (b d) and logdet = log|det J_{T^-1}| (b). The 1/2 of the Gaussian's
    log-density is kept (Eq. (8) drops it together with the constants; with it the value is
    the exact negative log-likelihood up to d/2 log 2 pi), and the mean is divided by d so
    runs with different d_z compare.
    """
    d = nu.shape[1]
    return (0.5 * nu.pow(2).sum(dim=1) - logdet).mean() / d
