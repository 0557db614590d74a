"""Scores of predicted motion that see what a picture can tell: how much each pixel oscillates at
each frequency, whether any of several samples moves like the clip, and the loop's seam.

A picture fixes how a swaying region moves (its frequencies and amplitudes) but not when: the
phase is the wind's, not the picture's. An error against the one recorded trajectory then
favours no motion at all (a right oscillation at a wrong phase is off by up to twice its
amplitude; standing still, by its amplitude), so these scores compare what the picture decides:

- ``oscillation_amplitude`` / ``amplitude_error``: per pixel and frequency bin k, the amplitude
  of the oscillation, c_k |S_k| / P in px with |S_k| = sqrt(|S_k,x|^2 + |S_k,y|^2) (c_k as in
  Eq. (2) inverted, ``motion.py``): unchanged by any phase shift S_k -> S_k e^{i phi} and by the
  direction of the motion. The error is mean |A_pred - A_true| per bin (its distribution over
  frequencies) and its mean over the oscillating bins k >= 1 (bin 0, the mean displacement,
  depends on the phase through "relative to frame 0");
- ``best_of_n_error``: the trajectory end-point error of the best of n samples per picture (a
  model that draws the right motions at random phases gets close with enough samples; one
  that does not move never does);
- ``seam_scores``: the loop's seam as the viewer sees it, from the frames of a motion texture:
  position and velocity jumps across the wrap (``motion.seam_terms``, the loss of Eq. (5)) and
  the speed across the wrap against the mean speed of the other steps.
"""
from __future__ import annotations

import torch

from kinema.errors import KinemaError
from kinema.methods.dynamics.motion import seam_terms


def oscillation_amplitude(volume: torch.Tensor, period: int) -> torch.Tensor:
    """(... k 4 h w) spectral volume of ``period``-frame trajectories -> (... k h w) amplitude in px
    of each bin's oscillation at each pixel (its peak displacement when it moves along a line)."""
    if volume.ndim < 4 or volume.shape[-3] != 4:
        raise KinemaError(f"spectral volume must be (... k 4 h w); got shape {tuple(volume.shape)}")
    k = volume.shape[-4]
    weight = torch.full((k,), 2.0, dtype=volume.dtype, device=volume.device)
    weight[0] = 1.0
    if period % 2 == 0 and k == period // 2 + 1:
        weight[-1] = 1.0                                           # the Nyquist bin is counted once
    magnitude = volume.square().sum(dim=-3).sqrt()                 # sqrt(Re^2 + Im^2 over x and y)
    return magnitude * (weight / period).view(k, 1, 1)


def amplitude_error(predicted: torch.Tensor, truth: torch.Tensor, period: int) -> dict:
    """Phase-invariant error of predicted spectral volumes (... k 4 h w) against the true ones (same
    shape, or broadcastable): ``per_frequency`` (k,) mean |A_pred - A_true| px, ``mean`` its mean
    over bins 1..k-1, and ``predicted_spectrum`` / ``true_spectrum`` (k,) the mean amplitudes."""
    a_pred, a_true = oscillation_amplitude(predicted, period), oscillation_amplitude(truth, period)
    a_pred, a_true = torch.broadcast_tensors(a_pred, a_true)
    k = a_pred.shape[-3]
    per_frequency = (a_pred - a_true).abs().transpose(0, -3).reshape(k, -1).mean(dim=1)
    return {"per_frequency": per_frequency, "mean": float(per_frequency[1:].mean()) if k > 1 else 0.0,
            "predicted_spectrum": a_pred.transpose(0, -3).reshape(k, -1).mean(dim=1),
            "true_spectrum": a_true.transpose(0, -3).reshape(k, -1).mean(dim=1)}


def best_of_n_error(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per picture, the least mean end-point error of its samples: predicted (b n t 2 h w)
    trajectories, truth (b t 2 h w) -> (b,) px (mean over frames and pixels of ||F - F_true||)."""
    if predicted.ndim != 6 or truth.ndim != 5 or predicted.shape[0] != truth.shape[0] \
            or predicted.shape[2:] != truth.shape[1:]:
        raise KinemaError(f"predicted must be (b n t 2 h w) and truth (b t 2 h w) of the same b, t, h, w; "
                          f"got {tuple(predicted.shape)} and {tuple(truth.shape)}")
    epe = torch.linalg.vector_norm(predicted - truth[:, None], dim=3).mean(dim=(2, 3, 4))   # (b n)
    return epe.amin(dim=1)


def seam_scores(motion: torch.Tensor) -> dict[str, torch.Tensor]:
    """The seam of motion textures (... t 2 h w) played in a loop (frame 0 after frame t-1), per
    texture (...): ``position`` and ``velocity``, mean over pixels of ||.||_1 of
    ``motion.seam_terms`` (px); ``wrap_speed_ratio``: the mean over pixels of |F_0 - F_{t-1}|
    over that of the other steps |F_{i+1} - F_i| (1: the wrap moves as fast as the rest)."""
    if motion.ndim < 4 or motion.shape[-3] != 2 or motion.shape[-4] < 3:
        raise KinemaError(f"motion must be (... t 2 h w) with t >= 3; got shape {tuple(motion.shape)}")
    t = motion.shape[-4]
    around = motion[..., [t - 3, t - 2, t - 1, 0, 1, 2], :, :, :]
    position, velocity = seam_terms(around)
    steps = torch.linalg.vector_norm(motion.diff(dim=-4), dim=-3)                  # (... t-1 h w)
    wrap = torch.linalg.vector_norm(motion[..., 0, :, :, :] - motion[..., -1, :, :, :], dim=-3)
    return {"position": position.abs().sum(dim=-3).flatten(-2).mean(dim=-1),
            "velocity": velocity.abs().sum(dim=-3).flatten(-2).mean(dim=-1),
            "wrap_speed_ratio": wrap.flatten(-2).mean(dim=-1) / steps.flatten(-3).mean(dim=-1).clamp_min(1e-12)}
