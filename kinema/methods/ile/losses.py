"""ILE's training objective: Eq. (2) with the scale layer of Sec. 2.6, in nats and bits/dim,
and the true held-out likelihood of the variant without the scale layer.

Per frame t, with y_t = g^{-1}(o_t) the flow's embedding (D entries) and log|det dy_t/do_t|
summed over the flow's layers:

    gamma_t = mean |y_t|                     (Sec. 2.6: gamma = ||y||_1 / N, L1 found better)
    z_t     = y_t / gamma_t                  (the scale layer)
    obj_t   = 1/2 ||z_t - C A^t x0*||^2 + D/2 log(2 pi)     Gaussian N(C A^t x0*, I), Eq. (2)
              - log|det dy_t/do_t|                           the flow's log-determinant, Eq. (2)
              + D log gamma_t                                the scale layer's log-determinant

The paper writes the scale layer's term as "- log gamma_t" inside a log-likelihood; as a layer
z = y / gamma applied to all D entries its log|det| is -D log gamma_t, so the objective gains
+D log gamma_t. With it the objective no longer depends on the overall scale of y (a factor c
adds D log c to both the flow's log-det and this term), which is the runaway-scale fix of
Sec. 2.6.

**This objective is not a likelihood** (issue 10, item 8a), for two reasons:

1. y -> y / mean|y| is not invertible (it maps R^D onto the surface mean|z| = 1), and the
   "density" it implies is homogeneous: exp(-obj) at c y is c^-D times its value at y, so its
   integral along every ray, and over R^D, diverges. No normalised density has these values.
2. x0* is the least-squares state of the very frames being scored (the paper's smoothing
   estimate, Sec. 2.3), so even without the scale layer the number is a fit, not a held-out
   likelihood.

So the numbers are named ``objective_bits_per_dim`` (all frames, x0* fitted on them: what
training minimises) and ``predictive_objective_bits_per_dim`` (frames context..T-1 with x0*
from frames 0..context-1 only; still with the scale layer). The variant with the scale layer
off (``ILEConfig.scale_layer = False``) has a true conditional density of the future frames
given the context, ``conditional_nll`` below: -log p(o_k..o_{T-1} | o_0..o_{k-1}) =
sum_t [1/2 ||y_t - C A^t x0*(context)||^2 + D/2 log(2 pi) - log|det dy_t/do_t|], a product of
normalised Gaussians pulled back through the invertible flow.

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
from kinema.nn.precision import fp32_function


def scale_layer(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sec. 2.6: gamma_t = mean |y_t| per frame; returns (z = y / gamma, gamma). y: (b t d)."""
    gamma = y.abs().mean(dim=-1)                                 # (b t)
    return y / gamma.unsqueeze(-1), gamma


@fp32_function("loss reduction")
def frame_objective(residual: torch.Tensor, logdet: torch.Tensor,
                    gamma: torch.Tensor | None) -> torch.Tensor:
    """Per-frame objective in nats, (b t), from the latent residual (b t d), flow log-det (b t)
    and gamma (b t); gamma None: no scale layer, and then it is a per-frame negative
    log-density."""
    d = residual.shape[-1]
    gaussian = 0.5 * residual.double().pow(2).sum(-1) + 0.5 * d * math.log(2 * math.pi)
    out = gaussian - logdet.double()
    return out if gamma is None else out + d * torch.log(gamma.double())


@fp32_function("loss reduction")
def scale_invariant_objective(y: torch.Tensor, logdet: torch.Tensor, system: LatentLinearSystem,
                              n_bits: int, context_frames: int | None = None,
                              use_scale_layer: bool = True) -> dict[str, torch.Tensor]:
    """The training objective of Eq. (2) + Sec. 2.6 for embeddings y (b t d) with flow
    log-dets (b t) (not a likelihood: see the module docstring).

    Returns ``loss`` (nats per dimension, the optimised scalar), ``objective_bits_per_dim``,
    ``prediction_error`` (mean 1/2||z - Cx||^2 per dim), ``log_gamma``, and with
    ``context_frames`` also ``predictive_objective_bits_per_dim`` of the frames after the
    context. ``use_scale_layer=False``: the same without Sec. 2.6 (z = y)."""
    b, t, d = y.shape
    z, gamma = scale_layer(y) if use_scale_layer else (y, None)
    residual = system.residual(z)                               # (b t d) float64
    objective = frame_objective(residual, logdet, gamma)        # (b t)
    nats_per_dim = objective.sum(1).mean() / (t * d)
    out = {
        "loss": nats_per_dim.float(),
        "objective_bits_per_dim": (nats_per_dim / math.log(2) + n_bits).float().detach(),
        "prediction_error": (0.5 * residual.pow(2).mean()).float().detach(),
    }
    if gamma is not None:
        out["log_gamma"] = torch.log(gamma).mean().float().detach()
    if context_frames is not None and 0 < context_frames < t:
        out["predictive_objective_bits_per_dim"] = predictive_objective_bits_per_dim(
            z, logdet, gamma, system, n_bits, context_frames).detach()
    return out


@fp32_function("loss reduction")
def predictive_objective_bits_per_dim(z: torch.Tensor, logdet: torch.Tensor,
                                      gamma: torch.Tensor | None, system: LatentLinearSystem,
                                      n_bits: int, context_frames: int) -> torch.Tensor:
    """The objective of frames context..T-1 given x0* from frames 0..context-1 (z: (b t d))."""
    b, t, d = z.shape
    x0 = system.infer_state(z[:, :context_frames])
    future = z[:, context_frames:].double()
    residual = future - system.rollout(x0, context_frames, t - context_frames)
    objective = frame_objective(residual, logdet[:, context_frames:],
                                None if gamma is None else gamma[:, context_frames:])
    return (objective.mean() / d / math.log(2) + n_bits).float()


@fp32_function("loss reduction")
def conditional_nll(context_y: torch.Tensor, future_y: torch.Tensor, future_logdet: torch.Tensor,
                    system: LatentLinearSystem) -> torch.Tensor:
    """-log p(future frames | context frames) in nats per sequence, (b,), for the model without
    the scale layer: x0* = O^+ y_context (Sec. 2.3) from the k context embeddings (b k d) only,
    then each future embedding (b m d) scored by N(C A^t x0*, I) and the flow's log|det|
    (b m). A normalised density of the future frames' flow inputs for any fixed context."""
    k, m = context_y.shape[1], future_y.shape[1]
    x0 = system.infer_state(context_y)
    residual = future_y.double() - system.rollout(x0, k, m)
    return frame_objective(residual, future_logdet, None).sum(1)
