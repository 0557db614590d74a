"""The spectral-volume VAE: each loss term against a hand-computed value, the weighted sum of
Sec. 7, its normalisation buffers (exact inverse, survive save/load), training and round trip."""
from __future__ import annotations

import math

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.dynamics.config import vae_config
from kinema.methods.dynamics.losses import gaussian_kl, gradient_consistency, l1_reconstruction
from kinema.methods.dynamics.vae import SpectralVAE


def test_l1_by_hand():
    target = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]]])
    reconstruction = target + torch.tensor([[[[1.0, -2.0], [3.0, -4.0]]]])
    assert l1_reconstruction(reconstruction, target).item() == pytest.approx(2.5)


def test_gradient_consistency_by_hand():
    residual = torch.tensor([[[[0.0, 1.0, 3.0], [1.0, 1.0, 1.0], [2.0, 0.0, 0.0]]]])
    target = torch.randn(1, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    # scale 1: horizontal |1|,|2|,|0|,|0|,|-2|,|0| -> 5/6; vertical |1|,|0|,|-2|,|1|,|-1|,|-1| -> 1
    # scale 1/2: every other pixel [[0, 3], [2, 0]]: horizontal |3|,|-2| -> 2.5; vertical |2|,|-3| -> 2.5
    got = gradient_consistency(target + residual, target, scales=2)
    assert got.item() == pytest.approx(5 / 6 + 1 + 2.5 + 2.5, rel=1e-6)
    assert gradient_consistency(target + residual, target, scales=1).item() == pytest.approx(5 / 6 + 1, rel=1e-6)
    # a constant offset has no gradient: the term is blind to it (L1 is not)
    assert gradient_consistency(target + 3.0, target, scales=3).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_by_hand():
    mean = torch.tensor([[0.5, -1.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # sample 0: 0.5 (0.25 + 1 - 1 - 0) + 0.5 (1 + 2 - 1 - log 2); sample 1: 0; mean over samples
    expected = (0.125 + 0.5 * (2.0 - math.log(2.0))) / 2
    assert gaussian_kl(mean, logvar).item() == pytest.approx(expected, rel=1e-6)


def tiny_vae(normalization: str = "adaptive") -> SpectralVAE:
    torch.manual_seed(0)
    config = vae_config("tiny" if normalization == "adaptive" else "tiny-no-adaptive-norm")
    return SpectralVAE(config)


def fake_batch(vae: SpectralVAE, b: int = 2, seed: int = 0) -> dict:
    c = vae.config
    g = torch.Generator().manual_seed(seed)
    coarse = 3.0 * torch.randn(b * c.num_frequencies, 4, 4, 4, generator=g)     # smooth, as motion is
    volume = torch.nn.functional.interpolate(coarse, size=tuple(c.image_size), mode="bilinear")
    return {"spectral_volume": volume.reshape(b, c.num_frequencies, 4, *c.image_size),
            "image": torch.rand(b, 3, *c.image_size, generator=g) * 2 - 1,
            "frequency_scale": torch.tensor([[4.0, 2.0, 1.0, 0.5]]).expand(b, -1),
            "num_frames": torch.full((b,), c.period)}


def test_weighted_loss_uses_the_papers_weights():
    vae = tiny_vae()
    vae.on_train_start(fake_batch(vae))
    slices = vae.normalize(fake_batch(vae)["spectral_volume"]).flatten(0, 1)
    torch.manual_seed(1)
    terms = vae.losses(slices)
    assert terms["kl"] > 0 and terms["gradient"] > 0
    assert terms["loss"].item() == pytest.approx((terms["l1"] + 0.2 * terms["gradient"] + 1e-6 * terms["kl"]).item(),
                                                 rel=1e-6)


def test_normalisation_buffers_exact_inverse_and_save_load(tmp_path):
    for normalization in ("adaptive", "image-size"):
        vae = tiny_vae(normalization)
        batch = fake_batch(vae)
        vae.on_train_start(batch)
        volume = batch["spectral_volume"]
        normalized = vae.normalize(volume)
        if normalization == "adaptive":   # Eq. (4): sign(S) sqrt(|S| / s_f), s = (4, 2, 1, 0.5)
            expected = torch.sign(volume[:, 1]) * torch.sqrt(volume[:, 1].abs() / 2.0)
            assert torch.allclose(normalized[:, 1], expected)
        else:                             # x by T W, y by T H (T = 8, 16 x 16 px)
            assert torch.allclose(normalized[:, :, 1], volume[:, :, 1] / (8 * 16))
        assert torch.allclose(vae.denormalize(normalized), volume, atol=1e-5)
        vae.save_pretrained(tmp_path / normalization)
        loaded = SpectralVAE.from_pretrained(tmp_path / normalization)
        assert torch.equal(loaded.normalizer.scale, vae.normalizer.scale)
        assert torch.allclose(loaded.denormalize(loaded.normalize(volume)), volume, atol=1e-5)


def test_batch_of_the_wrong_shape_or_period_is_refused():
    vae = tiny_vae()
    batch = fake_batch(vae)
    with pytest.raises(KinemaError, match="period"):
        vae.on_train_start({**batch, "num_frames": torch.tensor([30, 30])})
    with pytest.raises(KinemaError, match="spectral volumes"):
        vae.on_train_start({**batch, "spectral_volume": batch["spectral_volume"][:, :3]})


def test_tiny_vae_training_lowers_its_loss():
    vae = tiny_vae()
    batch = fake_batch(vae, b=2)
    vae.on_train_start(batch)
    slices = vae.normalize(batch["spectral_volume"]).flatten(0, 1)

    def evaluate() -> float:
        torch.manual_seed(123)
        with torch.no_grad():
            return vae.losses(slices)["loss"].item()

    before = evaluate()
    optimizer = torch.optim.AdamW(vae.parameter_groups()["model"], lr=1e-2)
    for step in range(20):
        torch.manual_seed(step)
        optimizer.zero_grad()
        vae.training_step(batch, "model")["loss"].backward()
        optimizer.step()
    assert evaluate() < 0.9 * before


def test_trained_vae_round_trips_through_save_load(tiny_runs):
    from kinema.pretrained import load_pretrained

    vae = load_pretrained(tiny_runs["vae"] / "model").eval()
    assert isinstance(vae, SpectralVAE) and vae.normalizer.fitted
    from kinema.methods.dynamics.data import SpectralVolumes

    item = SpectralVolumes("train", "swaying", {"num_frames": 8, "size": 16, "num_videos": 12},
                           num_frequencies=4, cache_dir=str(tiny_runs["cache"]))[0]
    assert torch.equal(vae.normalizer.scale, item["frequency_scale"])     # the data's s_f, kept
    again = SpectralVAE.from_pretrained(tiny_runs["vae"] / "model").eval()
    volume = item["spectral_volume"][None]
    with torch.no_grad():
        a = vae.decode_volume(vae.encode_volume(volume, sample=False))
        b = again.decode_volume(again.encode_volume(volume, sample=False))
    assert a.shape == volume.shape and torch.equal(a, b)
