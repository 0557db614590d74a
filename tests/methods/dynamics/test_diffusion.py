"""Stage A (one frequency slice, frequency embedding, I0 concatenated, CFG dropout), the volume
ablation, and stage B (frequency attention: only it trains; zero-initialised it equals stage A)."""
from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F

from kinema.errors import KinemaError
from kinema.methods.dynamics import diffusion as diffusion_module
from kinema.methods.dynamics.attention import FrequencyAttention, FrequencyCoordinatedDiffusion
from kinema.methods.dynamics.config import attention_config, diffusion_config
from kinema.methods.dynamics.diffusion import FrequencyDiffusion
from kinema.pretrained import load_pretrained


def inputs(model, b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(b, *model.latent_shape(), generator=g)
    image = torch.rand(b, 3, *model.image_size, generator=g) * 2 - 1
    return latents, torch.tensor([10, 70])[:b], model.condition(image), image


@pytest.fixture(scope="module")
def stage_a(tiny_runs):
    return load_pretrained(tiny_runs["diffusion"] / "model").eval()


def test_slices_are_denoised_independently_with_their_frequency(stage_a):
    latents, t, condition, _ = inputs(stage_a)
    with torch.no_grad():
        both = stage_a.denoise(latents[:, [0, 3]], t, condition, frequencies=torch.tensor([[0, 3], [0, 3]]))
        alone = stage_a.denoise(latents[:, [3]], t, condition, frequencies=torch.tensor([[3], [3]]))
        wrong = stage_a.denoise(latents[:, [3]], t, condition, frequencies=torch.tensor([[1], [1]]))
        default = stage_a.denoise(latents, t, condition)
    assert torch.allclose(both[:, 1:], alone, atol=1e-5)          # no coupling across slices in stage A
    assert not torch.allclose(alone, wrong, atol=1e-4)             # the frequency embedding is used
    assert torch.allclose(default[:, [0, 3]], both, atol=1e-5)     # default frequencies are 0..K-1


def test_condition_is_the_downsampled_picture_and_is_used(stage_a):
    _, _, condition, image = inputs(stage_a)
    f = stage_a.vae.downsampling
    by_hand = image.unfold(2, f, f).unfold(3, f, f).mean(dim=(-1, -2))   # f x f block means
    assert torch.allclose(condition[:, :3], by_hand, atol=1e-6)
    assert condition.shape[1] == 3 + stage_a.config.image_features
    latents, t, _, _ = inputs(stage_a)
    with torch.no_grad():
        eps = stage_a.denoise(latents, t, condition)
        eps_other = stage_a.denoise(latents, t, condition.flip(0))
    assert not torch.allclose(eps, eps_other, atol=1e-4)
    with pytest.raises(KinemaError, match="picture must be"):
        stage_a.condition(torch.zeros(1, 3, 8, 8))


def test_condition_dropout_zeroes_whole_conditions(stage_a):
    _, _, condition, image = inputs(stage_a)
    stage_a.config.condition_dropout = 1.0
    assert torch.count_nonzero(stage_a.dropped_condition(image)) == 0
    stage_a.config.condition_dropout = 0.0
    assert torch.equal(stage_a.dropped_condition(image), condition)
    stage_a.config.condition_dropout = 0.1


def test_noise_loss_is_eq3_on_the_forward_process(stage_a, monkeypatch):
    latents, _, condition, _ = inputs(stage_a)
    seen = {}

    def record(noisy, timesteps, cond, frequencies=None):
        seen.update(noisy=noisy, timesteps=timesteps)
        return torch.zeros_like(noisy)

    monkeypatch.setattr(stage_a, "denoise", record)
    torch.manual_seed(5)
    loss = stage_a.noise_loss(latents, condition)
    torch.manual_seed(5)
    timesteps = torch.randint(0, stage_a.config.num_train_timesteps, (2,))
    noise = torch.randn_like(latents)
    a = stage_a.schedule.alphas_cumprod[timesteps].reshape(2, 1, 1, 1, 1)
    assert torch.equal(seen["timesteps"], timesteps)
    assert torch.allclose(seen["noisy"], a.sqrt() * latents + (1 - a).sqrt() * noise, atol=1e-6)
    assert loss.item() == pytest.approx(noise.square().mean().item(), rel=1e-6)   # ||eps - 0||^2


def test_latent_scale_makes_unit_variance_latents(tiny_runs, stage_a):
    from kinema.methods.dynamics.data import SpectralVolumes

    data = SpectralVolumes("train", "swaying", {"num_frames": 8, "size": 16, "num_videos": 12},
                           num_frequencies=4, cache_dir=str(tiny_runs["cache"]))
    batch = {k: torch.stack([data[i][k] for i in range(2)]) for k in ("spectral_volume", "image", "num_frames")}
    saved = stage_a.latent_scale.clone()
    stage_a.on_train_start(batch)
    torch.manual_seed(0)
    assert stage_a.encode_target(batch["spectral_volume"]).std().item() == pytest.approx(1.0, rel=0.25)
    stage_a.latent_scale.copy_(saved)


def test_tiny_stage_a_training_lowers_its_loss(tiny_runs):
    config = diffusion_config("tiny")
    config.vae_path = str(tiny_runs["vae"])
    torch.manual_seed(0)
    model = FrequencyDiffusion(config)
    latents = torch.randn(4, *model.latent_shape())
    image = torch.rand(4, 3, *model.image_size) * 2 - 1

    def evaluate() -> float:
        torch.manual_seed(99)
        with torch.no_grad():
            return model.noise_loss(latents, model.condition(image)).item()

    before = evaluate()
    optimizer = torch.optim.AdamW(model.parameter_groups()["model"], lr=3e-3)
    for step in range(25):
        torch.manual_seed(step)
        optimizer.zero_grad()
        model.noise_loss(latents, model.condition(image)).backward()
        optimizer.step()
    assert evaluate() < 0.93 * before      # eps-MSE of a 4-step model: ~11% lower after 25 steps


def test_volume_model_couples_slices():
    from dataclasses import asdict

    from kinema.methods.dynamics.config import AttentionConfig, vae_config

    config = diffusion_config("tiny-volume")
    config.vae = asdict(vae_config("tiny"))   # an untrained VAE, embedded: no folder needed
    assert config.volume is True and diffusion_config("tiny").volume is False
    torch.manual_seed(0)
    model = FrequencyDiffusion(config).eval()
    latents, t, condition, _ = inputs(model)
    changed = latents.clone()
    changed[:, 0] += 1.0
    with torch.no_grad():
        eps, eps_changed = model.denoise(latents, t, condition), model.denoise(changed, t, condition)
    assert eps.shape == latents.shape and model.unet.config.in_channels == 4 * 4 + 3 + 4
    assert not torch.allclose(eps[:, 1], eps_changed[:, 1], atol=1e-5)   # slice 1 sees slice 0
    with pytest.raises(KinemaError, match="no frequency slices"):
        FrequencyCoordinatedDiffusion(AttentionConfig(diffusion=asdict(config)))


def test_stage_b_at_init_equals_stage_a_and_then_couples_frequencies(tiny_runs, stage_a):
    config = attention_config("tiny")
    config.diffusion_path = str(tiny_runs["diffusion"])
    stage_b = FrequencyCoordinatedDiffusion(config).eval()
    assert stage_b.num_attention_layers == sum(len(b.resnets) for b in
                                               [*stage_b.base.unet.down_blocks, stage_b.base.unet.mid_block,
                                                *stage_b.base.unet.up_blocks])
    assert stage_b.built_from["diffusion_path"]["stage"] == "dynamics-diffusion"
    latents, t, condition, _ = inputs(stage_a)
    with torch.no_grad():
        assert torch.allclose(stage_b.denoise(latents, t, condition), stage_a.denoise(latents, t, condition),
                              atol=1e-6)
        for module in stage_b.modules():           # a non-zero attention output: slices now interact
            if isinstance(module, FrequencyAttention):
                torch.nn.init.normal_(module.attention.proj_out.weight, std=0.5)
        changed = latents.clone()
        changed[:, 0] += 1.0
        a, b = stage_b.denoise(latents, t, condition), stage_b.denoise(changed, t, condition)
    assert not torch.allclose(a[:, 1], b[:, 1], atol=1e-5)


def test_stage_b_training_changes_only_the_attention(tiny_runs):
    from safetensors.torch import load_file

    a = load_file(str(tiny_runs["diffusion"] / "model" / "model.safetensors"))
    b = load_file(str(tiny_runs["attention"] / "model" / "model.safetensors"))
    attention = {k for k in b if ".attention." in k}
    frozen = {k for k in b if k not in attention}
    # stage B's frozen keys are stage A's, with the wrapped 2D layers one level deeper
    renamed = {k.removeprefix("base.").replace(".layer.", "."): k for k in frozen}
    assert set(renamed) == set(a)
    for key_a, key_b in renamed.items():
        assert torch.equal(a[key_a], b[key_b]), key_b
    proj_out = [k for k in attention if k.endswith("proj_out.weight")]
    assert proj_out and all(torch.count_nonzero(b[k]) > 0 for k in proj_out)   # trained away from zero


def test_saved_stages_load_without_their_earlier_folders(tiny_runs, tmp_path, monkeypatch):
    for stage in ("diffusion", "attention"):
        shutil.copytree(tiny_runs[stage] / "model", tmp_path / stage)

    def no_folders(*args, **kwargs):
        raise AssertionError("a saved stage must not open the earlier stage's folder")

    monkeypatch.setattr(diffusion_module, "open_stage", no_folders)
    from kinema.methods.dynamics import attention as attention_module
    monkeypatch.setattr(attention_module, "open_stage", no_folders)
    original = load_pretrained(tiny_runs["attention"] / "model").eval()
    copy = load_pretrained(tmp_path / "attention").eval()
    latents, t, condition, _ = inputs(copy)
    with torch.no_grad():
        assert torch.equal(original.denoise(latents, t, condition), copy.denoise(latents, t, condition))
    assert torch.equal(copy.base.latent_scale, original.base.latent_scale)
    stage_a, stage_a_copy = (load_pretrained(p).eval() for p in (tiny_runs["diffusion"] / "model", tmp_path / "diffusion"))
    assert isinstance(stage_a_copy, FrequencyDiffusion)
    with torch.no_grad():
        assert torch.equal(stage_a.denoise(latents, t, condition), stage_a_copy.denoise(latents, t, condition))
        assert torch.equal(stage_a.decode_latents(latents), stage_a_copy.decode_latents(latents))


def test_missing_vae_names_the_command(tmp_path):
    config = diffusion_config("tiny")
    config.vae_path = str(tmp_path / "nowhere")
    with pytest.raises(KinemaError, match="kinema train dynamics-vae"):
        FrequencyDiffusion(config)


def test_frequency_attention_reshapes_b_k(stage_a):
    layer = torch.nn.Identity()
    attention = FrequencyAttention(layer, channels=8, num_frequencies=4, heads=2, layers=1, groups=4)
    x = torch.randn(2 * 4, 8, 3, 3)
    assert torch.equal(attention(x), x)                    # zero output projection: identity
    torch.nn.init.normal_(attention.attention.proj_out.weight)
    y = attention(x)
    x2 = x.clone()
    x2[4] += 1.0                                           # sample 1, slice 0
    y2 = attention(x2)
    assert torch.equal(y[:4], y2[:4])                      # sample 0 is untouched: attention is within a sample
    assert not torch.allclose(y[5], y2[5]) and F.mse_loss(y, y2) > 0


def test_tiny_stage_b_training_lowers_its_loss(tiny_runs):
    config = attention_config("tiny")
    config.diffusion_path = str(tiny_runs["diffusion"])
    torch.manual_seed(0)
    model = FrequencyCoordinatedDiffusion(config)
    latents = torch.randn(4, *model.latent_shape())
    image = torch.rand(4, 3, *model.image_size) * 2 - 1

    def evaluate() -> float:
        torch.manual_seed(99)
        with torch.no_grad():
            return model.base.noise_loss(latents, model.condition(image)).item()

    before = evaluate()
    optimizer = torch.optim.AdamW(model.parameter_groups()["attention"], lr=3e-3)
    for step in range(25):
        torch.manual_seed(step)
        optimizer.zero_grad()
        model.base.noise_loss(latents, model.condition(image)).backward()
        optimizer.step()
    assert evaluate() < 0.95 * before
