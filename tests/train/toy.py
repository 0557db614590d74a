"""A tiny real method for the trainer's tests: a residual conv next-frame predictor trained with
MSE on videos whose content shifts one pixel per frame, with an optional hinge-loss critic
(two optimiser groups, alternating). Runnable from the command line as
``kinema train tests.train.toy:recipe --preset tiny``.

Test knobs: ``noise`` makes every step draw from the global torch RNG (so resuming must
restore it), ``nan_at`` / ``nan_from`` make chosen steps' losses NaN, ``sleep`` slows each
step down so a test can kill the process mid-run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.data import Dataset

from kinema.config import DataConfig, Recipe, TrainConfig
from kinema.pretrained import Pretrained


@dataclass
class ToyConfig:
    channels: int = 1
    hidden: int = 8
    adversarial: bool = False
    noise: float = 0.0
    nan_at: tuple = ()              # 0-based training steps whose loss is NaN
    nan_from: int | None = None     # every step from this one on is NaN
    sleep: float = 0.0              # seconds of sleep per step


class ShiftingVideos(Dataset):
    """Random images moving one pixel to the right per frame (wrapping around)."""

    def __init__(self, split: str = "train", num_videos: int = 16, num_frames: int = 4,
                 size: int = 8, channels: int = 1, seed: int = 0):
        self.split, self.num_videos, self.num_frames = split, num_videos, num_frames
        self.size, self.channels, self.seed = size, channels, seed

    def __len__(self) -> int:
        return self.num_videos

    def __getitem__(self, index: int) -> dict:
        offset = 0 if self.split == "train" else 10**6
        g = torch.Generator().manual_seed(self.seed * 100_003 + index + offset)
        image = torch.rand(self.channels, self.size, self.size, generator=g) * 2 - 1
        video = torch.stack([image.roll(t, dims=-1) for t in range(self.num_frames)])
        return {"video": video, "index": index}   # video: (t c h w)


class ToyPredictor(nn.Module, Pretrained):
    config_class = ToyConfig

    def __init__(self, config: ToyConfig):
        super().__init__()
        self.config = config
        c, h = config.channels, config.hidden
        self.net = nn.Sequential(nn.Conv2d(c, h, 3, padding=1), nn.Tanh(),
                                 nn.Conv2d(h, c, 3, padding=1))
        self.offset = nn.Parameter(torch.zeros(()))     # set from data in on_train_start
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        if config.adversarial:
            self.critic = nn.Sequential(nn.Conv2d(2 * c, h, 3, stride=2, padding=1),
                                        nn.LeakyReLU(0.2), nn.Conv2d(h, 1, 3, padding=1))

    def next_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(b t c h w) -> the prediction of frames 1..t from frames 0..t-1: (b t-1 c h w)."""
        x = rearrange(frames[:, :-1], "b t c h w -> (b t) c h w")
        y = x + self.net(x - self.offset)
        return rearrange(y, "(b t) c h w -> b t c h w", b=frames.shape[0])

    def score(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        pairs = rearrange(torch.cat([before, after], dim=2), "b t c h w -> (b t) c h w")
        return self.critic(pairs).mean(dim=(1, 2, 3))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.config.adversarial:
            return {"discriminator": list(self.critic.parameters()),
                    "generator": [self.offset, *self.net.parameters()]}
        return {"model": list(self.parameters())}

    def on_train_start(self, batch: dict) -> None:
        with torch.no_grad():
            self.offset.fill_(batch["video"].mean())

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        video = batch["video"]                                         # (b t c h w)
        if self.config.noise:
            video = video + self.config.noise * torch.randn_like(video)
        if group == "discriminator":
            fake = self.next_frames(video).detach()
            real_score = self.score(video[:, :-1], video[:, 1:])
            fake_score = self.score(video[:, :-1], fake)
            loss = F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()
            return {"loss": loss, "real": real_score.mean()}
        pred = self.next_frames(video)
        mse = F.mse_loss(pred, video[:, 1:])
        loss = mse
        if self.config.adversarial:
            loss = mse - 0.1 * self.score(video[:, :-1], pred).mean()
        step = int(self.calls)
        self.calls += 1
        if step in self.config.nan_at or (self.config.nan_from is not None
                                          and step >= self.config.nan_from):
            loss = loss * float("nan")
        if self.config.sleep:
            time.sleep(self.config.sleep)
        return {"loss": loss, "mse": mse}

    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        """Roll the predictor out from each video's first frame: (b t c h w)."""
        frames = [batch["video"][:, 0]]
        for _ in range(batch["video"].shape[1] - 1):
            pair = torch.stack([frames[-1], frames[-1]], dim=1)
            frames.append(self.next_frames(pair)[:, 0].clamp(-1, 1))
        return torch.stack(frames, dim=1)


def recipe(preset: str = "tiny") -> Recipe:
    train = TrainConfig(steps=12, batch_size=4, lr=1e-2, warmup_steps=2, log_every=2,
                        checkpoint_every=4, keep_checkpoints=3, ema_decay=0.9, seed=0)
    data = DataConfig(name="tests.train.toy:ShiftingVideos", options={"num_videos": 16})
    if preset == "tiny":
        model = ToyConfig()
    elif preset == "adversarial":
        model = ToyConfig(adversarial=True)
    else:
        raise ValueError(f"unknown preset {preset!r}; known: tiny, adversarial")
    return Recipe(method="tests.train.toy:ToyPredictor", preset=preset, model=model,
                  train=train, data=data)


def make_recipe(**train_options) -> Recipe:
    """``recipe("tiny")`` with TrainConfig fields replaced (for in-process tests)."""
    r = recipe("tiny")
    for key, value in train_options.items():
        setattr(r.train, key, value)
    return r


def run(out, *, preset: str = "tiny", model_options: dict | None = None,
        resume: bool | None = None, **train_options):
    """Train the toy in this process the way ``kinema train`` does; returns the recipe."""
    from kinema.train.recipes import train_recipe

    r = recipe(preset)
    for key, value in (model_options or {}).items():
        setattr(r.model, key, value)
    for key, value in train_options.items():
        setattr(r.train, key, value)
    train_recipe(r, out, resume=resume, tensorboard=False, progress=False)
    return r


def final_state(out) -> dict:
    """The raw weights and EMA of the newest checkpoint in run folder ``out``."""
    from pathlib import Path

    from kinema.train.checkpoint import load_latest

    ckpt = load_latest(Path(out) / "checkpoints")
    return {"step": ckpt.step, "model": ckpt.model, "ema": ckpt.ema}
