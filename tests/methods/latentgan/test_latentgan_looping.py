"""The looping detector on constructed looping and non-looping trajectories."""
import math

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.latentgan.looping import detect_loop, rms_pairwise_distance


def circle(steps, period, noise=0.0, seed=0):
    t = torch.arange(steps, dtype=torch.float64)
    x = torch.stack([torch.cos(2 * math.pi * t / period), torch.sin(2 * math.pi * t / period),
                     0.5 * torch.cos(4 * math.pi * t / period)], dim=1)
    return x + noise * torch.randn(steps, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_periodic_trajectory_loops_at_its_period():
    report = detect_loop(circle(250, 17, noise=0.01))
    assert report.loops and not report.still
    assert report.period == 17 and report.coverage == 1.0
    # one step off the period, the segments no longer match
    assert report.coverages[report.lags.index(16)] == 0.0


def test_wandering_then_cycling_loops():
    g = torch.Generator().manual_seed(0)
    wander = torch.cumsum(0.3 * torch.randn(60, 3, generator=g, dtype=torch.float64), 0)
    cycle = circle(190, 23) + wander[-1] - circle(1, 23)[0]
    report = detect_loop(torch.cat([wander, cycle]))
    assert report.loops and report.period == 23 and 0.5 < report.coverage < 1.0


@pytest.mark.parametrize("seed", range(3))
def test_random_walk_does_not_loop(seed):
    g = torch.Generator().manual_seed(seed)
    walk = torch.cumsum(torch.randn(250, 8, generator=g, dtype=torch.float64), 0)
    report = detect_loop(walk)
    assert not report.loops and not report.still and report.coverage < 0.5


def test_chirp_does_not_loop():
    t = torch.arange(250, dtype=torch.float64)
    phase = 2 * math.pi * (t / 40 + (t / 120) ** 2)          # frequency keeps rising
    x = torch.stack([torch.cos(phase), torch.sin(phase), t / 250], dim=1)
    assert not detect_loop(x).loops


def test_frozen_trajectory_is_a_still_loop():
    x = torch.zeros(250, 4, dtype=torch.float64)
    x[:20] = torch.randn(20, 4, dtype=torch.float64)      # moves, then stops
    report = detect_loop(x, sigma=1.0)
    assert report.loops and report.still


def test_reference_spread_and_errors():
    x = circle(250, 17)
    assert abs(rms_pairwise_distance(x) - math.sqrt(2 * x.var(0, unbiased=False).sum())) < 1e-12
    # against a reference spread 100x larger, the whole circle is "still"
    assert detect_loop(x, sigma=100.0 * rms_pairwise_distance(x)).still
    with pytest.raises(KinemaError, match="longer one"):
        detect_loop(circle(40, 17))
