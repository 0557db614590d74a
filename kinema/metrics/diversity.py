"""Diversity of stochastic samples, as the cINN paper defines it (appendix C.1).

Several samples are drawn from the same input; diversity is their mean pairwise Euclidean
distance in a feature space (the cINN paper replaces SAVP's cosine distance by the
Euclidean one, which also sees the features' norms). Frame-wise features (VGG) compare two
videos by the mean over time of the per-frame distances; clip features (I3D, a domain
extractor) compare whole clips. The headline number is the mean over inputs.
"""
from __future__ import annotations

import torch
from einops import rearrange

from kinema.errors import KinemaError
from kinema.metrics.base import Metric
from kinema.metrics.frechet import video_features


def pairwise_mean_distance(features: torch.Tensor) -> torch.Tensor:
    """features (b n d) or (b n t d) -> (b): mean over the n(n-1)/2 sample pairs of the
    Euclidean distance (averaged over t for frame features)."""
    if features.ndim == 3:
        features = features.unsqueeze(2)  # (b n 1 d)
    n = features.shape[1]
    if n < 2:
        raise KinemaError(f"diversity needs at least 2 samples per input (--num-samples), got {n}")
    per_step = rearrange(features.to(torch.float64), "b n t d -> b t n d")
    dist = torch.cdist(per_step, per_step).mean(1)     # (b n n), mean over t
    i, j = torch.triu_indices(n, n, offset=1)
    return dist[:, i, j].mean(-1)


class Diversity(Metric):
    """Mean pairwise Euclidean feature distance between samples of one input (higher = more
    diverse). Needs no real video."""

    name = "diversity"
    needs_real = False
    min_samples = 2

    def __init__(self, features, unit: str = "clip", name: str | None = None):
        self.features, self.unit = features, unit
        self.name = name or self.name
        self.total = 0.0
        self.count = 0

    def update(self, fake, real=None, batch=None) -> None:
        if fake.ndim != 6:
            raise KinemaError(f"{self.name} needs (b n t c h w) samples, got {tuple(fake.shape)}")
        b = fake.shape[0]
        with torch.no_grad():
            feats = video_features(self.features,
                                   rearrange(fake, "b n t c h w -> (b n) t c h w"), self.unit)
        feats = rearrange(feats, "(b n) ... -> b n ...", b=b)
        self.total += float(pairwise_mean_distance(feats).sum())
        self.count += b

    def compute(self) -> dict:
        if not self.count:
            raise KinemaError(f"{self.name}: no inputs were seen")
        return {self.name: self.total / self.count, f"{self.name}_inputs": self.count}
