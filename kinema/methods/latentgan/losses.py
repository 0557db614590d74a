"""The losses of the temporal WGAN (StyleVideoGAN, Sec. 3): L = L_WGAN + lambda_GP L_GP +
lambda_GAP L_GAP, with lambda_GP = 50 and lambda_GAP = 100.

- The Wasserstein losses and WGAN-GP are kinema.nn.gan's ``wasserstein_critic_loss``,
  ``wasserstein_generator_loss`` and ``wgan_gradient_penalty`` (re-exported here): the critic's
  scores are raw (no sigmoid, no tanh: a bounded output is no Wasserstein critic) and the
  penalty's gradient norm is over ALL non-batch axes of a sample (t, num_ws, w_dim).
- ``gradient_angle_penalty``: L_GAP = max(0, pi/4 - phi)^2 with
  phi = arctan(||dd/ds|| / ||dd/di||) and d = norm(l_{t-1} - l_0) (the GAP equation of Sec. 3),
  where ``RunningNormalizer`` is norm(): running per-component mean and variance, dividing
  by the running STANDARD DEVIATION so every component has variance 1, as the paper says.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kinema.nn.gan import wasserstein_critic_loss, wasserstein_generator_loss, wgan_gradient_penalty

__all__ = ["wasserstein_critic_loss", "wasserstein_generator_loss", "wgan_gradient_penalty",
           "RunningNormalizer", "jacobian_norms", "gradient_angle", "gradient_angle_penalty"]


class RunningNormalizer(nn.Module):
    """norm() of the GAP equation: (x - running mean) / running standard deviation, per
    component of x (b k). In training mode the statistics are updated from the batch first
    (the first batch sets them; later ones move them by ``momentum``); they are buffers, never
    differentiated, so the map is a fixed per-component scaling for the gradients of a step."""

    def __init__(self, dim: int, momentum: float = 0.01, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))
        self.register_buffer("batches_seen", torch.tensor(0))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        mean = x.mean(0)
        var = x.var(0, unbiased=True) if x.shape[0] > 1 else torch.zeros_like(mean)
        if int(self.batches_seen) == 0:
            self.running_mean.copy_(mean)
            self.running_var.copy_(var)
        else:
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
        self.batches_seen += 1

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(x - running mean) / sqrt(running var + eps), without updating."""
        return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.update(x.detach())
        return self.normalize(x)


def jacobian_norms(function, inputs: tuple[torch.Tensor, ...], dim: int, probes: int = 0,
                   generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Per-sample Frobenius norms ||d f(x)_b / d x_b|| of ``function`` (x_1, x_2, ...) -> (b dim)
    for each input x (b ...). Differentiable (create_graph), so a loss of them trains the
    function's parameters. ``function`` must treat samples independently.

    The batch is replicated once per vector v and ONE backward pass gives every v^T J:
    probes = 0: exact, with v = e_1 .. e_dim (sum_j ||J^T e_j||^2 = ||J||_F^2); probes = n > 0:
    Hutchinson's unbiased estimate of ||J||_F^2 from n Gaussian vectors (E ||J^T v||^2 =
    ||J||_F^2), a batch n times instead of dim times as large."""
    b = inputs[0].shape[0]
    copies = probes or dim
    replicated = [x.detach().repeat(copies, *([1] * (x.ndim - 1))).requires_grad_(True) for x in inputs]
    output = function(*replicated)                                      # ((copies b) dim)
    if probes:
        vectors = torch.randn(copies * b, dim, generator=generator, dtype=output.dtype).to(output.device)
    else:
        vectors = torch.eye(dim, dtype=output.dtype, device=output.device).repeat_interleave(b, dim=0)
    grads = torch.autograd.grad(output, replicated, grad_outputs=vectors, create_graph=True,
                                allow_unused=True)
    scale = 1.0 / probes if probes else 1.0
    norms = []
    for x, g in zip(replicated, grads):
        squares = g.flatten(1).pow(2).sum(1).reshape(copies, b).sum(0) if g is not None else x.new_zeros(b)
        norms.append((squares * scale + 1e-12).sqrt())
    return norms


def gradient_angle(norm_s: torch.Tensor, norm_i: torch.Tensor) -> torch.Tensor:
    """phi = arctan(||dd/ds|| / ||dd/di||) per sample, in [0, pi/2]."""
    return torch.atan2(norm_s, norm_i)


def gradient_angle_penalty(norm_s: torch.Tensor, norm_i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L_GAP = mean over samples of max(0, pi/4 - phi)^2 (Sec. 3); returns (loss, phi (b))."""
    phi = gradient_angle(norm_s, norm_i)
    return F.relu(math.pi / 4 - phi).pow(2).mean(), phi
