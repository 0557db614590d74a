"""ILE end to end on tiny sizes: invertibility, exact log-det, memory-saving gradients, a falling
NLL, prediction, save/load."""
import dataclasses
import math

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.ile.config import ILEConfig, ile_config, recipe
from kinema.methods.ile.model import ILE
from kinema.tasks import Prediction


def randomize(module, seed=0, scale=0.05):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("flow."):
                p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def moving_square(batch=2, frames=6, size=8, seed=0):
    """A bright 3x3 square moving one pixel per frame on a dark background, (b t 1 h w)."""
    g = torch.Generator().manual_seed(seed)
    video = -torch.ones(batch, frames, 1, size, size)
    for b in range(batch):
        r, c = torch.randint(0, size - 3, (2,), generator=g).tolist()
        for t in range(frames):
            cc = (c + t) % (size - 2)
            video[b, t, 0, r:r + 3, cc:cc + 3] = 1.0
    return video


def test_flow_inverts_in_float32():
    torch.manual_seed(0)
    model = ILE(ile_config("tiny"))
    randomize(model)
    x = torch.rand(3, 1, 8, 8) - 0.5
    y, _ = model.flow.encode(x)
    assert y.shape == (3, 64)
    assert (model.flow.decode(y) - x).abs().max() < 1e-5


def test_flow_logdet_matches_brute_force_jacobian():
    config = dataclasses.replace(ile_config("tiny"), image_size=4, blocks=2, state_dim=2)
    model = ILE(config)
    randomize(model, scale=0.2)
    model = model.double()
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64) - 0.5
    _, logdet = model.flow.encode(x)
    for i in range(2):
        jac = torch.autograd.functional.jacobian(lambda v: model.flow.encode(v)[0], x[i:i + 1])
        brute = torch.linalg.slogdet(jac.reshape(16, 16)).logabsdet
        assert torch.allclose(logdet[i], brute, atol=1e-8)
    assert logdet.abs().max() > 1e-3           # non-trivial: couplings moved off the identity


def test_memory_saving_gradients_equal_ordinary_backprop():
    torch.manual_seed(1)
    plain = ILE(ile_config("tiny"))
    randomize(plain, scale=0.1)
    saving = ILE(dataclasses.replace(ile_config("tiny"), memory_saving=True))
    saving.load_state_dict(plain.state_dict())
    video = moving_square(frames=4)
    grads = []
    for model in (plain.double(), saving.double()):
        loss = model.objective(video.double(), dequantize=False)["loss"]
        model.zero_grad()
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-6)


def test_nll_falls_on_a_fixed_seed():
    torch.manual_seed(0)
    model = ILE(ile_config("tiny"))
    optimizer = torch.optim.Adam(model.parameter_groups()["model"], lr=3e-3)
    video = moving_square(batch=4, frames=5)
    losses = []
    for _ in range(25):
        out = model.training_step({"video": video}, "model")
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(out["objective_bits_per_dim"].item())
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < losses[0] - 0.3, losses          # ~0.65 bits/dim on this seed


def test_prediction_shapes_mean_and_samples():
    torch.manual_seed(0)
    model = ILE(ile_config("tiny"))
    randomize(model)
    assert isinstance(model, Prediction)
    context = moving_square(frames=3)
    mean = model.predict(context, num_frames=4)
    assert mean.shape == (2, 1, 4, 1, 8, 8)
    # the mean is C A^t x0* for t = k .. k+3 (after the k = 3 context frames), scaled by the
    # last observed frame's gamma (Sec. 2.6) and decoded through g
    x0, gamma = model.infer(context)
    y = model.system.rollout(x0, 3, 4) * gamma[:, -1].double()[:, None, None]
    assert torch.allclose(mean[:, 0], model.render(y), atol=1e-5)
    assert torch.equal(model.predict(context, 4), mean)              # n=1 is the mean
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    samples = model.predict(context, 4, num_samples=3, generator=g1)
    assert samples.shape == (2, 3, 4, 1, 8, 8)
    assert torch.equal(samples, model.predict(context, 4, num_samples=3, generator=g2))
    # samples: latent observation noise of std `temperature` around the same mean
    noise = torch.randn((2, 3, 4, y.shape[-1]), generator=torch.Generator().manual_seed(5),
                        dtype=torch.float64)
    latent = (model.system.rollout(x0, 3, 4)[:, None] + 0.5 * noise) * gamma[:, -1].double()[:, None, None, None]
    want = model.render(latent.flatten(0, 1)).reshape(samples.shape)
    cooler = model.predict(context, 4, num_samples=3, generator=torch.Generator().manual_seed(5),
                           temperature=0.5)
    assert torch.allclose(cooler, want, atol=1e-5)
    assert (samples[:, 0] - samples[:, 1]).abs().max() > 1e-3


def test_observed_frames_are_reproduced_when_the_system_explains_them():
    """If the embeddings follow the linear system exactly, decoding C A^t x0* gives back the
    frames: check via rollout from t = 0 on a trajectory generated by the system itself."""
    torch.manual_seed(0)
    model = ILE(ile_config("tiny"))
    randomize(model)
    x0 = torch.randn(2, 4, dtype=torch.float64)
    y = model.system.rollout(x0, 0, 5) * 0.05                      # (b t d)
    video = model.render(y)
    future = model.predict(video[:, :3], 2)[:, 0]
    assert (future - video[:, 3:]).abs().max() < 0.1


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = ILE(ile_config("tiny"))
    randomize(model)
    model.save_pretrained(tmp_path / "ile")
    loaded = ILE.from_pretrained(tmp_path / "ile")
    assert loaded.config == model.config
    context = moving_square(frames=3)
    assert torch.equal(loaded.predict(context, 3), model.predict(context, 3))
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b) and a.dtype == b.dtype, k


def test_bad_context_is_a_clear_error():
    model = ILE(ile_config("tiny"))
    with pytest.raises(KinemaError, match="context frames must be"):
        model.predict(torch.zeros(1, 3, 1, 16, 16), 2)


def test_presets_and_registry():
    from kinema.registry import method_entry, resolve
    entry = method_entry("ile")
    assert resolve(entry.model_class) is ILE
    for preset in ("tiny", "small", "paper"):
        r = resolve(entry.recipe)(preset)
        assert r.model.image_size == r.data.options["size"]
    assert recipe("paper").model.steps_per_block * recipe("paper").model.blocks == 40
    with pytest.raises(ValueError):
        ILEConfig(state_dim=3)


def test_config_mistakes_after_overrides_are_clear_errors():
    """``--set model.state_dim=3`` is applied after ``__post_init__``: ``ILE(config)`` re-checks
    and raises a KinemaError naming the field (the CLI prints it without a traceback)."""
    for field, value, words in (("state_dim", 3, "state_dim"), ("blocks", 5, "divisible"),
                                ("state_dim", 1000, "exceeds"), ("hidden", 0, "hidden")):
        config = ile_config("tiny")
        setattr(config, field, value)
        with pytest.raises(KinemaError, match=words):
            ILE(config)


def test_the_trainer_names_data_of_another_size(tmp_path):
    from kinema.config import apply_overrides
    from kinema.data import load_dataset
    from kinema.train.trainer import Trainer

    r = apply_overrides(recipe("tiny"), ["data.options.size=16"])
    data = load_dataset(r.data.name, r.data.split, **r.data.options)
    trainer = Trainer(ILE(r.model), data, r.train, tmp_path, tensorboard=False, progress=False)
    with pytest.raises(KinemaError, match=r"image_size: the ILE model reads 8 pixels per side, the "
                                          r"data gives 16 \(fix: --set data.options.size=8 or "
                                          r"--set model.image_size=16\)"):
        trainer.fit()
