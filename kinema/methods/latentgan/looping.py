"""A looping detector: does a generated latent trajectory repeat the same motion over and over?

StyleVideoGAN (Sec. 1, Sec. 4) calls a long video "looping" when the same motion pattern is
repeated; it counts models whose long samples loop (19/20 without L_GAP, 6/20 with it) by eye.
kinema makes that count reproducible with a recurrence test on the trajectory x_0 .. x_{T-1}
(here: the PCA coordinates of the W+ codes, ``OffsetBasis.coordinates``):

    R(a, b)   = ||x_a - x_b|| / sigma             (recurrence distance; sigma: a spread, below)
    S_tau(t)  = sqrt(mean_{k < L} R(t + k, t + tau + k)^2)
                                                  (segment of L steps vs the one tau later)
    c(tau)    = fraction of start times t in [burn_in, T - tau - L] with S_tau(t) < epsilon
    loops     = max over tau in [min_lag, max_lag] of c(tau) >= coverage

i.e. for most of the sequence after ``burn_in``, the motion of every L-step segment comes back
(within epsilon of the spread) tau steps later. ``period`` is the lag of the highest coverage
(the smallest such lag on ties). sigma is the root-mean-square distance between two frames of
a reference (StyleVideoGAN uses two frames of one training video, averaged over the videos:
how far the real motion goes, not how far apart the training videos are) or, if none is
given, of the trajectory itself. A trajectory whose late part barely moves (RMS distance
between its late frames below epsilon * sigma) is ``still``: it also repeats itself (at every
lag), the degenerate loop, and is reported as looping.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from kinema.errors import KinemaError


@dataclass
class LoopReport:
    loops: bool
    still: bool
    period: int | None          # lag of the highest coverage (None if no lag was testable)
    coverage: float             # c(period)
    lags: list[int] = field(default_factory=list)
    coverages: list[float] = field(default_factory=list)


def rms_pairwise_distance(x: torch.Tensor) -> float:
    """sqrt(mean over all pairs (a, b) of ||x_a - x_b||^2) = sqrt(2 * total variance)."""
    x = x.double()
    return float((2 * x.var(0, unbiased=False).sum()).sqrt())


def detect_loop(trajectory: torch.Tensor, sigma: float | None = None, burn_in: int = 25,
                segment: int = 10, min_lag: int | None = None, max_lag: int | None = None,
                epsilon: float = 0.1, coverage: float = 0.5) -> LoopReport:
    """The test of the module docstring on trajectory (T k)."""
    x = torch.as_tensor(trajectory).double()
    if x.ndim != 2:
        raise KinemaError(f"a trajectory is (T k), got shape {tuple(x.shape)}")
    steps = x.shape[0]
    min_lag = segment if min_lag is None else min_lag
    max_lag = (steps - burn_in - segment) // 2 if max_lag is None else max_lag
    if min_lag < 1 or max_lag < min_lag:
        raise KinemaError(f"a trajectory of {steps} steps leaves no lag to test after a burn-in "
                          f"of {burn_in} with {segment}-step segments (lags {min_lag}..{max_lag}); "
                          f"generate a longer one")
    sigma = rms_pairwise_distance(x) if sigma is None else float(sigma)
    late = x[burn_in:]
    still = rms_pairwise_distance(late) < epsilon * sigma if sigma > 0 else True
    if still:
        return LoopReport(loops=True, still=True, period=min_lag, coverage=1.0)
    distances = torch.cdist(x, x).pow(2) / sigma ** 2                  # R^2 (T T)
    lags, coverages = [], []
    for tau in range(min_lag, max_lag + 1):
        diagonal = torch.diagonal(distances, offset=tau)[burn_in:]     # R^2(t, t + tau), t >= burn_in
        if diagonal.numel() < segment:
            break
        window = diagonal.unfold(0, segment, 1).mean(1).sqrt()         # S_tau(t)
        lags.append(tau)
        coverages.append(float((window < epsilon).double().mean()))
    if not lags:
        return LoopReport(loops=False, still=False, period=None, coverage=0.0)
    best = max(range(len(lags)), key=lambda j: (coverages[j], -lags[j]))
    return LoopReport(loops=coverages[best] >= coverage, still=False, period=lags[best],
                      coverage=coverages[best], lags=lags, coverages=coverages)
