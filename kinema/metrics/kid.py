"""Kernel Inception/Video Distance: the unbiased MMD² with a cubic polynomial kernel
(Bińkowski et al. 2018), from streamed features in fixed memory.

    k(x, y) = (xᵀy / d + 1)³
    MMD²_u = Σ_{i≠j} k(xᵢ,xⱼ) / m(m−1) + Σ_{i≠j} k(yᵢ,yⱼ) / n(n−1) − 2 Σ_{i,j} k(xᵢ,yⱼ) / mn

Streaming choice: each side keeps a uniform reservoir of at most ``reservoir`` feature rows
(Algorithm R, ``kinema.metrics.base.Reservoir``). A reservoir is a uniform sample without
replacement of everything streamed, so MMD²_u on it is an unbiased estimate of the MMD² of
the two distributions, exactly like the usual KID, which itself averages MMD²_u over random
subsets of ``subset_size`` rows. With no more rows than the reservoir holds the result is
the usual KID of all features. Memory: 2 × reservoir × d floats, whatever the number of
videos.
"""
from __future__ import annotations

import torch
from einops import rearrange

from kinema.errors import KinemaError
from kinema.metrics.base import Metric, Reservoir
from kinema.metrics.frechet import pooled_samples, video_features


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3,
                      coef0: float = 1.0) -> torch.Tensor:
    """(m d), (n d) -> (m n): (x·y / d + coef0) ** degree."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² of feature sets x (m d) and y (n d) under the cubic polynomial kernel."""
    x, y = x.to(torch.float64), y.to(torch.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise KinemaError(f"unbiased MMD² needs at least 2 rows per side, got {m} and {n}")
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(term_xx + term_yy - 2 * k_xy.mean())


def kernel_distance(features_a: torch.Tensor, features_b: torch.Tensor, subset_size: int = 1000,
                    num_subsets: int = 100, seed: int = 0) -> tuple[float, float]:
    """KID as usually reported: mean and std of MMD²_u over random subsets (without
    replacement inside a subset). With neither set larger than ``subset_size``, one exact
    MMD²_u of all rows (std 0)."""
    a, b = torch.as_tensor(features_a), torch.as_tensor(features_b)
    if a.shape[0] <= subset_size and b.shape[0] <= subset_size:
        return mmd2_unbiased(a, b), 0.0
    size = min(subset_size, a.shape[0], b.shape[0])
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([
        mmd2_unbiased(a[torch.randperm(a.shape[0], generator=g)[:size]],
                      b[torch.randperm(b.shape[0], generator=g)[:size]])
        for _ in range(num_subsets)], dtype=torch.float64)
    return float(values.mean()), float(values.std()) if num_subsets > 1 else 0.0


class KernelDistance(Metric):
    """KID (unit="frame") or KVD (unit="clip") between generated and real videos."""

    name = "kid"

    def __init__(self, features, unit: str = "frame", reservoir: int = 2000,
                 subset_size: int = 1000, num_subsets: int = 100, seed: int = 0,
                 name: str | None = None):
        self.features, self.unit = features, unit
        self.subset_size, self.num_subsets, self.seed = subset_size, num_subsets, seed
        self.name = name or self.name
        self.fake = Reservoir(reservoir, seed=seed)
        self.real = Reservoir(reservoir, seed=seed + 1)

    def _rows(self, video: torch.Tensor) -> torch.Tensor:
        feats = video_features(self.features, video, self.unit)
        return rearrange(feats, "b t d -> (b t) d") if self.unit == "frame" else feats

    def update(self, fake, real=None, batch=None) -> None:
        fake = pooled_samples(self.name, fake, real)
        with torch.no_grad():
            self.fake.update(self._rows(fake))
            self.real.update(self._rows(real))

    def compute(self) -> dict:
        if min(self.fake.seen, self.real.seen) < 2:
            raise KinemaError(f"{self.name} (an unbiased MMD²) needs at least 2 feature rows per "
                              f"side; got {self.fake.seen} generated and {self.real.seen} real "
                              f"(raise --num-videos)")
        mean, std = kernel_distance(self.fake.sample(), self.real.sample(), self.subset_size,
                                    self.num_subsets, self.seed)
        return {self.name: mean, f"{self.name}_std": std,
                f"{self.name}_fake_seen": self.fake.seen, f"{self.name}_real_seen": self.real.seen}
