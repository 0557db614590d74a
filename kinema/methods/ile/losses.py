"""ILE's negative log-likelihood: Eq. (2) with the scale layer of Sec. 2.6, in nats and bits/dim.

Per frame t, with y_t = g^{-1}(o_t) the flow's embedding (D entries) and log|det dy_t/do_t|
summed over the flow's layers:

    gamma_t = mean |y_t|                     (Sec. 2.6: gamma = ||y||_1 / N, L1 found better)
    z_t     = y_t / gamma_t                  (the scale layer)
    nll_t   = 1/2 ||z_t - C A^t x0*||^2 + D/2 log(2 pi)     Gaussian N(C A^t x0*, I), Eq. (2)
              - log|det dy_t/do_t|                           the flow's log-determinant, Eq. (2)
              + D log gamma_t                                the scale layer's log-determinant

The paper writes the scale layer's term as "- log gamma_t" inside a log-likelihood; as a layer
z = y / gamma applied to all D entries its log|det| is -D log gamma_t, so the NLL gains
+D log gamma_t. With it the NLL no longer depends on the overall scale of y (a factor c adds
D log c to both the flow's log-det and this term), which is the runaway-scale fix of Sec. 2.6.
gamma is treated as a per-frame constant, as in the paper (strictly, y -> y / mean|y| is not
invertible; the paper's likelihood shares that approximation).

x0* is the least-squares state of the frames being scored (the paper's smoothing estimate,
Sec. 2.3), so this "fit" NLL is the paper's objective. ``predictive`` scores frames
context..T-1 with x0* inferred from frames 0..context-1 only: a held-out conditional NLL.

Bits/dim: frames are quantised to 2^n_bits levels and dequantised with uniform noise into
[0, 1)^D (the paper does not say how it handles discrete pixels; this is the usual practice
for flows, Theis et al. 2016 / Glow Sec. 3), so by Jensen a discrete frame's log-probability
is at least E[log p(u)] - n_bits D log 2, i.e. bits/dim <= nll / (D ln 2) + n_bits. The shift
to [-1/2, 1/2) in ``ILE.to_flow_input`` has unit Jacobian, so it adds no term.
"""
from __future__ import annotations

import math

import torch

from kinema.methods.ile.linear_system import LatentLinearSystem


def scale_layer(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sec. 2.6: gamma_t = mean |y_t| per frame; returns (z = y / gamma, gamma). y: (b t d)."""
    gamma = y.abs().mean(dim=-1)                                 # (b t)
    return y / gamma.unsqueeze(-1), gamma


def frame_nll(residual: torch.Tensor, logdet: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Per-frame NLL in nats, (b t), from the latent residual (b t d), flow log-det (b t), gamma (b t)."""
    d = residual.shape[-1]
    gaussian = 0.5 * residual.double().pow(2).sum(-1) + 0.5 * d * math.log(2 * math.pi)
    return gaussian - logdet.double() + d * torch.log(gamma.double())


def ile_nll(y: torch.Tensor, logdet: torch.Tensor, system: LatentLinearSystem, n_bits: int,
            context_frames: int | None = None) -> dict[str, torch.Tensor]:
    """The loss of Eq. (2) + Sec. 2.6 for embeddings y (b t d) with flow log-dets (b t).

    Returns ``loss`` (nats per dimension, the optimised scalar), ``bits_per_dim``,
    ``prediction_error`` (mean 1/2||z - Cx||^2 per dim), ``log_gamma``, and with
    ``context_frames`` also ``predictive_bits_per_dim`` of the frames after the context."""
    b, t, d = y.shape
    z, gamma = scale_layer(y)
    residual = system.residual(z)                               # (b t d) float64
    nll = frame_nll(residual, logdet, gamma)                    # (b t)
    nats_per_dim = nll.sum(1).mean() / (t * d)
    out = {
        "loss": nats_per_dim.float(),
        "bits_per_dim": (nats_per_dim / math.log(2) + n_bits).float().detach(),
        "prediction_error": (0.5 * residual.pow(2).mean()).float().detach(),
        "log_gamma": torch.log(gamma).mean().float().detach(),
    }
    if context_frames is not None and 0 < context_frames < t:
        out["predictive_bits_per_dim"] = predictive_bits_per_dim(
            z, logdet, gamma, system, n_bits, context_frames).detach()
    return out


def predictive_bits_per_dim(z: torch.Tensor, logdet: torch.Tensor, gamma: torch.Tensor,
                            system: LatentLinearSystem, n_bits: int, context_frames: int) -> torch.Tensor:
    """Bits/dim of frames context..T-1 given x0* from frames 0..context-1 (z: (b t d))."""
    b, t, d = z.shape
    x0 = system.infer_state(z[:, :context_frames])
    future = z[:, context_frames:].double()
    residual = future - system.rollout(x0, context_frames, t - context_frames)
    nll = frame_nll(residual, logdet[:, context_frames:], gamma[:, context_frames:])
    return (nll.mean() / d / math.log(2) + n_bits).float()
