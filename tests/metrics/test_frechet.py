import numpy as np
import pytest
import scipy.linalg
import torch

import kinema.metrics
from kinema.errors import KinemaError
from kinema.metrics.base import RunningMoments
from kinema.metrics.frechet import FrechetDistance, frechet_distance


def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))


def test_matches_scipy_reference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(250, 6)) @ rng.normal(size=(6, 6)) + 0.5
    expected = scipy_frechet(a, b)
    assert abs(frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) - expected) < 1e-8 * max(1, expected)


def test_hand_computed_isotropic_case():
    # N(0, I) vs N(m, 4I) in d dims: |m|² + d(1 + 4 - 2·2) = |m|² + d. A missing square root
    # gives |m|² + d(1 + 4 - 2·4) instead.
    d = 5
    g = torch.Generator().manual_seed(1)
    a = torch.randn(200000, d, generator=g, dtype=torch.float64)
    b = 2 * torch.randn(200000, d, generator=g, dtype=torch.float64) + 1.0
    assert abs(frechet_distance(a, b) - (d + d)) < 0.1


def test_running_moments_match_numpy_over_chunks():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(101, 7)) * 100 + 1e4  # large offset: cancellation-prone
    m = RunningMoments()
    for chunk in np.array_split(x, 9):
        m.update(torch.from_numpy(chunk))
    np.testing.assert_allclose(m.mean.numpy(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.covariance().numpy(), np.cov(x, rowvar=False), rtol=1e-9)


def test_streamed_metric_equals_direct_clip_and_frame(pooled_pixels, generator):
    fake = torch.rand(6, 2, 4, 1, 8, 8, generator=generator) * 2 - 1  # (b n t c h w)
    real = torch.rand(6, 4, 1, 8, 8, generator=generator) * 2 - 1
    flat_fake = fake.reshape(12, 4, 1, 8, 8)
    for unit, direct in (
            ("clip", lambda v: pooled_pixels.clip_features(v)),
            ("frame", lambda v: pooled_pixels.frame_features(v.reshape(-1, 1, 8, 8)))):
        metric = FrechetDistance(pooled_pixels, unit=unit)
        for i in range(0, 6, 2):
            metric.update(fake[i:i + 2], real[i:i + 2])
        expected = frechet_distance(direct(flat_fake), direct(real))
        assert abs(metric.compute()["frechet"] - expected) < 1e-7 * expected


def test_sliding_window_values_are_per_window_distances(pooled_pixels, generator):
    fake = torch.rand(10, 6, 1, 8, 8, generator=generator) * 2 - 1  # (b t c h w)
    real = torch.rand(10, 6, 1, 8, 8, generator=generator) * 2 - 1
    metric = FrechetDistance(pooled_pixels, unit="frame", window=3, stride=2)
    metric.update(fake[:5], real[:5])
    metric.update(fake[5:], real[5:])
    result = metric.compute()
    assert result["frechet_window_starts"] == [0, 2]
    for s, value in zip([0, 2], result["frechet_per_window"]):
        expected = frechet_distance(pooled_pixels.frame_features(fake[:, s:s + 3].reshape(-1, 1, 8, 8)),
                                    pooled_pixels.frame_features(real[:, s:s + 3].reshape(-1, 1, 8, 8)))
        assert abs(value - expected) < 1e-7 * expected


def test_public_api_takes_n_by_d_and_refuses_bad_shapes():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + 1
    assert abs(kinema.metrics.frechet_distance(torch.from_numpy(a), torch.from_numpy(b))
               - scipy_frechet(a, b)) < 1e-8
    assert "fvd" in kinema.metrics.available() and "ssim" in kinema.metrics.available()
    with pytest.raises(KinemaError, match="differ in D: 3 and 4"):
        kinema.metrics.frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(KinemaError, match=r"features_b must be \(N, D\) with N >= 2.*\(1, 3\)"):
        kinema.metrics.frechet_distance(torch.randn(5, 3), torch.randn(1, 3))
    with pytest.raises(KinemaError, match=r"features_a .*\(5, 3, 2\)"):
        kinema.metrics.frechet_distance(torch.randn(5, 3, 2), torch.randn(5, 3))


def test_one_video_per_side_is_one_clear_error(pooled_pixels):
    from kinema.metrics.kid import KernelDistance

    for metric in (FrechetDistance(pooled_pixels, unit="clip", name="fvd"),
                   KernelDistance(pooled_pixels, unit="clip", name="kvd")):
        metric.update(torch.zeros(1, 1, 3, 1, 8, 8), torch.zeros(1, 3, 1, 8, 8))
        with pytest.raises(KinemaError, match=r"needs at least 2 feature rows per side; got 1 "
                                              r"generated and 1 real \(raise --num-videos\)"):
            metric.compute()
