"""Typed configs shared by every method: how to train, which data, and the recipe that ties
a method's model config to them. Presets are functions (``recipe("tiny")``), so every number
that differs from a paper is visible in one place. Configs round-trip through YAML/JSON.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kinema.pretrained import config_from_dict, config_to_dict


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-4
    betas: tuple = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0             # linear learning-rate warm-up, then lr_schedule
    # after warm-up: "constant", "linear" (to lr * lr_final_factor at the last step),
    # "exponential" (lr * gamma**step with gamma reaching lr_final_factor at the last step) or
    # "cosine" (half a cosine from lr to lr * lr_final_factor; torch's CosineAnnealingLR at 0)
    lr_schedule: str = "constant"
    lr_final_factor: float = 0.1
    grad_clip: float | None = 1.0     # max global grad norm per optimiser group; None = off
    ema_decay: float | None = None    # None = no EMA copy
    # StyleGAN2-ADA's ema_rampup: the EMA's half-life is at most this fraction of the steps
    # taken, so a short run's average forgets its random start (kinema.train.ema.ramped_decay)
    ema_rampup: float | None = None
    seed: int = 0
    # DataLoader workers per rank: an integer, or "auto" (none on a CPU run, min(8, cores per
    # rank - 1) on CUDA; kinema.train.data.loader_workers); each prefetches prefetch_factor batches
    num_workers: int | str = "auto"
    prefetch_factor: int = 2
    log_every: int = 10
    sample_every: int | None = None   # periodic samples written under run/samples/
    checkpoint_every: int = 100
    # also checkpoint when this many minutes passed since the last one (rank 0's clock decides
    # for every rank); None = steps only
    checkpoint_minutes: float | None = None
    keep_checkpoints: int = 3
    max_nonfinite: int = 20           # this many non-finite losses in a row stop the run
    # weights past this many times their starting norm, or a loss this many spreads away from
    # its recent median, stop the run as diverged (kinema.train.divergence); None = off
    divergence_factor: float | None = 1000.0
    # AdamW implementation (kinema.train.optim): "fused" (one kernel per parameter; foreach
    # where the device has none), "foreach" (all tensors per op) or "plain" (a Python loop)
    optimizer_impl: str = "fused"
    # channels-last 3D layout for the 5-D (Conv3d) weights (kinema.nn.video3d.channels_last_3d)
    channels_last_3d: bool = False
    # torch.compile the method's training_step (first step compiles: minutes on a CPU;
    # benchmarks/speed.md and issue 16 say what it gave)
    compile: bool = False
    # "fp32", "bf16" (autocast, no loss scaling), "fp16" (autocast + a loss scaler per
    # optimiser group) or "auto" (bf16 where the hardware has it, else fp32); delicate parts stay float32 (kinema.train.precision, kinema.nn.precision)
    precision: str = "fp32"
    tf32: bool = False                # CUDA: TensorFloat-32 matmuls and convolutions; CPU: no effect
    accumulate: int = 1               # micro-batches per optimiser step (kinema.train.step)
    # recompute the big U-Nets' and generators' activations in the backward pass (memory for time)
    activation_checkpointing: bool = False


@dataclass
class DataConfig:
    name: str = "bouncing-digits"
    options: dict = field(default_factory=dict)   # passed to kinema.data.load_dataset
    split: str = "train"


@dataclass
class Recipe:
    """Everything `kinema train` needs: which method class, its config, data and schedule."""
    method: str                       # registry name, e.g. "ile"
    preset: str                       # "tiny" | "small" | "paper" | ...
    model: Any                        # the method's config dataclass
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict:
        return {"method": self.method, "preset": self.preset,
                "model": config_to_dict(self.model),
                "train": config_to_dict(self.train), "data": config_to_dict(self.data)}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_dict(cls, data: dict, model_config_class: type) -> "Recipe":
        return cls(method=data["method"], preset=data["preset"],
                   model=config_from_dict(model_config_class, data["model"]),
                   train=config_from_dict(TrainConfig, data["train"]),
                   data=config_from_dict(DataConfig, data["data"]))


def apply_overrides(recipe: Recipe, overrides: list[str]) -> Recipe:
    """Apply ``section.key=value`` strings (``train.lr=1e-3``, ``model.hidden=64``,
    ``data.options.num_frames=8``); values parse as YAML scalars, within the bounds of
    ``kinema.safe_parse`` (no tags, aliases or deep nesting past a size)."""
    from kinema.safe_parse import load_yaml
    from kinema.validate import short_repr

    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {short_repr(item)} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        value = load_yaml(raw, f"--set {short_repr(dotted, 40)}")
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        parts = dotted.split(".")
        target: Any = recipe
        for p in parts[:-1]:
            if isinstance(target, dict) and p in target:
                target = target[p]
            elif not isinstance(target, dict) and hasattr(target, p):
                target = getattr(target, p)
            else:
                _missing(dotted)
        last = parts[-1]
        if isinstance(target, dict):
            target[last] = value
        elif dataclasses.is_dataclass(target) and last in {f.name for f in dataclasses.fields(target)}:
            current = getattr(target, last)
            if isinstance(current, tuple) and isinstance(value, list):
                value = tuple(value)
            setattr(target, last, value)
        else:
            _missing(dotted)
    return recipe


def _missing(dotted: str):
    from kinema.validate import short_repr

    raise ValueError(f"override {short_repr(dotted)}: no such config field")


def lr_factor(step: int, config: TrainConfig) -> float:
    """The learning-rate multiplier after ``step`` optimiser steps: linear warm-up over
    ``warmup_steps``, times the ``lr_schedule`` decay over ``steps`` (1 at step 0,
    ``lr_final_factor`` at the last step)."""
    warmup = max(int(config.warmup_steps or 0), 0)
    factor = min(1.0, (step + 1) / warmup) if warmup else 1.0
    schedule = getattr(config, "lr_schedule", "constant")
    if schedule == "constant" or not config.steps:
        return factor
    progress = min(max(step / config.steps, 0.0), 1.0)
    final = config.lr_final_factor
    if schedule == "linear":
        factor *= 1.0 - (1.0 - final) * progress
    elif schedule == "exponential":
        factor *= final ** progress
    elif schedule == "cosine":
        factor *= final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown lr_schedule {schedule!r}: constant, linear, exponential or "
                         f"cosine")
    return factor
