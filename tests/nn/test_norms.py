"""SPADE, AdaIN and spectral norm against direct computations."""
import numpy as np
import torch

from kinema.nn.norms import SPADE, AdaIN, group_count, spectral


def test_adain_sets_per_channel_statistics_from_the_code():
    torch.manual_seed(0)
    layer = AdaIN(channels=3, code_dim=4)
    x = torch.randn(2, 3, 4, 5, 6) * 3 + 2           # (b c t h w)
    z = torch.randn(2, 4)
    y = layer(x, z).detach().numpy()
    gamma, beta = (layer.affine(z).detach().numpy()[:, :3], layer.affine(z).detach().numpy()[:, 3:])
    flat = y.reshape(2, 3, -1)
    np.testing.assert_allclose(flat.mean(-1), beta, atol=1e-4)
    np.testing.assert_allclose(flat.std(-1), np.abs(1 + gamma), rtol=1e-3)


def test_spade_follows_the_condition_image():
    torch.manual_seed(0)
    layer = SPADE(channels=4, cond_channels=1, hidden=8)
    x = torch.randn(1, 4, 2, 8, 8)
    c1, c2 = torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16)
    assert (layer(x, c1) - layer(x, c2)).abs().max() > 1e-3
    # a constant condition map gives a modulation constant in space away from the borders
    # (zero padding), so there y = group_norm(x) * (1 + g) + b with one g, b per channel
    normed = torch.nn.functional.group_norm(x, group_count(4))[..., 2:-2, 2:-2]
    y = layer(x, c1)[..., 2:-2, 2:-2]
    for ch in range(4):
        a, b = normed[0, ch].flatten(), y[0, ch].flatten()
        slope = ((a - a.mean()) * (b - b.mean())).sum() / ((a - a.mean()) ** 2).sum()
        assert (b - (b.mean() + slope * (a - a.mean()))).abs().max() < 1e-4


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    linear = spectral(torch.nn.Linear(8, 8))
    with torch.no_grad():
        linear.parametrizations.weight.original.mul_(10)
    for _ in range(20):
        linear(torch.randn(1, 8))
    assert torch.linalg.matrix_norm(linear.weight, ord=2) < 1.05
    plain = spectral(torch.nn.Linear(2, 2), enabled=False)
    assert not hasattr(plain, "parametrizations")


def test_spade_on_image_features_matches_the_video_case_per_frame():
    torch.manual_seed(0)
    layer = SPADE(channels=4, cond_channels=3, hidden=8)
    x, c = torch.randn(2, 4, 3, 6, 6), torch.randn(2, 3, 12, 12)
    # a single-frame video normalises over the same values as the image, so the two agree
    image_out = layer(x[:, :, 0], c)
    video_out = layer(x[:, :, :1], c)[:, :, 0]
    assert torch.allclose(image_out, video_out, atol=1e-5)
    assert (image_out - layer(x[:, :, 1], c)).abs().max() > 1e-2


def test_group_count_divides_the_channels():
    assert [group_count(c) for c in (1, 3, 6, 8, 12, 7, 16)] == [1, 3, 6, 8, 6, 7, 8]
