"""train.optimizer_impl: fused (the default), foreach and plain AdamW reach the same weights
after 10 Trainer steps of a two-group toy (to 1e-5, float32 round-off of different operation
orders), the trainer builds the one that was asked for, and a bad name is a named error."""
from __future__ import annotations

import pytest
import torch

from kinema.config import TrainConfig
from kinema.errors import KinemaError
from kinema.train.optim import implementation_options, make_adamw
from kinema.train.quick import train_quickly
from kinema.train.trainer import Trainer
from tests.train.toy import ShiftingVideos, ToyConfig, ToyPredictor

STEPS = 10


def _trained(impl: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    model = ToyPredictor(ToyConfig(adversarial=True))
    train_quickly(model, ShiftingVideos(num_videos=8), steps=STEPS, batch_size=4, lr=1e-2, seed=1,
                  weight_decay=1e-2, optimizer_impl=impl)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_fused_foreach_and_plain_give_the_same_parameters_after_10_steps():
    torch.manual_seed(3)
    start = ToyPredictor(ToyConfig(adversarial=True)).state_dict()
    plain, fused, foreach = _trained("plain"), _trained("fused"), _trained("foreach")
    moved = max((plain[k] - start[k]).abs().max().item() for k in start)
    assert moved > 1e-2                       # the runs trained: equality is not trivial
    for other in (fused, foreach):
        for name, value in plain.items():
            assert torch.allclose(other[name], value, rtol=1e-5, atol=1e-5), name


def test_the_trainer_builds_the_asked_implementation(tmp_path):
    expected = {"fused": (True, False), "foreach": (False, True), "plain": (False, False)}
    for impl, (fused, foreach) in expected.items():
        torch.manual_seed(0)
        trainer = Trainer(ToyPredictor(ToyConfig()), ShiftingVideos(num_videos=4),
                          TrainConfig(steps=1, batch_size=2, optimizer_impl=impl),
                          tmp_path / impl, device="cpu", tensorboard=False, progress=False)
        group = trainer.optimizers["model"].param_groups[0]
        assert (group["fused"], group["foreach"]) == (fused, foreach), impl
    assert TrainConfig().optimizer_impl == "fused"


def test_fused_falls_back_to_foreach_without_a_fused_kernel():
    ints = [torch.zeros(3, dtype=torch.int64)]      # no fused kernel for integer tensors
    assert implementation_options("fused", ints) == {"foreach": True, "fused": False}
    step = make_adamw([torch.nn.Parameter(torch.ones(2))], "fused", lr=0.1)
    assert step.param_groups[0]["fused"] is True


def test_an_unknown_implementation_is_a_named_error(tmp_path):
    with pytest.raises(KinemaError, match="train.optimizer_impl must be one of fused, foreach, plain"):
        Trainer(ToyPredictor(ToyConfig()), ShiftingVideos(num_videos=4),
                TrainConfig(steps=1, batch_size=2, optimizer_impl="fast"), tmp_path / "r",
                device="cpu", tensorboard=False, progress=False)
