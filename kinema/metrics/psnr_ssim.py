"""PSNR and SSIM per frame and per time step, with best-of-N for stochastic models.

Videos live in [-1, 1], so ``data_range`` is 2. SSIM is the standard one of Wang et al.
(2004): an 11-tap Gaussian window with sigma 1.5, population (not sample) covariances,
K1 = 0.01, K2 = 0.03, averaged over the "valid" region (the border of half a window is
dropped) and over channels — what ``skimage.metrics.structural_similarity`` computes with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``. Written in torch so that
a batch of frames is one convolution (scikit-image is per image and on numpy).

Best-of-N (the stochastic video prediction standard, e.g. SVG, SRVP): for each input the
sample with the best mean score over its predicted frames is kept, and its per-step curve is
what gets averaged. The mean over samples is reported beside it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from kinema.errors import KinemaError
from kinema.metrics.base import Metric

DATA_RANGE = 2.0          # videos are in [-1, 1]
PSNR_MSE_FLOOR = 1e-10    # identical frames give 10·log10(4/1e-10) ≈ 106 dB, not +inf


def psnr(fake: torch.Tensor, real: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """PSNR of each image: fake, real (... c h w) -> (...) in dB."""
    mse = (fake.double() - real.double()).pow(2).flatten(-3).mean(-1)
    return 10.0 * torch.log10(data_range ** 2 / mse.clamp_min(PSNR_MSE_FLOOR))


def gaussian_window(sigma: float = 1.5, truncate: float = 3.5) -> torch.Tensor:
    """The 1-D Gaussian taps of ``scipy.ndimage.gaussian_filter`` (radius int(truncate·sigma
    + 0.5), normalised to sum 1): 11 taps for sigma 1.5."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim(fake: torch.Tensor, real: torch.Tensor, data_range: float = DATA_RANGE,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM of each image: fake, real (... c h w) -> (...), Eq. (13) of Wang et al. 2004."""
    lead = fake.shape[:-3]
    c, h, w = fake.shape[-3:]
    x = rearrange(fake.double(), "... c h w -> (...) c h w")
    y = rearrange(real.double(), "... c h w -> (...) c h w")
    taps = gaussian_window(sigma)
    if min(h, w) < taps.numel():
        raise KinemaError(f"SSIM needs frames of at least {taps.numel()} px, got {h}x{w}")
    # A separable Gaussian applied per channel without padding = the "valid" crop of
    # scikit-image (which filters with padding, then drops a border of half a window).
    kv = taps.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    kh = taps.view(1, 1, 1, -1).repeat(c, 1, 1, 1)

    def blur(v: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(v, kv, groups=c), kh, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3)).reshape(lead)


class _FrameScore(Metric):
    """Shared running sums of a per-frame score over inputs, per time step, best-of-N."""

    score_fn = staticmethod(psnr)
    higher_is_better = True
    paired = True

    def score(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """(... c h w) pairs -> (...) scores."""
        return self.score_fn(fake, real)

    def __init__(self, skip_frames: int = 0):
        """skip_frames: leading frames not scored (e.g. the given start frame x0)."""
        self.skip_frames = skip_frames
        self.count = 0
        self.best_sum: torch.Tensor | None = None   # (t) sum over inputs, best sample
        self.mean_sum: torch.Tensor | None = None   # (t) sum over inputs, mean over samples

    def update(self, fake, real=None, batch=None) -> None:
        if real is None:
            raise KinemaError(f"{self.name} compares with the real video; got none")
        if fake.ndim == 5:
            fake = fake.unsqueeze(1)  # (b t c h w) -> (b 1 t c h w)
        t = min(fake.shape[2], real.shape[1])
        fake = fake[:, :, self.skip_frames:t]
        real = real[:, self.skip_frames:t]
        scores = self.score(fake, real.unsqueeze(1).expand_as(fake)).double()  # (b n t)
        mean_score = scores.mean(-1)                                             # (b n)
        best = mean_score.argmax(1) if self.higher_is_better else mean_score.argmin(1)
        best_curve = scores[torch.arange(scores.shape[0]), best]          # (b t)
        if self.best_sum is None:
            self.best_sum = torch.zeros(scores.shape[-1], dtype=torch.float64)
            self.mean_sum = torch.zeros_like(self.best_sum)
        if scores.shape[-1] != self.best_sum.shape[0]:
            raise KinemaError(f"{self.name}: every video must have the same number of frames")
        self.best_sum += best_curve.sum(0).cpu()
        self.mean_sum += scores.mean(1).sum(0).cpu()
        self.count += scores.shape[0]

    def compute(self) -> dict:
        if not self.count:
            raise KinemaError(f"{self.name}: no videos were seen")
        best = self.best_sum / self.count
        mean = self.mean_sum / self.count
        return {self.name: float(best.mean()),
                f"{self.name}_per_step": [float(v) for v in best],
                f"{self.name}_mean_of_samples": float(mean.mean()),
                f"{self.name}_mean_of_samples_per_step": [float(v) for v in mean],
                f"{self.name}_videos": self.count}


class PSNR(_FrameScore):
    """Peak signal-to-noise ratio per predicted frame (dB, higher is better), best-of-N."""

    name = "psnr"
    score_fn = staticmethod(psnr)


class SSIM(_FrameScore):
    """Structural similarity per predicted frame (higher is better), best-of-N."""

    name = "ssim"
    score_fn = staticmethod(ssim)


class LPIPS(_FrameScore):
    """Learned perceptual distance per predicted frame (lower is better), best-of-N picks the
    sample with the lowest mean; ``features``: ``kinema.metrics.features.lpips.LPIPSNetwork``."""

    name = "lpips"
    higher_is_better = False

    def __init__(self, features, skip_frames: int = 0, name: str | None = None):
        super().__init__(skip_frames)
        self.features = features
        self.name = name or self.name

    def score(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        lead = fake.shape[:-3]
        with torch.no_grad():
            d = self.features.distance(fake.reshape(-1, *fake.shape[-3:]),
                                       real.reshape(-1, *real.shape[-3:]))
        return d.reshape(lead)
