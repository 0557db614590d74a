"""What the Trainer asks of a method (the contract every method folder implements).

A trainable method is an ``nn.Module`` (with the ``kinema.pretrained.Pretrained`` mixin) that
provides:

``parameter_groups() -> dict[str, list[nn.Parameter]]``
    One optimiser per group, stepped in the dict's order each iteration. Plain likelihood or
    regression methods return ``{"model": [...]}``; adversarial methods return e.g.
    ``{"discriminator": [...], "generator": [...]}`` for alternating updates.

``training_step(batch: dict, group: str) -> dict[str, Tensor]``
    The losses for optimiser ``group`` on ``batch`` (a dict of collated dataset items, e.g.
    ``batch["video"]``: (b t c h w) in [-1, 1]). Must contain ``"loss"`` (scalar, the one that
    is back-propagated); every other scalar entry is logged as ``<group>/<key>``.

Optional:

``sample_for_logging(batch) -> Tensor``  (b t c h w) videos written periodically by the trainer.
``on_train_start(batch)`` called once with the first batch before any step (data-dependent
    initialisation such as ActNorm; under DDP it runs on rank 0 and parameters are broadcast).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class TrainableMethod(Protocol):
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]: ...

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]: ...
