"""The streaming contract every metric follows, and the running statistics they share.

A metric sees the evaluation set one batch at a time through ``update`` and keeps only
summaries whose size does not depend on how many videos it has seen (running sums, running
moments, a fixed-size reservoir); ``compute`` turns the summaries into numbers.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from kinema.errors import KinemaError


class Metric(ABC):
    """Base class of the registered metrics.

    ``update(fake, real, batch)``:
      - ``fake``: (b n t c h w) n samples per input, float in [-1, 1]
      - ``real``: (b t c h w) the true video for the same inputs (or None when the metric
        needs none)
      - ``batch``: the dataset items' other fields, batched (ground truth: positions, eta ...)

    ``compute()`` returns a flat dict ``{name: float | list[float]}``. A fresh instance
    starts a fresh evaluation.
    """

    name: str = ""
    version: str = "1"
    needs_real: bool = True
    # True when each generated video is scored against the truth of the same input (PSNR,
    # SSIM, ground-truth motion); such a number means nothing for unconditional generation.
    paired: bool = False
    min_samples: int = 1   # samples per input the metric needs (diversity compares pairs)

    @abstractmethod
    def update(self, fake: torch.Tensor, real: torch.Tensor | None = None,
               batch: dict | None = None) -> None:
        """Fold one batch into the running summaries."""

    @abstractmethod
    def compute(self) -> dict:
        """The metric's numbers from everything seen so far."""


class RunningMoments:
    """Mean and covariance of a stream of feature rows, in float64, memory O(D²).

    Batches are merged with the pairwise update of Chan, Golub & LeVeque (1979), which
    stays accurate where naive sums of squares lose digits to cancellation.
    """

    def __init__(self, dim: int | None = None):
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None  # sum of outer products of deviations (d d)
        if dim is not None:
            self.mean = torch.zeros(dim, dtype=torch.float64)
            self.m2 = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, features: torch.Tensor) -> None:
        """features: (n d)."""
        x = features.detach().to("cpu", torch.float64).reshape(features.shape[0], -1)
        n_b = x.shape[0]
        if n_b == 0:
            return
        mean_b = x.mean(0)
        dev = x - mean_b
        m2_b = dev.T @ dev
        if self.mean is None or self.count == 0:
            self.mean, self.m2, self.count = mean_b, m2_b, n_b
            return
        if x.shape[1] != self.mean.shape[0]:
            raise KinemaError(f"feature size changed from {self.mean.shape[0]} to {x.shape[1]}")
        n = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + torch.outer(delta, delta) * (self.count * n_b / n)
        self.count = n

    def covariance(self) -> torch.Tensor:
        """Unbiased (divide by n-1) covariance, as ``numpy.cov`` computes it."""
        if self.count < 2:
            raise KinemaError(f"a covariance needs at least 2 feature rows, got {self.count}")
        return self.m2 / (self.count - 1)


class Reservoir:
    """A uniform random sample of at most ``capacity`` rows from a stream (Vitter's
    Algorithm R): every row seen so far is kept with the same probability capacity/seen,
    so an unbiased estimator computed on the reservoir stays unbiased for the stream's
    distribution, with memory fixed at ``capacity`` rows."""

    def __init__(self, capacity: int, seed: int = 0):
        self.capacity = capacity
        self.seen = 0
        self.rows: torch.Tensor | None = None
        self.generator = torch.Generator().manual_seed(seed)

    def update(self, features: torch.Tensor) -> None:
        x = features.detach().to("cpu", torch.float64).reshape(features.shape[0], -1)
        if self.rows is None:
            self.rows = torch.empty(0, x.shape[1], dtype=torch.float64)
        free = max(0, self.capacity - self.rows.shape[0])
        if free:
            self.rows = torch.cat([self.rows, x[:free]])
            self.seen += min(free, x.shape[0])
            x = x[free:]
        for row in x:
            self.seen += 1
            j = int(torch.randint(self.seen, (1,), generator=self.generator))
            if j < self.capacity:
                self.rows[j] = row

    def sample(self) -> torch.Tensor:
        if self.rows is None:
            raise KinemaError("the reservoir is empty: no features were seen")
        return self.rows
