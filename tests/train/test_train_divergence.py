"""Divergence: a run whose weights or loss blow up stops, saves nothing of the blow-up, and the
checkpoint it names resumes cleanly with a sane learning rate (the advice does not loop)."""
from __future__ import annotations

import statistics

import pytest
import torch

from kinema.errors import KinemaError
from kinema.train.checkpoint import checkpoint_dirs, read_checkpoint, save_checkpoint
from kinema.train.divergence import DivergenceMonitor, weight_norm
from tests.train import toy


def test_weight_norm_is_the_global_l2_norm():
    params = [torch.nn.Parameter(torch.tensor([3.0, 0.0])), torch.nn.Parameter(torch.tensor([[4.0]]))]
    assert weight_norm(params) == pytest.approx(5.0)


def test_weights_past_the_factor_of_their_start_diverge():
    monitor = DivergenceMonitor(factor=10.0, start_norm=2.0)
    assert monitor.check_weights(19.9) is None
    assert "grew from 2 at the start to 20.1" in monitor.check_weights(20.1)
    assert monitor.check_weights(float("nan")) is not None
    # a tiny start norm is floored at 1: 9.9 is within 10 x 1
    assert DivergenceMonitor(10.0, 1e-6).check_weights(9.9) is None
    assert DivergenceMonitor(None, 1.0).check_weights(1e30) is None


def test_a_loss_far_outside_its_history_is_an_explosion():
    monitor = DivergenceMonitor(factor=100.0, start_norm=1.0)
    history = [1.0 + 0.01 * (i % 5) for i in range(20)]      # median 1.02, MAD 0.01
    for value in history:
        assert monitor.check_loss("g", value) is None
    median = statistics.median(history)
    spread = statistics.median(abs(v - median) for v in history)
    assert (median, spread) == (pytest.approx(1.02), pytest.approx(0.01))
    assert monitor.check_loss("g", median + 0.99 * 100 * spread) is None    # inside: joins
    assert "jumped to 3.03" in monitor.check_loss("g", 3.03)                 # 201 spreads away
    assert monitor.check_loss("other", 1e9) is None                          # its own history


def test_a_huge_learning_rate_stops_as_diverged_and_saves_nothing_of_it(tmp_path):
    # with the default clip every update moves the weights by about lr: 1e6 blows them up at once
    toy.run(tmp_path, steps=4, checkpoint_every=2)
    with pytest.raises(KinemaError) as caught:
        toy.run(tmp_path, steps=12, checkpoint_every=2, lr=1e6)
    message = str(caught.value)
    assert "training diverged at step" in message and "train.divergence_factor" in message
    assert "step-000004" in message
    assert [s for s, _ in checkpoint_dirs(tmp_path / "checkpoints")][0] == 4
    good = read_checkpoint(tmp_path / "checkpoints" / "step-000004")
    assert max(float(v.abs().max()) for v in good.model.values() if v.is_floating_point()) < 100
    assert not (tmp_path / "model").exists() or _model_weights_ok(tmp_path)
    # the advice works: the same command with a sane rate resumes and finishes
    toy.run(tmp_path, steps=12, checkpoint_every=2, lr=1e-3)
    assert (tmp_path / "model" / "model.safetensors").is_file()


def _model_weights_ok(run) -> bool:
    from safetensors.torch import load_file
    state = load_file(str(run / "model" / "model.safetensors"))
    return max(float(v.abs().max()) for v in state.values() if v.is_floating_point()) < 100


def test_an_incomplete_checkpoint_is_one_clear_error(tmp_path):
    toy.run(tmp_path, steps=2, checkpoint_every=2)
    good = read_checkpoint(tmp_path / "checkpoints" / "step-000002")
    state = {k: v for k, v in good.state.items() if k != "optimizers"}
    save_checkpoint(tmp_path / "checkpoints", 3, model=good.model, ema=good.ema, state=state,
                    recipe=good.recipe, keep=None)
    with pytest.raises(KinemaError, match="step-000003 is incomplete .*lacks optimizers"):
        toy.run(tmp_path, steps=4, checkpoint_every=2)


def test_the_loss_statistics_are_refreshed_every_ten_losses_and_follow_a_drifting_loss():
    from kinema.train.divergence import REFRESH

    monitor = DivergenceMonitor(factor=100.0, start_norm=1.0)
    for i in range(20):
        monitor.check_loss("g", 1.0 + 0.01 * (i % 5))
    assert monitor.check_loss("g", 1.02) is None           # statistics of the first 20 taken
    assert monitor._stats["g"][:2] == [pytest.approx(1.02), pytest.approx(0.01)]
    # a loss that falls steadily to 0.5 over 400 steps stays "normal": the median follows it
    for step in range(400):
        assert monitor.check_loss("g", 1.0 - 0.5 * step / 400 + 0.01 * (step % 5)) is None
    median, spread, since = monitor._stats["g"]
    assert since < REFRESH and median < 0.7           # the last 200 losses: 0.75 -> 0.5
    # a jump between two refreshes is still caught at the step it happens
    assert monitor.check_loss("g", median + 101 * spread) is not None
