"""GenDeF's pieces against hand computations that a slip of an index, a half or a weight would
break: the last block's multiplier and adder, f_c per video in a batch, every adversarial term
with its weight, the time differences D is conditioned on, and L_reg's unit."""
import dataclasses
import math

import torch
import torch.nn.functional as F

from kinema.methods.gendef import model as gendef_model
from kinema.methods.gendef.config import image_recipe, video_recipe
from kinema.methods.gendef.deformation import DeformationGenerator
from kinema.methods.gendef.discriminator import time_features
from kinema.methods.gendef.losses import PAPER_PIXELS_PER_UNIT, field_smoothness
from kinema.methods.gendef.model import CanonicalGAN, GenDeF, Latents
from kinema.nn.modulated import upsample2x
from kinema.nn.motion_codes import MotionCodes


def tiny(**changes) -> GenDeF:
    torch.manual_seed(0)
    return GenDeF(dataclasses.replace(video_recipe("tiny-no-pretrain").model, **changes))


def deformation_generator(canonical_channels: int = 0) -> DeformationGenerator:
    torch.manual_seed(0)
    motion = MotionCodes(8, 8, 4, 4.0, 3, 4.0, 32.0, 16)
    g = DeformationGenerator(16, 8, 8, 2, 64, 8, motion, canonical_channels)
    with torch.no_grad():                     # every head off its zero / default initialisation
        for head in g.heads:
            head.conv.weight.normal_()
            head.bias.normal_(std=0.5)
    return g


def draw(g: DeformationGenerator, b: int, n: int, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(b, 8, generator=gen)
    noise = g.motion.sample_noise(b, 10.0, generator=gen)
    times = torch.rand(b, n, generator=gen) * 10
    return z, noise, times


def test_last_block_is_upsampled_field_times_multiplier_plus_adder():
    g = deformation_generator()
    outputs = []
    hooks = [head.register_forward_hook(lambda m, i, o: outputs.append(o)) for head in g.heads]
    z, noise, times = draw(g, 2, 3)
    field = g(z, noise, times).flatten(0, 1)                                 # ((b n) 2 h w)
    for h in hooks:
        h.remove()
    assert len(outputs) == 3 and outputs[-1].shape[1] == 4                  # 4, 8, 16 px; last: 2 + 2
    want = outputs[0]
    want = upsample2x(want) + outputs[1]                                     # a middle block: residual
    multiplier, adder = outputs[2][:, :2], outputs[2][:, 2:]                 # Fig. A1: split(2, dim=1)
    want = upsample2x(want) * multiplier + adder
    assert torch.allclose(field, want, atol=1e-6)
    assert (multiplier - 1).abs().mean() > 0.1 and adder.abs().mean() > 0.1  # neither half trivial


def test_canonical_feature_of_each_video_conditions_only_its_own_fields():
    g = deformation_generator(canonical_channels=3)
    z, noise, times = draw(g, 3, 2)
    features = torch.randn(3, 3, 8, 8)
    together = g(z, noise, times, features)                                   # (3 2 2 16 16)
    for v in range(3):
        alone = g(z[v:v + 1], noise[v:v + 1], times[v:v + 1], features[v:v + 1])
        assert torch.allclose(together[v:v + 1], alone, atol=1e-5), v
    swapped = g(z, noise, times, features.flip(0))
    assert (swapped[0] - together[0]).abs().max() > 1e-3                      # f_c matters


def test_discriminator_time_encoding_reads_neighbouring_differences():
    model = tiny()
    d = model.discriminator
    seen = []
    hook = d.time_mapping.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    frames = torch.rand(2, 3, 3, 8, 8) * 2 - 1
    times = torch.tensor([[0.0, 2.0, 7.0], [3.0, 4.0, 12.0]])
    logits = d(frames, times)
    hook.remove()
    differences = torch.tensor([[2.0, 5.0], [1.0, 8.0]])                      # t1 - t0, t2 - t1
    assert torch.allclose(seen[0], time_features(differences, d.time_frequencies).flatten(1))
    assert torch.allclose(d(frames, times + 40.0), logits, atol=1e-5)        # absolute time unseen


def fixed_draws(model: GenDeF, b: int, monkeypatch):
    """Freeze the model's random draws (latents and sparse times) to known values."""
    latents = model.sample_latents(b, generator=torch.Generator().manual_seed(3))
    index = torch.tensor([[0, 1, 3]] * b)
    times = torch.tensor([[5.0, 6.0, 8.0]] * b)
    monkeypatch.setattr(model, "sample_latents", lambda num, *a, **k: latents)
    monkeypatch.setattr(model, "sparse_times", lambda batch, frames: (index, times))
    return latents, index, times


def test_video_stage_adversarial_terms_and_r1_weight_by_hand(monkeypatch):
    model = tiny(r1_gamma=3.0)
    video = torch.rand(2, 4, 3, 8, 8) * 2 - 1
    latents, index, times = fixed_draws(model, 2, monkeypatch)
    out = model.training_step({"video": video}, "discriminator")
    real = video[:, [0, 1, 3]].clone().requires_grad_(True)
    with torch.no_grad():
        fake = model.synthesize(latents, times)["frames"]
    real_logits = model.discriminator(real, index.float())
    fake_logits = model.discriminator(fake, times)
    grad, = torch.autograd.grad(real_logits.sum(), real)
    r1 = grad.pow(2).flatten(1).sum(1).mean()                                 # E ||grad_x D(x)||^2
    adversarial = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()   # Eq. (5)
    assert torch.allclose(out["r1"], r1, rtol=1e-5)
    assert torch.allclose(out["loss"], adversarial + 3.0 / 2 * r1, rtol=1e-5)      # gamma / 2
    model.config = dataclasses.replace(model.config, reg_weight=0.0)
    out = model.training_step({"video": video}, "generator")
    frames = model.synthesize(latents, times)["frames"]
    want = F.softplus(-model.discriminator(frames, times)).mean()            # non-saturating
    assert torch.allclose(out["loss"], want, rtol=1e-5)


def test_image_stage_adversarial_terms_and_r1_weight_by_hand(monkeypatch):
    torch.manual_seed(0)
    model = CanonicalGAN(dataclasses.replace(image_recipe("tiny").model, r1_gamma=5.0))
    monkeypatch.setattr(gendef_model, "random_frame", lambda video: video[:, 1])
    video = torch.rand(2, 3, 3, 8, 8) * 2 - 1
    torch.manual_seed(7)
    out = model.training_step({"video": video}, "discriminator")
    torch.manual_seed(7)
    z = torch.randn(2, model.config.z_dim)
    real = video[:, 1].clone().requires_grad_(True)
    with torch.no_grad():
        fake = model.generator(z)
    real_logits = model.discriminator(real)
    grad, = torch.autograd.grad(real_logits.sum(), real)
    r1 = grad.pow(2).flatten(1).sum(1).mean()
    adversarial = F.softplus(-real_logits).mean() + F.softplus(model.discriminator(fake)).mean()
    assert torch.allclose(out["loss"], adversarial + 5.0 / 2 * r1, rtol=1e-5)


def test_reg_strength_is_the_same_at_every_resolution():
    # a constant acceleration a (normalised units) on a flat image: L_reg = a * 255 / 2 at 8 and
    # at 16 px, the loss of that motion on pixel flows of a 256-px image
    a = 0.01
    for size in (8, 16):
        fields = torch.zeros(2, 3, 2, size, size)
        fields[:, 2] = a                                  # m_{t+1} - 2 m_t + m_{t-1} = a
        flat = torch.zeros(2, 3, size, size)
        assert math.isclose(float(field_smoothness(fields, flat)), a * 127.5, rel_tol=1e-6), size
    assert PAPER_PIXELS_PER_UNIT == 127.5


def test_model_regulariser_uses_the_paper_unit(monkeypatch):
    model = tiny()
    a = 0.02
    accelerating = torch.zeros(2, 3, 2, 8, 8)
    accelerating[:, 2] = a
    monkeypatch.setattr(model.deformation, "forward", lambda *args, **kwargs: accelerating)
    latents = Latents(torch.zeros(2, 8), torch.zeros(2, 8), torch.zeros(2, 20, 8))
    out = {"canonical": torch.zeros(2, 3, 8, 8), "feature": None}            # flat: weights 1
    assert math.isclose(float(model.regularizer(latents, out)), a * 127.5, rel_tol=1e-6)
