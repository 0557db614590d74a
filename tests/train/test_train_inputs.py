"""The trainer checks the first batch against what the method reads (a named error, not a
tensor-size one), and a group's rate is train.lr times the method's named lr_scale."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from kinema.config import TrainConfig
from kinema.errors import KinemaError
from kinema.train.checks import check_batch_fits
from kinema.train.trainer import Trainer


@dataclass
class ClipConfig:
    num_frames: int = 4
    channels: int = 1
    image_size: int = 8


class ClipModel(nn.Module):
    """Reads clips of the config's shape; a 'discriminator' group trains at twice train.lr."""

    def __init__(self, config: ClipConfig, least: int | None = None):
        super().__init__()
        self.config, self.least = config, least
        self.a, self.b = nn.Parameter(torch.zeros(())), nn.Parameter(torch.zeros(()))
        self.steps = 0

    def expected_input(self) -> dict:
        c = self.config
        out = dict(num_frames=c.num_frames, channels=c.channels, image_size=c.image_size)
        return out if self.least is None else {"min_frames": self.least}

    def parameter_groups(self):
        return {"generator": [self.a], "discriminator": [self.b]}

    def optimizer_options(self, group: str) -> dict:
        return {"lr_scale": 2.0} if group == "discriminator" else {}

    def training_step(self, batch, group):
        self.steps += 1
        param = self.a if group == "generator" else self.b
        return {"loss": (param - batch["video"].mean()) ** 2}


class Clips(Dataset):
    def __init__(self, shape=(4, 1, 8, 8), n=4):
        self.shape, self.n = shape, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"video": torch.full(self.shape, 0.1 * i)}


def batch_of(t, c, h, w=None):
    return {"video": torch.zeros(2, t, c, h, w or h)}


def test_a_matching_batch_passes_and_each_disagreement_is_named_with_both_values_and_the_fix():
    model = ClipModel(ClipConfig())
    check_batch_fits(model, batch_of(4, 1, 8))
    with pytest.raises(KinemaError) as err:
        check_batch_fits(model, batch_of(8, 3, 16))
    message = str(err.value)
    assert "num_frames: the ClipModel model reads 4 frames per clip, the data gives 8" in message
    assert "--set data.options.num_frames=4 or --set model.num_frames=8" in message
    assert "channels: the ClipModel model reads 1 channels, the data gives 3" in message
    assert "image_size: the ClipModel model reads 8 pixels per side, the data gives 16" in message
    assert "--set data.options.size=8 or --set model.image_size=16" in message
    with pytest.raises(KinemaError, match=r"square 8x8 frames, the data gives 8x12"):
        check_batch_fits(model, batch_of(4, 1, 8, 12))
    least = ClipModel(ClipConfig(), least=5)
    check_batch_fits(least, batch_of(6, 3, 16))
    with pytest.raises(KinemaError, match=r"at least 5 frames per clip, the data gives 4 "
                                          r"\(fix: --set data.options.num_frames=5\)"):
        check_batch_fits(least, batch_of(4, 1, 8))


def test_a_field_the_model_config_lacks_gets_only_the_data_fix():
    class FromStages(ClipModel):           # its frame count comes from an earlier stage
        def expected_input(self):
            return {"num_frames": 4}

    model = FromStages(ClipConfig())
    model.config = object()
    with pytest.raises(KinemaError) as err:
        check_batch_fits(model, batch_of(8, 1, 8))
    assert "(fix: --set data.options.num_frames=4)" in str(err.value)


def test_the_trainer_refuses_disagreeing_data_before_any_step(tmp_path):
    model = ClipModel(ClipConfig())
    trainer = Trainer(model, Clips(shape=(6, 1, 8, 8)), TrainConfig(steps=2, batch_size=2),
                      tmp_path / "run", tensorboard=False, progress=False)
    with pytest.raises(KinemaError, match="reads 4 frames per clip, the data gives 6"):
        trainer.fit()
    assert model.steps == 0 and not (tmp_path / "run" / "checkpoints").exists()


def test_lr_scale_sets_a_groups_rate_relative_to_train_lr(tmp_path):
    model = ClipModel(ClipConfig())
    trainer = Trainer(model, Clips(), TrainConfig(steps=1, batch_size=2, lr=0.01),
                      tmp_path / "run", tensorboard=False, progress=False)
    rates = {g: o.param_groups[0]["lr"] for g, o in trainer.optimizers.items()}
    assert rates == {"generator": 0.01, "discriminator": 0.02}
    trainer.fit()
    assert model.steps == 2
