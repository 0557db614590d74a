"""Adversarial losses and gradient penalties shared by the GAN-trained methods.

Every loss takes a discriminator's (or critic's) raw logits of any shape — one per clip
``(b)``, or a map of patch logits ``(b 1 h w)`` — and averages over all their elements. A
discriminator's loss is minimised by the discriminator, a generator's loss by the generator.

- Hinge (Lim & Ye 2017; Miyato et al. 2018), the cINN's Eqs. (11)-(12):
  L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],   L_G = -E[D(G(z))].
- Non-saturating (Goodfellow et al. 2014, Sec. 3; the logistic loss of StyleGAN):
  L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))],   L_G = E[softplus(-D(G(z)))]
  (= binary cross-entropy with labels 1 for real, 0 for fake; the generator's label is 1).
- Wasserstein (Arjovsky et al. 2017): the critic minimises E[D(G(z))] - E[D(x)], the
  generator -E[D(G(z))].
- R1 (Mescheder et al. 2018, Eq. (9) without its gamma/2): E ||grad_x D(x)||^2 on real inputs.
- WGAN-GP (Gulrajani et al. 2017, Algorithm 1): E (||grad D(x_hat)||_2 - 1)^2 at
  x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample.
- Feature matching (Wang et al. 2018's pix2pixHD): L1 between the discriminator's features of
  real and generated inputs.

Gradient norms are over ALL non-batch axes (a video's t, c, h and w together), never one axis.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from kinema.nn.precision import fp32_function


@fp32_function("loss reduction")
def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


@fp32_function("loss reduction")
def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]: the generator raises the discriminator's score of its samples."""
    return -fake_logits.mean()


@fp32_function("loss reduction")
def nonsaturating_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor
                                     ) -> torch.Tensor:
    """E[softplus(-D(x))] + E[softplus(D(G(z)))] = -E log sigmoid(D(x)) - E log(1 - sigmoid(D(G(z))))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


@fp32_function("loss reduction")
def nonsaturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """E[softplus(-D(G(z)))] = -E log sigmoid(D(G(z))) (the generator's label is 'real')."""
    return F.softplus(-fake_logits).mean()


@fp32_function("loss reduction")
def wasserstein_critic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """E[D(G(z))] - E[D(x)]: the critic minimises it (maximises the Wasserstein estimate)."""
    return fake_logits.mean() - real_logits.mean()


@fp32_function("loss reduction")
def wasserstein_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_logits.mean()


def _squared_gradient_norm(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """||d sum(outputs) / d inputs||^2 per sample, over all non-batch axes: (b)."""
    grad, = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1)


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """E ||grad_x D(x)||^2 on real inputs (R1; the cINN's Eq. (11) gradient penalty).

    ``real_inputs`` must require grad and ``real_logits`` be computed from it; the penalty
    keeps its graph so it can be back-propagated into the discriminator's weights.
    """
    return _squared_gradient_norm(real_logits, real_inputs).mean()


def wgan_gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                          fake: torch.Tensor, epsilon: torch.Tensor | None = None,
                          generator: torch.Generator | None = None,
                          reduction: str = "mean") -> torch.Tensor:
    """E (||grad D(x_hat)||_2 - 1)^2 with x_hat = eps * real + (1 - eps) * fake (WGAN-GP).

    real, fake: (b ...) of one shape; ``critic`` maps (b ...) to logits (b) (any shape whose
    sum over a sample is that sample's score). ``epsilon`` (b) in [0, 1] is drawn uniformly
    (from ``generator``) when not given. ``reduction``: "mean" over the batch, or "none" for
    the per-sample penalties (b).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have one shape")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    b = real.shape[0]
    if epsilon is None:
        device = generator.device if generator is not None else real.device
        epsilon = torch.rand(b, generator=generator, device=device)
    eps = epsilon.to(device=real.device, dtype=real.dtype).view(b, *([1] * (real.ndim - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    norm = _squared_gradient_norm(critic(x_hat), x_hat).add(1e-12).sqrt()   # (b)
    penalty = (norm - 1.0).pow(2)
    return penalty.mean() if reduction == "mean" else penalty


@fp32_function("loss reduction")
def feature_matching(real_features: list[torch.Tensor], fake_features: list[torch.Tensor]
                     ) -> torch.Tensor:
    """Mean over layers of the mean L1 distance between the discriminator's features of real
    and generated inputs (real features are targets: no gradient flows into them)."""
    if len(real_features) != len(fake_features) or not real_features:
        raise ValueError(f"need one fake feature per real feature, got {len(real_features)} "
                         f"real and {len(fake_features)} fake")
    losses = [F.l1_loss(f, r.detach()) for r, f in zip(real_features, fake_features)]
    return torch.stack(losses).mean()


def stylegan_ema_decay(batch_size: int, half_life_images: float = 10_000.0) -> float:
    """The per-step decay of StyleGAN2(-ADA)'s G_ema: the average's weight halves every
    ``half_life_images`` generated images (its ``ema_kimg = 10``), 0.5 ** (batch / half life)."""
    return 0.5 ** (batch_size / half_life_images)


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Parameters of ``modules`` without gradients inside the block (a generator's step needs
    gradients through the discriminator to its input, not into the discriminator's weights).
    Parameters that were already frozen stay frozen afterwards."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
