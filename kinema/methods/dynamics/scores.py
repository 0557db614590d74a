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
  the speed across the wrap against the mean speed of the other steps;
- ``motion_video_features``: a video metric on motion, not appearance. Each motion texture is
  shown as a video (the picture moved by plain softmax splatting, Z = W, every
  ``MOTION_VIDEO_STRIDE``-th frame) and read back by optical flow
  (``kinema.metrics.flow_statistics``: speed, direction, coherence statistics of DIS flow), so
  the Fréchet distance of these features between predicted and true motion (``motion_fd``)
  sees how things move and not what they look like: every row moves the same pictures with the
  same splat, and the true motion is shown the same way.
"""
from __future__ import annotations

import torch

from kinema.errors import KinemaError
from kinema.methods.dynamics.motion import seam_terms

# The paper's regime moves a 64-px swaying region by about a pixel over a 150-frame period: a
# tenth of a pixel from one frame to the next, below what DIS resolves. Every 4th frame (38 of
# 150) moves 4x as far per shown frame and costs a quarter of the flow fields.
MOTION_VIDEO_STRIDE = 4


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


def motion_video(pictures: torch.Tensor, motion: torch.Tensor, stride: int = MOTION_VIDEO_STRIDE) -> torch.Tensor:
    """Pictures (b 3 h w) in [-1, 1] moved by their motion textures (b t 2 h w) (F_t: pixel p of
    the picture is at p + F_t(p) in frame t): frames 0, stride, 2 stride, ... (b t' 3 h w) by
    plain softmax splatting with Z = W (Sec. 5's metric without the learned renderer); a pixel
    no source lands on keeps the picture's colour."""
    from kinema.methods.dynamics.render_data import motion_weight
    from kinema.nn.warp import softmax_splat

    if pictures.ndim != 4 or motion.ndim != 5 or motion.shape[0] != pictures.shape[0] \
            or motion.shape[2] != 2 or motion.shape[-2:] != pictures.shape[-2:]:
        raise KinemaError(f"need pictures (b 3 h w) and motion (b t 2 h w) of the same b, h, w; got "
                          f"{tuple(pictures.shape)} and {tuple(motion.shape)}")
    if stride < 1:
        raise KinemaError(f"stride must be at least 1; got {stride}")
    pictures, motion = pictures.float(), motion.float()
    weight = motion_weight(motion)
    frames = []
    for t in range(0, motion.shape[1], stride):
        moved, covered = softmax_splat(pictures, motion[:, t], weight)
        frames.append(torch.where(covered, moved, pictures))
    return torch.stack(frames, dim=1).clamp(-1, 1)


def motion_video_features(pictures: torch.Tensor, motion: torch.Tensor,
                          stride: int = MOTION_VIDEO_STRIDE) -> "np.ndarray":
    """Flow-statistics features (b*n d) of the videos of pictures (b 3 h w) moved by motion
    textures (b n t 2 h w), picture-major (``kinema.metrics.flow_statistics.flow_features``).
    A texture too short for 3 frames at ``stride`` is shown at the largest stride that gives 3."""
    from kinema.metrics.flow_statistics import flow_features

    if motion.ndim != 6 or motion.shape[2] < 3:
        raise KinemaError(f"motion must be (b n t 2 h w) with t >= 3; got shape {tuple(motion.shape)}")
    b, n, t = motion.shape[:3]
    stride = max(1, min(stride, (t - 1) // 2))
    return flow_features(torch.cat([motion_video(pictures[i:i + 1].expand(n, -1, -1, -1), motion[i], stride)
                                    for i in range(b)]))
