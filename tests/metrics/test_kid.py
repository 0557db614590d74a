import numpy as np
import torch

from kinema.metrics.base import Reservoir
from kinema.metrics.kid import KernelDistance, kernel_distance, mmd2_unbiased


def numpy_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_direct_loops():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(15, 4)), rng.normal(size=(12, 4)) + 0.3
    assert abs(mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y))
               - numpy_mmd2_unbiased(x, y)) < 1e-10


def test_estimator_is_unbiased_for_equal_distributions():
    # E[MMD²_u] = 0 when both sides come from one distribution; the biased (V-statistic)
    # estimator, which keeps the diagonal k(x_i, x_i), is clearly positive here.
    g = torch.Generator().manual_seed(0)
    unbiased, biased = [], []
    for _ in range(300):
        x = torch.randn(10, 3, generator=g, dtype=torch.float64)
        y = torch.randn(10, 3, generator=g, dtype=torch.float64)
        unbiased.append(mmd2_unbiased(x, y))
        k = lambda a, b: (a @ b.T / 3 + 1) ** 3  # noqa: E731
        biased.append(float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()))
    unbiased, biased = np.array(unbiased), np.array(biased)
    standard_error = unbiased.std() / np.sqrt(len(unbiased))
    assert abs(unbiased.mean()) < 3 * standard_error
    assert biased.mean() > 10 * standard_error


def test_reservoir_keeps_every_row_with_equal_probability():
    hits = np.zeros(40)
    for seed in range(500):
        r = Reservoir(10, seed=seed)
        stream = torch.arange(40, dtype=torch.float64).unsqueeze(1)
        for chunk in stream.split(7):
            r.update(chunk)
        hits[r.sample()[:, 0].long().numpy()] += 1
    np.testing.assert_allclose(hits / 500, 0.25, atol=0.08)


def test_streamed_metric_equals_direct_when_reservoir_holds_all(pooled_pixels, generator):
    fake = torch.rand(8, 2, 3, 1, 8, 8, generator=generator) * 2 - 1
    real = torch.rand(8, 3, 1, 8, 8, generator=generator) * 2 - 1
    metric = KernelDistance(pooled_pixels, unit="clip", reservoir=100)
    metric.update(fake[:3], real[:3])
    metric.update(fake[3:], real[3:])
    expected = mmd2_unbiased(pooled_pixels.clip_features(fake.reshape(16, 3, 1, 8, 8)),
                             pooled_pixels.clip_features(real))
    assert abs(metric.compute()["kid"] - expected) < 1e-10


def test_subset_average_matches_manual_subsets():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(30, 4, generator=g, dtype=torch.float64)
    b = torch.randn(25, 4, generator=g, dtype=torch.float64) + 1
    mean, std = kernel_distance(a, b, subset_size=10, num_subsets=5, seed=7)
    g = torch.Generator().manual_seed(7)
    values = [mmd2_unbiased(a[torch.randperm(30, generator=g)[:10]],
                            b[torch.randperm(25, generator=g)[:10]]) for _ in range(5)]
    assert abs(mean - np.mean(values)) < 1e-12 and abs(std - np.std(values, ddof=1)) < 1e-12
