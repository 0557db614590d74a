"""Sampling: DDIM and DPM-Solver++ reach the clean latents an oracle denoiser implies, the CFG
formula of Eq. (5), the guidance term against autograd of the seam loss, self-recurrence against
its re-noising equation, seeds per sample, motion self-guidance lowering the seam error, and
slow motion / magnification of ``apps.animate`` with an oracle motion model."""
from __future__ import annotations

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.dynamics.config import DiffusionConfig
from kinema.methods.dynamics.diffusion import noise_schedule
from kinema.methods.dynamics.motion import seam_error
from kinema.methods.dynamics.sampling import (GUIDED_PARTS, LOOP_RECURRENCE, guided_noise, predict_spectral_volume,
                                              sample_latents)
from kinema.pretrained import load_pretrained


class Oracle:
    """A denoiser that knows the clean latents x0: eps(z, t) = (z - sqrt(a_t) x0) / sqrt(1 - a_t)."""

    period = 8

    def __init__(self, clean: torch.Tensor):
        self.clean = clean                                         # (k c h w)
        self.config = DiffusionConfig(num_train_timesteps=100)
        self.alphas = noise_schedule(self.config, "ddpm").alphas_cumprod

    def latent_shape(self):
        return tuple(self.clean.shape)

    def scheduler(self, kind):
        return noise_schedule(self.config, kind)

    def condition(self, image):
        return image

    def denoise(self, z, timesteps, condition):
        a = self.alphas[timesteps].reshape(-1, 1, 1, 1, 1)
        return (z - a.sqrt() * self.clean) / (1 - a).sqrt()

    def decode_latents(self, z):
        return z


@pytest.fixture(scope="module")
def stage_b(tiny_runs):
    return load_pretrained(tiny_runs["attention"] / "model").eval()


def picture(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_samplers_follow_an_oracle_denoiser_to_its_clean_latents():
    clean = torch.randn(4, 4, 2, 2, generator=torch.Generator().manual_seed(1))
    oracle = Oracle(clean)
    # DPM-Solver++ ends at sigma = 0: exactly x0
    dpm = sample_latents(oracle, picture()[None], 1, seed=3, sampler="dpm", steps=7, guidance=1.75, progress=False)
    assert torch.allclose(dpm[0, 0], clean, atol=1e-4)
    # DDIM (eta 0) keeps the first step's eps and ends at level a_final = a_0 (set_alpha_to_one=False):
    # z = sqrt(a_f) x0 + sqrt(1 - a_f) eps0
    ddim = sample_latents(oracle, picture()[None], 1, seed=3, sampler="ddim", steps=10, progress=False)
    scheduler = oracle.scheduler("ddim")
    scheduler.set_timesteps(10)
    first = oracle.alphas[int(scheduler.timesteps[0])]
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    eps0 = (noise - first.sqrt() * clean) / (1 - first).sqrt()
    final = oracle.alphas[0]
    assert torch.allclose(ddim[0, 0], final.sqrt() * clean + (1 - final).sqrt() * eps0, atol=1e-4)


def test_step_counts_up_to_the_trained_schedule():
    """At most T - 1 steps: DDIM's timesteps are i * (T // steps) + 1 (T steps would index past
    the schedule) and DPM-Solver++ at T steps returns NaN; T - 1 steps still reach x0."""
    clean = torch.randn(4, 4, 2, 2, generator=torch.Generator().manual_seed(1))
    oracle = Oracle(clean)
    longest = sample_latents(oracle, picture()[None], 1, seed=3, sampler="ddim", steps=99, progress=False)
    final = oracle.alphas[0]
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    eps0 = (noise - oracle.alphas[99].sqrt() * clean) / (1 - oracle.alphas[99]).sqrt()
    assert torch.allclose(longest[0, 0], final.sqrt() * clean + (1 - final).sqrt() * eps0, atol=1e-4)
    with pytest.raises(KinemaError, match="at most 99 steps"):
        sample_latents(oracle, picture()[None], 1, sampler="ddim", steps=100, progress=False)
    dpm = sample_latents(oracle, picture()[None], 1, seed=3, sampler="dpm", steps=99, progress=False)
    assert torch.allclose(dpm[0, 0], clean, atol=1e-4)
    with pytest.raises(KinemaError, match="at most 99 steps"):
        sample_latents(oracle, picture()[None], 1, sampler="dpm", steps=100, progress=False)


def test_classifier_free_guidance_formula():
    class Linear:
        def denoise(self, z, timesteps, condition):          # eps = z + mean of the condition
            return z + condition.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1, 1)

    z = torch.randn(2, 3, 4, 2, 2)
    condition = torch.full((2, 3, 2, 2), 2.0)
    eps = guided_noise(Linear(), z, 5, condition, guidance=1.75, loop=False, loop_weight=0.0,
                       alpha_bar=torch.tensor(0.5), loop_frames=8, slowmo=1.0)
    # (1 + w) (z + 2) - w (z + 0) = z + 2 (1 + w)
    assert torch.allclose(eps, z + 2.0 * 2.75)


def test_seeds_are_per_sample_and_repeatable(stage_b):
    two = predict_spectral_volume(stage_b, picture(), num_samples=2, seed=3, steps=4, progress=False)
    one = predict_spectral_volume(stage_b, picture(), num_samples=1, seed=4, steps=4, progress=False)
    assert two.shape == (1, 2, 4, 4, 16, 16)
    assert torch.allclose(two[0, 1], one[0, 0], atol=1e-5)     # sample i uses seed + i
    assert not torch.allclose(two[0, 0], two[0, 1], atol=1e-4)


def test_self_guidance_lowers_the_seam_error(stage_b):
    """The tiny model has trained 4 steps only, which is fine for this test: the guidance term
    u * grad L_g is a gradient step on the seam loss of the decoded prediction, so whether it
    lowers the seam depends on its sign and on the chain z -> z0_hat -> decoder -> inverse FFT
    being the sampled model's, not on what the denoiser has learned."""
    for frames, sampler in ((11, "ddim"), (11, "dpm"), (8, "ddim")):   # 11: not a multiple of the period; 8: one
        # period, the default loop, where the old seam loss (F_N against F_0) had no gradient
        plain = predict_spectral_volume(stage_b, picture(), 2, seed=0, steps=5, sampler=sampler, progress=False)
        looped = predict_spectral_volume(stage_b, picture(), 2, seed=0, steps=5, sampler=sampler, loop=True,
                                         loop_frames=frames, progress=False)
        before = seam_error(plain[0], frames, stage_b.period)
        after = seam_error(looped[0], frames, stage_b.period)
        assert (after < 0.9 * before).all(), (sampler, before, after)


def test_bad_sampler_options_are_refused(stage_b):
    with pytest.raises(KinemaError, match="unknown sampler"):
        predict_spectral_volume(stage_b, picture(), sampler="euler", progress=False)
    with pytest.raises(KinemaError, match="self-recurrence needs the DDIM"):
        predict_spectral_volume(stage_b, picture(), sampler="dpm", loop=True, recurrence=2, progress=False)
    with pytest.raises(KinemaError, match="picture"):
        predict_spectral_volume(stage_b, torch.zeros(3, 8, 8), steps=2, progress=False)


class LinearDenoiser(Oracle):
    """eps(z, t, c) = scale z + mean(c): z0_hat is linear in z, so the guidance term of Eq. (5)
    is d z0_hat / d z = (1 - sqrt(1 - a) scale) / sqrt(a) times the seam loss's gradient."""

    scale = 0.3

    def denoise(self, z, timesteps, condition):
        return self.scale * z + condition.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1, 1)


def test_the_guidance_term_is_u_times_the_seam_gradient_through_z0_hat():
    torch.manual_seed(8)
    model = LinearDenoiser(torch.zeros(4, 4, 3, 3))
    z = torch.randn(2, 4, 4, 3, 3, dtype=torch.float64)
    condition = torch.full((2, 3, 3, 3), 0.5, dtype=torch.float64)
    a, w, u = torch.tensor(0.6, dtype=torch.float64), 1.75, 200.0
    frames = model.period                                         # the default loop: one whole period
    eps = guided_noise(model, z, 5, condition, guidance=w, loop=True, loop_weight=u, alpha_bar=a,
                       loop_frames=frames, slowmo=1.0)
    plain = model.scale * z + (1 + w) * 0.5                       # CFG: (1 + w)(sz + 0.5) - w sz
    x0_hat = ((z - (1 - a).sqrt() * plain) / a.sqrt()).requires_grad_(True)
    seam_error(x0_hat, frames, model.period).sum().backward()
    expected = plain + u * (1 - (1 - a).sqrt() * model.scale) / a.sqrt() * x0_hat.grad
    assert torch.allclose(eps, expected, atol=1e-10)
    assert (eps - plain).abs().amax() > 1e-2                      # the guidance acts at one whole period


def test_self_recurrence_renoises_by_the_forward_process():
    """DDIM (eta 0) with 2 iterations per step: after each step z_prev is noised back to the
    step's level, z_t = sqrt(a_t / a_prev) z_prev + sqrt(1 - a_t / a_prev) eps' (q(z_t | z_prev)),
    eps' the sample's next normal draw, and the step is repeated."""
    clean = torch.randn(4, 4, 2, 2, generator=torch.Generator().manual_seed(9))
    oracle = Oracle(clean)
    got = sample_latents(oracle, picture()[None], 1, seed=5, sampler="ddim", steps=2, recurrence=2, progress=False)
    scheduler = oracle.scheduler("ddim")
    scheduler.set_timesteps(2)
    alphas = oracle.alphas.double()
    generator = torch.Generator().manual_seed(5)
    z = torch.randn(clean.shape, generator=generator).double()
    x0 = clean.double()
    for t in (int(s) for s in scheduler.timesteps):
        a_t = alphas[t]
        a_prev = alphas[t - 50] if t - 50 >= 0 else alphas[0]      # set_alpha_to_one=False
        for r in range(2):
            eps = (z - a_t.sqrt() * x0) / (1 - a_t).sqrt()
            previous = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps          # DDIM, eta 0
            if r == 0:
                noise = torch.randn(clean.shape, generator=generator).double()
                z = (a_t / a_prev).sqrt() * previous + (1 - a_t / a_prev).sqrt() * noise
            else:
                z = previous
    assert torch.allclose(got[0, 0].double(), z, atol=1e-5)
    once = sample_latents(oracle, picture()[None], 1, seed=5, sampler="ddim", steps=2, recurrence=1, progress=False)
    assert not torch.allclose(once, got, atol=1e-3)


def test_animate_slows_and_magnifies_the_motion_it_renders():
    """``apps.animate`` (what --slowmo and --magnify drive) on an untrained renderer (plain
    splatting) whose motion model is the oracle of a known spectral volume: dx = 1.5 cos(2 pi t / 8)."""
    from kinema.methods.dynamics.apps import animate
    from kinema.methods.dynamics.config import RenderConfig
    from kinema.methods.dynamics.render import ImageRenderer

    period, size = 8, 16
    clean = torch.zeros(4, 4, size, size)
    clean[1, 0] = 1.5 * period / 2                                 # S_1 = a P / 2 on dx
    renderer = ImageRenderer(RenderConfig(attention_path="", diffusion_path="", image_size=(size, size),
                                          widths=(4, 8))).eval()
    renderer.motion = Oracle(clean)
    renderer.motion.image_size = (size, size)
    image = picture(1)[None]
    for slowmo, magnify, frames in ((1.0, 1.0, 8), (2.0, 1.0, 16), (1.0, 0.0, 8), (0.5, 2.0, 4)):
        videos, volumes = animate(renderer, image, seed=2, slowmo=slowmo, magnify=magnify, progress=False)
        assert videos.shape == (1, frames, 3, size, size)
        assert torch.allclose(volumes[0], clean, atol=1e-4)
        times = torch.arange(frames, dtype=torch.float64) / slowmo
        motion = torch.zeros(1, frames, 2, size, size)
        motion[0, :, 0] = (magnify * 1.5 * torch.cos(2 * torch.pi * times / period)).float().view(-1, 1, 1)
        one_period = torch.cos(2 * torch.pi * torch.arange(period) / period).abs().mean()
        weight = torch.full((1, 1, size, size), float(1.5 * magnify * one_period))   # W: mean |F| over a period
        expected = renderer.render(image, motion, weight)
        assert torch.allclose(videos, expected, atol=1e-3)
        if magnify == 0.0:
            assert torch.allclose(videos, image[:, None].expand_as(videos), atol=1e-6)   # no motion at all


def test_the_seam_gradient_in_two_backward_calls_is_autograd_s_in_one(stage_b):
    """``guided_noise`` back-propagates the loop loss first to z0_hat, then through the denoiser to
    z (so that benchmarks time the two apart): on the tiny stage B's networks the result equals
    one autograd call from the loss to z, and ``lap`` sees the parts in order."""
    torch.manual_seed(3)
    z = torch.randn(1, *stage_b.latent_shape())
    with torch.no_grad():
        condition = stage_b.condition(picture()[None])
    t, w, u, frames = 40, 1.75, 200.0, stage_b.period - 2
    a = stage_b.scheduler("ddim").alphas_cumprod[t]
    laps = []
    eps = guided_noise(stage_b, z, t, condition, guidance=w, loop=True, loop_weight=u, alpha_bar=a,
                       loop_frames=frames, slowmo=1.0, lap=laps.append)
    assert laps == [*GUIDED_PARTS, None]

    z = z.clone().requires_grad_(True)
    both = stage_b.denoise(torch.cat([z, z]), torch.full((2,), t), torch.cat([condition, 0 * condition]))
    plain = (1 + w) * both[:1] - w * both[1:]
    x0_hat = (z - (1 - a).sqrt() * plain) / a.sqrt()
    loss = seam_error(stage_b.decode_latents(x0_hat), frames, stage_b.period).sum()
    gradient, x0_hat_gradient = torch.autograd.grad(loss, (z, x0_hat))
    expected = plain.detach() + u * gradient
    scale = float((u * gradient).abs().max())
    assert scale > 1e-3                                            # the guidance term is not negligible
    assert torch.allclose(eps, expected, atol=1e-5 * scale, rtol=1e-5)
    # the denoiser's Jacobian matters here: z0_hat's gradient divided by sqrt(a) alone is not it
    assert not torch.allclose(gradient, x0_hat_gradient / a.sqrt(), atol=1e-2 * float(gradient.abs().max()))


def test_sample_latents_laps_every_evaluation(stage_b):
    laps = []
    sample_latents(stage_b, picture()[None], sampler="ddim", steps=3, loop=True, loop_frames=6, progress=False,
                   lap=laps.append)
    assert laps == [*GUIDED_PARTS, None] * (3 * LOOP_RECURRENCE)
    laps.clear()
    sample_latents(stage_b, picture()[None], sampler="dpm", steps=3, progress=False, lap=laps.append)
    assert laps == [GUIDED_PARTS[0], None] * 3                    # unguided: the denoiser alone
