"""Spectral volume -> motion texture at any times, and the loop (seam) loss of Eq. (5).

A spectral volume ``S`` (``kinema.data.spectral``: (... k 4 h w), the K lowest rfft bins of a
``period``-frame trajectory, channels [Re dx, Re dy, Im dx, Im dy], torch's "backward" norm)
defines the motion of every pixel as a real Fourier series, Eq. (2) inverted:

    F(t) = (1 / P) * sum_k c_k * Re(S_k * exp(2 pi i k t / P)),   c_0 = 1, c_(P/2) = 1, else c_k = 2

(the dropped bins are zero). At integer ``t = 0 .. P-1`` this is exactly ``torch.fft.irfft``
(``kinema.data.spectral.inverse_spectral_volume``); between integers it interpolates the motion
smoothly, which is how slow motion samples time more densely (Sec. 6, "Image-to-video");
scaling ``S`` magnifies (or minifies) the motion. Everything here is differentiable in ``S``,
so the loop loss can guide sampling through the decoder (``sampling.py``).
"""
from __future__ import annotations

import math

import torch

from kinema.errors import KinemaError


def _check_volume(volume: torch.Tensor, period: int) -> None:
    if volume.ndim < 4 or volume.shape[-3] != 4:
        raise KinemaError(f"spectral volume must be (... k 4 h w); got shape {tuple(volume.shape)}")
    if volume.shape[-4] > period // 2 + 1:
        raise KinemaError(f"a spectral volume of {volume.shape[-4]} frequencies needs a period of at least "
                          f"{2 * (volume.shape[-4] - 1)} frames; got period={period}")


def motion_at(volume: torch.Tensor, times: torch.Tensor | list[float], period: int) -> torch.Tensor:
    """Displacement (... t 2 h w) in pixels at the given frame ``times`` (t,), any real values.

    volume: (... k 4 h w) spectral volume of ``period``-frame trajectories (see module docstring).
    """
    _check_volume(volume, period)
    num_frequencies = volume.shape[-4]
    times = torch.as_tensor(times, dtype=torch.float64, device=volume.device).reshape(-1)
    k = torch.arange(num_frequencies, dtype=torch.float64, device=volume.device)
    weight = torch.full_like(k, 2.0)
    weight[0] = 1.0
    if period % 2 == 0 and num_frequencies == period // 2 + 1:
        weight[-1] = 1.0                                                # the Nyquist bin is counted once
    angle = 2.0 * math.pi * times[:, None] * k[None, :] / period       # (t k)
    cos = (weight * torch.cos(angle) / period).to(volume.dtype)
    sin = (weight * torch.sin(angle) / period).to(volume.dtype)
    real, imag = volume[..., :2, :, :], volume[..., 2:, :, :]          # (... k 2 h w) each
    # Re(S e^{i theta}) = Re S cos theta - Im S sin theta
    return torch.einsum("tk,...kchw->...tchw", cos, real) - torch.einsum("tk,...kchw->...tchw", sin, imag)


def spectral_volume_to_motion(volume: torch.Tensor, num_frames: int, period: int | None = None,
                              slowmo: float = 1.0, magnify: float = 1.0, start: float = 0.0) -> torch.Tensor:
    """Motion texture (b t 2 h w) of ``num_frames`` frames from a spectral volume (b k 4 h w)
    (any leading axes: (... k 4 h w) -> (... t 2 h w)).

    ``period``: the number of frames of the clips the spectral volume was computed from
    (``model.period`` of a dynamics model; default ``num_frames``, then this is the exact inverse
    FFT). Frame ``i`` shows time ``start + i / slowmo`` (``slowmo`` = 2: twice as many frames per
    oscillation, Sec. 6); ``magnify`` scales the motion (the spectral volume) linearly. Frame 0
    (time 0) is the input picture's own displacement, ~0 for a good spectral volume.
    """
    if num_frames < 1:
        raise KinemaError(f"num_frames must be at least 1; got {num_frames}")
    if not slowmo > 0:
        raise KinemaError(f"slowmo must be a positive factor; got {slowmo}")
    period = num_frames if period is None else int(period)
    times = start + torch.arange(num_frames, dtype=torch.float64) / slowmo
    return magnify * motion_at(volume, times, period)


def seam_error(volume: torch.Tensor, num_frames: int, period: int | None = None,
               slowmo: float = 1.0) -> torch.Tensor:
    """Loop loss of Eq. (5) per sample (b,), in pixels, for a video of ``num_frames`` frames
    ``F_0 .. F_{N-1}`` played in a loop (frame 0 follows frame N-1):

        L = mean_p ||F_N - F_0||_1 + mean_p ||(F_{N+1} - F_N) - (F_1 - F_0)||_1

    i.e. the position and the velocity one frame past the end (what the loop replaces by the
    first frame) against those of the first frame: the paper's ``||F_T - F_1|| + ||grad F_T -
    grad F_1||`` with its first frame F_1 written F_0 here. Zero when the motion repeats every
    ``num_frames`` frames. ``||.||_1`` sums |dx| + |dy|; the mean is over pixels.
    """
    period = num_frames if period is None else int(period)
    times = torch.tensor([0.0, 1.0, num_frames, num_frames + 1.0], dtype=torch.float64) / slowmo
    f0, f1, fn, fn1 = motion_at(volume, times, period).unbind(dim=-4)    # (... 2 h w) each
    position = (fn - f0).abs().sum(dim=-3)                                # (... h w)
    velocity = ((fn1 - fn) - (f1 - f0)).abs().sum(dim=-3)
    return (position + velocity).flatten(-2).mean(dim=-1)
