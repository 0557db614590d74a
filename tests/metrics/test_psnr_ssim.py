import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from kinema.metrics.psnr_ssim import PSNR, SSIM, psnr, ssim


def _pair(generator, c=3, h=24, w=20):
    real = torch.rand(c, h, w, generator=generator) * 2 - 1
    fake = (real + 0.3 * torch.randn(c, h, w, generator=generator)).clamp(-1, 1)
    return fake, real


def _sk_ssim(fake, real):
    return structural_similarity(real.numpy(), fake.numpy(), channel_axis=0, data_range=2.0,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def test_psnr_matches_skimage(generator):
    fake, real = _pair(generator)
    expected = peak_signal_noise_ratio(real.numpy(), fake.numpy(), data_range=2.0)
    assert abs(float(psnr(fake, real)) - expected) < 1e-7


def test_ssim_matches_skimage_colour_and_grey(generator):
    for c in (3, 1):
        fake, real = _pair(generator, c=c, h=23, w=31)
        assert abs(float(ssim(fake, real)) - _sk_ssim(fake, real)) < 1e-9


def test_ssim_of_structured_images_matches_skimage(generator):
    # Smooth images with strong local structure: a window shifted by one pixel would change
    # the value well beyond the tolerance.
    y, x = torch.meshgrid(torch.linspace(0, 6, 32), torch.linspace(0, 6, 32), indexing="ij")
    real = torch.sin(x * 2 + y).unsqueeze(0)
    fake = torch.sin(x * 2 + y + 0.4 * torch.cos(3 * y)).unsqueeze(0)
    assert abs(float(ssim(fake, real)) - _sk_ssim(fake, real)) < 1e-9
    assert abs(float(ssim(real, real)) - 1.0) < 1e-12


def test_best_of_n_per_step_and_streaming(generator):
    b, n, t = 3, 4, 5
    real = torch.rand(b, t, 1, 16, 16, generator=generator) * 2 - 1
    noise = torch.tensor([0.5, 0.05, 0.3, 0.8]).view(1, n, 1, 1, 1, 1)
    fake = real.unsqueeze(1) + noise * torch.randn(b, n, t, 1, 16, 16, generator=generator)
    for cls, reference in ((PSNR, lambda f, r: peak_signal_noise_ratio(r, f, data_range=2.0)),
                           (SSIM, lambda f, r: structural_similarity(
                               r[0], f[0], data_range=2.0, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False))):
        whole, split = cls(), cls()
        whole.update(fake, real)
        split.update(fake[:1], real[:1])
        split.update(fake[1:], real[1:])
        scores = np.array([[[reference(fake[i, j, k].numpy(), real[i, k].numpy())
                             for k in range(t)] for j in range(n)] for i in range(b)])
        best = scores[np.arange(b), scores.mean(-1).argmax(1)]  # (b t)
        for result in (whole.compute(), split.compute()):
            np.testing.assert_allclose(result[f"{cls.name}_per_step"], best.mean(0), atol=1e-9)
            np.testing.assert_allclose(result[f"{cls.name}_mean_of_samples_per_step"],
                                       scores.mean((0, 1)), atol=1e-9)
            assert result[f"{cls.name}_videos"] == b


def test_skip_frames_drops_the_given_start_frame(generator):
    real = torch.rand(2, 4, 1, 12, 12, generator=generator) * 2 - 1
    fake = real.clone().unsqueeze(1)
    fake[:, :, 1:] += 0.1
    metric = PSNR(skip_frames=1)
    metric.update(fake, real)
    per_step = metric.compute()["psnr_per_step"]
    assert len(per_step) == 3
    np.testing.assert_allclose(per_step, 10 * np.log10(4 / 0.01), atol=1e-6)
