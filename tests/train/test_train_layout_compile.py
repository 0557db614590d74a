"""train.channels_last_3d and train.compile change how a step runs, not what it computes:
the first loss (before any update) is the plain run's, and the layout is really applied."""
from __future__ import annotations

import pytest
import torch

from kinema.methods.cinn.autoencoder import VideoAutoencoder
from kinema.methods.cinn.config import autoencoder_config
from kinema.train.quick import train_quickly
from tests.train.toy import ShiftingVideos, ToyConfig, ToyPredictor


def _clips():
    c = autoencoder_config("tiny")
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, c.num_frames, c.channels, c.image_size, c.image_size, generator=g) * 2 - 1


def _autoencoder():
    torch.manual_seed(0)
    return VideoAutoencoder(autoencoder_config("tiny"))


def test_channels_last_3d_trains_in_that_layout_from_the_same_first_loss():
    plain, last = _autoencoder(), _autoencoder()
    history = {}
    for name, model, flag in (("plain", plain, False), ("last", last, True)):
        history[name] = train_quickly(model, _clips(), steps=2, batch_size=2, lr=1e-3, seed=0,
                                      channels_last_3d=flag)
    weights = [p for p in last.parameters() if p.ndim == 5]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last_3d) for w in weights)
    assert any(not w.is_contiguous() for w in weights)     # (1x1x1 kernels are both)
    assert all(p.is_contiguous() for p in plain.parameters())
    for key in ("discriminator/loss", "generator/loss"):
        assert history["last"][key][0] == pytest.approx(history["plain"][key][0], rel=1e-5)


@pytest.mark.slow
def test_compiled_training_step_trains_like_the_plain_one():
    results = []
    for flag in (False, True):
        torch.manual_seed(3)
        model = ToyPredictor(ToyConfig())
        history = train_quickly(model, ShiftingVideos(num_videos=8), steps=3, batch_size=4,
                                lr=1e-2, seed=1, compile=flag)
        results.append((history["model/loss"], model.state_dict()))
    (loss_a, state_a), (loss_b, state_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-5)
    for name, value in state_a.items():
        assert torch.allclose(state_b[name], value, atol=1e-5), name
