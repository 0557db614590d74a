"""The loop loss of Eq. (5) across the wrap the viewer sees (``motion.seam_terms`` /
``seam_error``): by hand, zero where the motion continues smoothly, and alive at the default
loop length of one whole period, where every K-bin series repeats exactly."""
from __future__ import annotations

import math

import pytest
import torch

from kinema.data.spectral import spectral_volume
from kinema.methods.dynamics.motion import seam_error, seam_terms


def cosine_volume(period: int, k: int, amplitude: float, phase: float, num_frequencies: int) -> torch.Tensor:
    """(2 K 4 1 1): sample 0 moves dx = amplitude cos(2 pi k t / P + phase); sample 1 is still."""
    volume = torch.zeros(2, num_frequencies, 4, 1, 1, dtype=torch.float64)
    volume[0, k, 0] = amplitude * period / 2 * math.cos(phase)      # S_k = a P / 2 e^{i phase}
    volume[0, k, 2] = amplitude * period / 2 * math.sin(phase)
    return volume


def hand_seam(f, n: int) -> float:
    """|position| + |velocity| of seam_terms for a 1-axis motion f(t) of an n-frame loop."""
    f3, f2, f1, g0, g1, g2 = (f(t) for t in (n - 3, n - 2, n - 1, 0, 1, 2))
    v_end, wrap, v_start = f1 - f2, g0 - f1, g1 - g0
    position = wrap - (v_end + v_start) / 2
    velocity = (v_start - v_end) - ((f1 - 2 * f2 + f3) + (g2 - 2 * g1 + g0))
    return abs(position) + abs(velocity)


def test_seam_terms_are_zero_for_motion_quadratic_across_the_wrap_and_see_a_jump():
    t = torch.tensor([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0], dtype=torch.float64)   # F_{N-3} .. F_2
    frames = torch.zeros(2, 6, 2, 1, 1, dtype=torch.float64)
    frames[0, :, 0, 0, 0] = 0.75 - 1.5 * t + 0.25 * t ** 2                # uniformly accelerated
    frames[1, :, 1, 0, 0] = torch.where(t >= 0, 3.0, 0.0)                   # a 3 px jump at the wrap
    position, velocity = seam_terms(frames)
    assert torch.equal(position[0], torch.zeros(2, 1, 1, dtype=torch.float64))
    assert torch.equal(velocity[0], torch.zeros(2, 1, 1, dtype=torch.float64))
    # the jump: wrap step 3, neighbouring steps 0 -> position 3; the accelerations on either
    # side (0 and 0) explain the velocity change (0): no kink
    assert position[1, 1].item() == 3.0 and velocity[1, 1].item() == 0.0
    kink = torch.zeros(1, 6, 2, 1, 1, dtype=torch.float64)
    kink[0, :, 0, 0, 0] = torch.where(t >= -1, 2.0 * (t + 1), 0.0)          # still, then 2 px/frame
    position, velocity = seam_terms(kink)
    # v_end 0, wrap 2, v_start 2, no acceleration either side: position 2 - 1 = 1, and the
    # kink in full in the velocity term: (2 - 0) - (0 + 0) = 2
    assert position[0, 0].item() == 1.0 and velocity[0, 0].item() == 2.0


@pytest.mark.parametrize("frames", [32, 24])         # the default (one whole period) and 3/4 of it
def test_seam_error_of_a_cosine_by_hand(frames):
    period, k, a, phase = 32, 3, 1.5, 0.4
    volume = cosine_volume(period, k, a, phase, num_frequencies=16)
    f = lambda t: a * math.cos(2 * math.pi * k * t / period + phase)
    errors = seam_error(volume, frames, period)
    assert errors.shape == (2,)
    assert errors[0].item() == pytest.approx(hand_seam(f, frames), rel=1e-9)
    assert errors[0].item() > 0.1                      # k = 3 of 32 frames is not slow
    assert errors[1].item() == 0.0                     # no motion, no seam
    slow = seam_error(volume, 2 * frames, period, slowmo=2.0)[0].item()
    assert slow == pytest.approx(hand_seam(lambda i: f(i / 2.0), 2 * frames), rel=1e-9)


def test_a_smooth_periodic_motion_has_a_third_order_seam_and_a_clip_jump_a_large_one():
    """At the default length (one period) a slow oscillation in the paper's regime (150 frames)
    scores about (2 pi k / P)^3 a; a 32-frame clip that drifts 4 px and does not return, kept
    in 16 of its 17 bins (the old small preset), scores its jump at the wrap."""
    slow = cosine_volume(150, 1, 2.0, 0.9, num_frequencies=16)
    omega = 2 * math.pi / 150
    assert seam_error(slow, 150, 150)[0].item() < 3 * omega ** 3 * 2.0
    period = 32
    drift = torch.linspace(0.0, 4.0, period, dtype=torch.float64)             # F_t = 4 t / 31
    clip = torch.zeros(1, period, 2, 1, 1, dtype=torch.float64)
    clip[0, :, 0, 0, 0] = drift
    volume = spectral_volume(clip, 16)
    assert seam_error(volume, period, period)[0].item() > 1.0
    smooth = cosine_volume(period, 1, 2.0, 0.0, num_frequencies=16)          # same size of motion
    assert seam_error(smooth, period, period)[0].item() < 0.05


def test_the_default_loop_length_has_a_gradient():
    """The old loss compared F_N with F_0: at N = period both are the same number for any
    spectral volume, so its gradient (the guidance of Eq. (5)) was exactly zero."""
    period = 32
    volume = torch.randn(2, 16, 4, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    volume.requires_grad_(True)
    seam_error(volume, period, period).sum().backward()
    assert volume.grad.abs().amax(dim=(1, 2, 3, 4)).min() > 1e-3      # every sample gets a push
    # the gradient is the analytic one: d/dS of a linear form, checked against finite differences
    assert torch.autograd.gradcheck(lambda v: seam_error(v, period, period), (volume.detach()[:, :4].requires_grad_(),))
