import numpy as np
import torch
from scipy.spatial.distance import pdist

from kinema.metrics.diversity import Diversity


def test_clip_diversity_is_mean_pairwise_euclidean(pooled_pixels, generator):
    fake = torch.rand(3, 4, 2, 1, 8, 8, generator=generator) * 2 - 1  # (b n t c h w)
    metric = Diversity(pooled_pixels, unit="clip")
    metric.update(fake[:1])
    metric.update(fake[1:])
    expected = np.mean([pdist(pooled_pixels.clip_features(fake[i]).numpy()).mean()
                        for i in range(3)])
    assert abs(metric.compute()["diversity"] - expected) < 1e-9


def test_frame_diversity_averages_per_frame_distances(pooled_pixels, generator):
    fake = torch.rand(2, 3, 5, 1, 8, 8, generator=generator) * 2 - 1
    metric = Diversity(pooled_pixels, unit="frame")
    metric.update(fake)
    expected = np.mean([[pdist(pooled_pixels.frame_features(fake[i, :, k]).numpy()).mean()
                         for k in range(5)] for i in range(2)])
    assert abs(metric.compute()["diversity"] - expected) < 1e-9


def test_identical_samples_have_zero_diversity(pooled_pixels, generator):
    video = torch.rand(2, 1, 3, 1, 8, 8, generator=generator)
    metric = Diversity(pooled_pixels)
    metric.update(video.expand(2, 4, 3, 1, 8, 8))
    assert metric.compute()["diversity"] < 1e-6
