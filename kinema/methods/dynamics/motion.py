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
from kinema.nn.precision import fp32_island


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
    # fp32 island: the inverse Fourier series sums K bins of opposite signs (16 bits would
    # lose the small displacements between large terms)
    with fp32_island("inverse Fourier series of a spectral volume", volume) as volume:
        return _motion_at(volume, times, period)


def _motion_at(volume: torch.Tensor, times, period: int) -> torch.Tensor:
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


def seam_terms(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Position and velocity jumps (... 2 h w) each across the wrap of a loop, from the six
    frames around it: ``frames`` (... 6 2 h w) = F_{N-3}, F_{N-2}, F_{N-1}, F_0, F_1, F_2 of a
    video F_0 .. F_{N-1} played in a loop (the viewer sees F_0 right after F_{N-1}).

    With the steps v_e = F_{N-1} - F_{N-2} (entering the wrap), w = F_0 - F_{N-1} (the wrap the
    viewer sees) and v_s = F_1 - F_0 (leaving it), and the accelerations on either side
    a_e = F_{N-1} - 2 F_{N-2} + F_{N-3}, a_s = F_2 - 2 F_1 + F_0:

        position: w - (v_e + v_s) / 2          (the wrap's step against its neighbours')
        velocity: (v_s - v_e) - (a_e + a_s)    (the velocity change over the wrap against the
                                                 accelerations on either side)

    Both are exactly zero for any motion that is quadratic in time across the wrap (still,
    uniform, uniformly accelerated) and of third order in omega for a smooth oscillation
    (omega in radians per frame); a jump at the wrap shows in full in the position term, a
    kink in the velocity term."""
    f3, f2, f1, g0, g1, g2 = frames.unbind(dim=-4)                  # (... 2 h w) each
    v_end, wrap, v_start = f1 - f2, g0 - f1, g1 - g0
    a_end, a_start = f1 - 2.0 * f2 + f3, g2 - 2.0 * g1 + g0
    return wrap - 0.5 * (v_end + v_start), (v_start - v_end) - (a_end + a_start)


def seam_error(volume: torch.Tensor, num_frames: int, period: int | None = None,
               slowmo: float = 1.0) -> torch.Tensor:
    """Loop loss of Eq. (5) per sample (b,), in pixels, for a video of ``num_frames`` frames
    ``F_0 .. F_{N-1}`` (frame i at time i / slowmo) played in a loop:

        L = mean_p ||position_p||_1 + mean_p ||velocity_p||_1        (``seam_terms``)

    the paper's "each pixel's position and velocity at the start and end frames" (Sec. 6,
    ||F_T - F_1||_1 + ||grad F_T - grad F_1||_1) measured across the wrap the viewer sees, from
    the shown frames only. It is not zero at a whole period: every K-bin Fourier series repeats
    exactly after ``period`` frames, so a loss that compares the series with its own
    continuation is identically zero there (no guidance at the default loop length), while the
    series can still jump at the wrap (with K close to period / 2 it reproduces the clip's own
    jump between its last and first frames). ``||.||_1`` sums |dx| + |dy|; means over pixels.
    """
    if num_frames < 1:
        raise KinemaError(f"num_frames must be at least 1; got {num_frames}")
    period = num_frames if period is None else int(period)
    n = float(num_frames)
    times = torch.tensor([n - 3, n - 2, n - 1, 0.0, 1.0, 2.0], dtype=torch.float64) / slowmo
    position, velocity = seam_terms(motion_at(volume, times, period))
    return (position.abs().sum(dim=-3) + velocity.abs().sum(dim=-3)).flatten(-2).mean(dim=-1)
