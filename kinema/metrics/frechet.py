"""Fréchet distance between Gaussians fitted to two feature sets, from streamed moments.

One piece of maths serves FID (features of single frames), FVD (features of clips) and
their sliding-window versions over time (Generative Image Dynamics, Fig. 6: a window of 30
frames for FID, 16 for DTFVD, slid along the video to show quality over its length):

    d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^{1/2}        (Heusel et al. 2017, Eq. 6)

The trace of the matrix square root is computed as the sum of square roots of the
eigenvalues of Σ₁^{1/2} Σ₂ Σ₁^{1/2}, a symmetric PSD matrix similar to Σ₁Σ₂, so it needs only
``eigh`` (stable, real) instead of a general ``sqrtm``; tests check it against
``scipy.linalg.sqrtm``.
"""
from __future__ import annotations

import torch
from einops import rearrange

from kinema.errors import KinemaError
from kinema.metrics.base import Metric, RunningMoments


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(matrix)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_from_moments(mu_a: torch.Tensor, sigma_a: torch.Tensor,
                         mu_b: torch.Tensor, sigma_b: torch.Tensor) -> float:
    """Fréchet distance of N(mu_a, sigma_a) and N(mu_b, sigma_b), computed in float64."""
    mu_a, mu_b, sigma_a, sigma_b = (m.to(torch.float64) for m in (mu_a, mu_b, sigma_a, sigma_b))
    root_a = _sqrt_psd(sigma_a)
    middle = root_a @ sigma_b @ root_a
    middle = (middle + middle.T) / 2  # symmetric up to rounding; eigvalsh wants it exactly
    trace_sqrt = torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + sigma_a.trace() + sigma_b.trace() - 2 * trace_sqrt
    return float(value)


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between two feature sets (N, D) and (M, D) (unbiased covariances)."""
    features_a, features_b = torch.as_tensor(features_a), torch.as_tensor(features_b)
    for label, feats in (("features_a", features_a), ("features_b", features_b)):
        if feats.ndim != 2 or feats.shape[0] < 2:
            raise KinemaError(f"{label} must be (N, D) with N >= 2 rows (a covariance needs two); "
                              f"got shape {tuple(feats.shape)}")
    if features_a.shape[1] != features_b.shape[1]:
        raise KinemaError(f"the feature sets differ in D: {features_a.shape[1]} and "
                          f"{features_b.shape[1]} (features of two different extractors?)")
    a, b = RunningMoments(), RunningMoments()
    a.update(features_a)
    b.update(features_b)
    return frechet_from_moments(a.mean, a.covariance(), b.mean, b.covariance())


def video_features(extractor, video: torch.Tensor, unit: str) -> torch.Tensor:
    """video (b t c h w) -> (b d) clip features, or (b t d) frame features."""
    if unit == "clip":
        return extractor.clip_features(video)
    if unit == "frame":
        b = video.shape[0]
        feats = extractor.frame_features(rearrange(video, "b t c h w -> (b t) c h w"))
        return rearrange(feats, "(b t) d -> b t d", b=b)
    raise KinemaError(f"unit must be 'clip' or 'frame', got {unit!r}")


def pooled_samples(name: str, fake: torch.Tensor, real: torch.Tensor | None) -> torch.Tensor:
    """The distribution metrics compare every sample with the real set: fake (b n t c h w)
    -> ((b n) t c h w); a missing real batch is an error naming the metric."""
    if real is None:
        raise KinemaError(f"{name} compares with real videos; got none")
    if fake.ndim == 6:
        fake = rearrange(fake, "b n t c h w -> (b n) t c h w")
    return fake


def window_starts(num_frames: int, window: int | None, stride: int | None) -> list[int]:
    if window is None:
        return [0]
    if window > num_frames:
        raise KinemaError(f"window of {window} frames is longer than the videos ({num_frames})")
    stride = stride or 1
    return list(range(0, num_frames - window + 1, stride))


class FrechetDistance(Metric):
    """FID / FVD (and their sliding-window curves) between generated and real videos.

    features: an extractor with ``clip_features`` (unit="clip") or ``frame_features``
    (unit="frame"). With ``window`` set, one distance per window of that many frames,
    slid by ``stride``; the headline number is then their mean.
    """

    name = "frechet"

    def __init__(self, features, unit: str = "clip", window: int | None = None,
                 stride: int | None = None, name: str | None = None):
        self.features, self.unit, self.window, self.stride = features, unit, window, stride
        self.name = name or self.name
        self.starts: list[int] | None = None
        self.fake: list[RunningMoments] = []
        self.real: list[RunningMoments] = []

    def _fold(self, video: torch.Tensor, moments: list[RunningMoments]) -> None:
        size = self.window or video.shape[1]
        if self.unit == "frame":
            feats = video_features(self.features, video, "frame")  # (b t d)
            for s, m in zip(self.starts, moments):
                m.update(rearrange(feats[:, s:s + size], "b t d -> (b t) d"))
        else:
            for s, m in zip(self.starts, moments):
                m.update(video_features(self.features, video[:, s:s + size], "clip"))

    def update(self, fake, real=None, batch=None) -> None:
        fake = pooled_samples(self.name, fake, real)
        with torch.no_grad():
            if self.starts is None:
                self.starts = window_starts(min(fake.shape[1], real.shape[1]),
                                            self.window, self.stride)
                self.fake = [RunningMoments() for _ in self.starts]
                self.real = [RunningMoments() for _ in self.starts]
            self._fold(fake, self.fake)
            self._fold(real, self.real)

    def compute(self) -> dict:
        if self.starts is None:
            raise KinemaError(f"{self.name}: no videos were seen")
        if min(self.fake[0].count, self.real[0].count) < 2:
            raise KinemaError(f"{self.name} fits a covariance to each side and needs at least 2 "
                              f"feature rows per side; got {self.fake[0].count} generated and "
                              f"{self.real[0].count} real (raise --num-videos)")
        values = [frechet_from_moments(f.mean, f.covariance(), r.mean, r.covariance())
                  for f, r in zip(self.fake, self.real)]
        out = {self.name: sum(values) / len(values),
               f"{self.name}_fake_count": self.fake[0].count,
               f"{self.name}_real_count": self.real[0].count}
        if self.window is not None:
            out[f"{self.name}_per_window"] = values
            out[f"{self.name}_window_starts"] = list(self.starts)
        return out
