import numpy as np
import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.baselines.adversarial import MathieuPredictor
from kinema.methods.baselines.config import MathieuConfig, mathieu_config
from kinema.methods.baselines.losses import gradient_difference_loss, lp_loss


def test_gradient_difference_loss_by_hand():
    target = torch.tensor([[0.0, 1.0], [2.0, 4.0]]).reshape(1, 1, 2, 2)
    # target: vertical |2-0| = 2, |4-1| = 3; horizontal |1-0| = 1, |4-2| = 2
    assert gradient_difference_loss(torch.zeros(1, 1, 2, 2), target) == 8.0
    assert gradient_difference_loss(torch.zeros(1, 1, 2, 2), target, alpha=2.0) == 18.0
    prediction = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).reshape(1, 1, 2, 2)
    # prediction: vertical 1, 1; horizontal 0, 0  ->  |2-1| + |3-1| + |1-0| + |2-0| = 6
    assert gradient_difference_loss(prediction, target) == 6.0
    # the batch mean of per-frame sums
    both = gradient_difference_loss(torch.cat([prediction, torch.zeros(1, 1, 2, 2)]),
                                    torch.cat([target, target]))
    assert both == 7.0


def test_lp_loss_is_the_per_frame_sum_of_p_th_powers():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 2, 4, 4)), rng.normal(size=(3, 2, 4, 4))
    expected = (np.abs(a - b) ** 1.5).reshape(3, -1).sum(1).mean()
    got = lp_loss(torch.from_numpy(a), torch.from_numpy(b), p=1.5)
    assert abs(float(got) - expected) < 1e-10


def _moving_squares(clips=8, frames=4, size=32, seed=0):
    """(b t 1 h w) videos of a bright 6x6 square moving 2 px/frame on black."""
    g = np.random.default_rng(seed)
    videos = -np.ones((clips, frames, 1, size, size), dtype=np.float32)
    for i in range(clips):
        y, x = g.integers(0, size - 6 - 2 * frames, 2)
        for t in range(frames):
            videos[i, t, 0, y + 2 * t: y + 2 * t + 6, x + 2 * t: x + 2 * t + 6] = 1.0
    return torch.from_numpy(videos)


def _train(model, video, steps, lr=1e-3):
    optimisers = {g: torch.optim.Adam(p, lr) for g, p in model.parameter_groups().items()}
    for _ in range(steps):
        for group, optimiser in optimisers.items():
            optimiser.zero_grad()
            model.training_step({"video": video}, group)["loss"].backward()
            optimiser.step()


def test_training_lowers_the_generator_l2_loss():
    torch.manual_seed(0)
    model = MathieuPredictor(mathieu_config("tiny"))
    video = _moving_squares(frames=3)                   # context 2 + 1 target: fixed windows
    def mse():
        with torch.no_grad():
            return float(((model(video[:, :2])[-1] - video[:, 2]) ** 2).mean())
    before = mse()
    _train(model, video, steps=25)
    assert mse() < 0.7 * before


def test_each_step_only_touches_its_own_group():
    torch.manual_seed(0)
    model = MathieuPredictor(mathieu_config("tiny"))
    video = _moving_squares(clips=2)
    out = model.training_step({"video": video}, "generator")
    assert set(out) >= {"loss", "lp", "gdl", "adversarial"}
    out["loss"].backward()
    assert all(p.grad is None for p in model.discriminators.parameters())
    assert all(p.grad is not None for p in model.generators.parameters())
    model.zero_grad(set_to_none=True)
    model.training_step({"video": video}, "discriminator")["loss"].backward()
    assert all(p.grad is None for p in model.generators.parameters())
    assert all(p.grad is not None for p in model.discriminators.parameters())
    assert all(p.requires_grad for p in model.discriminators.parameters())


def test_steps_are_the_non_saturating_losses_summed_over_scales_written_out():
    import torch.nn.functional as F

    torch.manual_seed(0)
    config = mathieu_config("tiny")
    config.lambda_adv, config.lambda_lp, config.lambda_gdl = 0.3, 0.7, 1.9
    model = MathieuPredictor(config)
    video = _moving_squares(clips=2, frames=3)            # context 2 + target 1: one window
    context, target = video[:, :2], video[:, 2]
    targets = [F.interpolate(target, size=(s, s), mode="area") if s != 32 else target
               for s in config.scales]
    with torch.no_grad():
        predictions = model(context)
        real = model._discriminate(context, targets)
        fake = model._discriminate(context, predictions)
    # D: sum_k BCE(D_k(X, Y_k), 1) + BCE(D_k(X, Yhat_k), 0) = softplus(-real) + softplus(fake)
    d_want = sum(F.softplus(-r).mean() + F.softplus(f).mean() for r, f in zip(real, fake))
    d_out = model.training_step({"video": video}, "discriminator")
    assert d_out["loss"].item() == pytest.approx(d_want.item(), rel=1e-6)
    # G: sum_k BCE(D_k(X, Yhat_k), 1) = softplus(-fake), beside lp and gdl with their lambdas
    g_out = model.training_step({"video": video}, "generator")
    adversarial = sum(F.softplus(-f).mean() for f in fake)
    lp = sum(lp_loss(p, y, config.lp) for p, y in zip(predictions, targets))
    gdl = sum(gradient_difference_loss(p, y, config.gdl_alpha) for p, y in zip(predictions, targets))
    assert g_out["adversarial"].item() == pytest.approx(adversarial.item(), rel=1e-6)
    assert g_out["loss"].item() == pytest.approx((0.3 * adversarial + 0.7 * lp + 1.9 * gdl).item(),
                                                 rel=1e-6)


def test_without_adversarial_term_there_is_no_discriminator_group():
    config = mathieu_config("tiny")
    config.lambda_adv = 0.0
    model = MathieuPredictor(config)
    assert list(model.parameter_groups()) == ["generator"]
    assert "adversarial" not in model.training_step({"video": _moving_squares(2)}, "generator")


def test_predict_feeds_predictions_back():
    torch.manual_seed(0)
    model = MathieuPredictor(mathieu_config("tiny"))
    context = _moving_squares(clips=2, frames=5)
    with torch.no_grad():   # push every scale's correction up, so the frames leave [-1, 1]
        for generator in model.generators:
            generator.net[-1].bias.fill_(3.0)
    out = model.predict(context, num_frames=3, num_samples=2)
    assert out.shape == (2, 2, 3, 1, 32, 32)
    assert torch.equal(out[:, 0], out[:, 1])
    with torch.no_grad():
        raw = model(context[:, -2:])[-1]
        first = raw.clamp(-1, 1)                               # each frame clamped before feedback
        second = model(torch.stack([context[:, -1], first], 1))[-1].clamp(-1, 1)
    assert raw.max() > 1.5                                     # the clamp is exercised
    assert torch.allclose(out[:, 0, 0], first) and torch.allclose(out[:, 0, 1], second)
    with pytest.raises(KinemaError, match="context frames"):
        model.predict(context[:, :1], 2)
    with pytest.raises(KinemaError, match=">= 3 frames"):
        model.training_step({"video": context[:, :2]}, "generator")


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = MathieuPredictor(mathieu_config("tiny"))
    _train(model, _moving_squares(clips=2, frames=3), steps=1)
    model.save_pretrained(tmp_path / "mathieu")
    loaded = MathieuPredictor.from_pretrained(tmp_path / "mathieu")
    assert loaded.config == model.config
    context = _moving_squares(clips=2, frames=3, seed=1)
    assert torch.equal(model.predict(context, 3), loaded.predict(context, 3))


def test_config_checks_its_scales():
    with pytest.raises(ValueError, match="finest scale"):
        MathieuConfig(image_size=64)
    with pytest.raises(ValueError, match="no pixels"):
        MathieuConfig(discriminator_kernel_sizes=((5,), (3, 3, 3), (5, 5, 5), (7, 7, 5, 5)))


def test_tiny_recipe_trains_through_the_trainer(tmp_path):
    import json

    from kinema.methods.baselines.config import mathieu_recipe
    from kinema.pretrained import load_pretrained
    from kinema.train.recipes import train_recipe

    recipe = mathieu_recipe("tiny")
    recipe.train.log_every = 1
    model_dir = train_recipe(recipe, tmp_path / "run", tensorboard=False, progress=False)
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
              .splitlines()]
    losses = [entry["losses"] for entry in logged if "losses" in entry]
    assert len(losses) == recipe.train.steps
    assert {"discriminator/loss", "generator/lp", "generator/gdl",
            "generator/adversarial"} <= set(losses[-1])
    model = load_pretrained(model_dir)
    assert isinstance(model, MathieuPredictor)
    context = _moving_squares(clips=1, frames=2)
    assert model.predict(context, 2).shape == (1, 1, 2, 1, 32, 32)


def test_state_dict_keys_and_shapes_are_those_saved_before_the_gan_losses_moved():
    from pathlib import Path

    keys = {}
    for line in Path(__file__).with_name("mathieu_state_keys.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split(" ", 1)
            keys[name] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    with torch.device("meta"):
        model = MathieuPredictor(MathieuConfig())
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == keys
