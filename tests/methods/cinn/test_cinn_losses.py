"""The cINN's losses by hand: the KL of Eq. (4), the flow NLL of Eq. (8), and the video
autoencoder's steps (Eqs. (10)-(12)) recomputed from their terms written out."""
import math

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from kinema.methods.cinn.autoencoder import VideoAutoencoder
from kinema.methods.cinn.config import AutoencoderConfig
from kinema.methods.cinn.losses import flow_nll, kl_to_standard_normal


def test_kl_to_standard_normal_by_hand():
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]], dtype=torch.float64)
    # sample 0: 0.5 (1 + 1 - 1 - 0) + 0.5 (0 + 2 - 1 - log 2) = 0.5 + 0.5 (1 - log 2); sample 1: 0
    want = (0.5 + 0.5 * (1 - math.log(2.0)) + 0.0) / 2
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(want, abs=1e-12)
    normal = torch.distributions.Normal
    exact = torch.distributions.kl_divergence(normal(mu, (0.5 * logvar).exp()), normal(0.0, 1.0))
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(exact.sum(1).mean().item(), abs=1e-12)


def test_flow_nll_by_hand_with_the_sign_of_the_log_determinant():
    nu = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    logdet = torch.tensor([0.5, -1.0], dtype=torch.float64)
    # per sample 0.5 ||nu||^2 - log|det|: 2.5 - 0.5 = 2.0 and 0 + 1 = 1.0; mean 1.5, per dim / 2
    assert flow_nll(nu, logdet).item() == pytest.approx(0.75, abs=1e-12)


def tiny_autoencoder(**weights) -> VideoAutoencoder:
    torch.manual_seed(0)
    config = AutoencoderConfig(channels=1, image_size=8, num_frames=4, z_dim=6, encoder_widths=(4, 4),
                               encoder_time_downsample=1, decoder_widths=(4, 4), decoder_time_upsample=1,
                               spade_hidden=4, patch_widths=(4, 4), temporal_widths=(4, 4), **weights)
    # eval: spectral norm's power iteration stands still, so repeated calls give equal logits
    return VideoAutoencoder(config).eval()


def video_batch(seed=0):
    return torch.rand(2, 4, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


WEIGHTS = dict(reconstruction_weight=2.0, kl_weight=0.3, adversarial_weight=0.7,
               feature_matching_weight=5.0, gradient_penalty=3.0)


def test_reconstruction_decodes_the_code_on_the_clips_own_frame_0():
    ae = tiny_autoencoder()
    video = video_batch()
    rec, mu, _ = ae.reconstruct(video, sample=False)
    assert torch.allclose(rec, ae.decoder(video[:, 0], ae.encoder(video)[0]), atol=1e-6)
    changed = video.clone()
    changed[:, 0] = -changed[:, 0]
    with torch.no_grad():   # x0 enters through SPADE: another start frame, another video
        assert (ae.decoder(changed[:, 0], mu) - rec).abs().max() > 1e-3


def test_discriminator_step_is_eqs_11_and_12_written_out():
    ae = tiny_autoencoder(**WEIGHTS)
    video = video_batch(1)
    torch.manual_seed(3)
    out = ae.training_step({"video": video}, "discriminator")
    torch.manual_seed(3)
    with torch.no_grad():
        fake = ae.reconstruct(video)[0]
    real = video.clone().requires_grad_(True)
    frames = lambda v: rearrange(v, "b t c h w -> (b t) c h w")  # noqa: E731
    s_real, s_fake = ae.frame_discriminator(frames(real))[0], ae.frame_discriminator(frames(fake))[0]
    t_real, t_fake = ae.clip_discriminator(real)[0], ae.clip_discriminator(fake)[0]
    d_spatial = torch.relu(1 - s_real).mean() + torch.relu(1 + s_fake).mean()          # Eq. (12)
    grad, = torch.autograd.grad(t_real.sum(), real)                                      # on REAL clips
    gp = grad.pow(2).sum(dim=(1, 2, 3, 4)).mean()
    d_temporal = torch.relu(1 - t_real).mean() + torch.relu(1 + t_fake).mean() + 3.0 * gp  # Eq. (11)
    assert out["gp"].item() == pytest.approx(gp.item(), rel=1e-5)
    assert out["d_spatial"].item() == pytest.approx(d_spatial.item(), rel=1e-6)
    assert out["d_temporal"].item() == pytest.approx(d_temporal.item(), rel=1e-6)
    assert out["loss"].item() == pytest.approx((d_spatial + d_temporal).item(), rel=1e-6)


def test_generator_step_is_eq_10_written_out():
    ae = tiny_autoencoder(**WEIGHTS)
    video = video_batch(2)
    torch.manual_seed(4)
    out = ae.training_step({"video": video}, "generator")
    torch.manual_seed(4)
    with torch.no_grad():
        rec, mu, logvar = ae.reconstruct(video)
        frames = lambda v: rearrange(v, "b t c h w -> (b t) c h w")  # noqa: E731
        s_fake, s_feat_fake = ae.frame_discriminator(frames(rec))
        s_real, s_feat_real = ae.frame_discriminator(frames(video))
        t_fake, t_feat_fake = ae.clip_discriminator(rec)
        t_real, t_feat_real = ae.clip_discriminator(video)
    l1 = (rec - video).abs().mean()
    kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum(1).mean()
    adversarial = -t_fake.mean() - s_fake.mean()                 # the hinge generator terms
    fm_s = sum(F.l1_loss(f, r) for f, r in zip(s_feat_fake, s_feat_real)) / len(s_feat_real)
    fm_t = sum(F.l1_loss(f, r) for f, r in zip(t_feat_fake, t_feat_real)) / len(t_feat_real)
    fm = 0.5 * (fm_s + fm_t)
    for key, value in (("l1", l1), ("kl", kl), ("adversarial", adversarial), ("feature_matching", fm)):
        assert out[key].item() == pytest.approx(value.item(), rel=1e-5, abs=1e-7), key
    want = 2.0 * l1 + 0.3 * kl + 0.7 * adversarial + 5.0 * fm
    assert out["loss"].item() == pytest.approx(want.item(), rel=1e-5)
    # the generator's step leaves no gradient in the discriminators' weights
    out["loss"].backward()
    assert all(p.grad is None for p in [*ae.frame_discriminator.parameters(),
                                        *ae.clip_discriminator.parameters()])
    assert ae.decoder.fc.weight.grad.abs().sum() > 0


def test_adversarial_terms_join_only_after_gan_start():
    ae = tiny_autoencoder(gan_start=2, **WEIGHTS)
    video = video_batch(3)
    first = ae.training_step({"video": video}, "generator")
    assert "adversarial" not in first
    assert first["loss"].item() == pytest.approx((2.0 * first["l1"] + 0.3 * first["kl"]).item(), rel=1e-6)
    ae.training_step({"video": video}, "generator")
    assert "adversarial" in ae.training_step({"video": video}, "generator")
