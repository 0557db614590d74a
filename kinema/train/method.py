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

``sample_for_logging(batch) -> Tensor``  (b t c h w) videos written periodically by the trainer
    (in eval mode, under ``no_grad``, with the RNG reseeded and restored afterwards, so
    sampling never changes the training run).
``on_train_start(batch)`` called once with the whole first global batch of epoch 0 before any
    step (data-dependent initialisation such as ActNorm). It runs on every rank with the same
    batch, then rank 0's parameters and buffers are broadcast. It also runs when a run
    resumes, before the checkpoint is loaded, so flags it sets (e.g. "initialised") are set
    either way while the loaded weights replace the values it computed.
``optimizer_options(group) -> dict``  AdamW keyword arguments for one group that replace the
    recipe's ``betas`` / ``weight_decay``. The learning rate lives in the train config only
    (``train.lr``, with its schedule): a group that needs another rate returns ``lr_scale``, a
    ratio named in the model config (e.g. a GAN's ``discriminator_lr_scale``), and trains at
    ``train.lr * lr_scale``.
``ema_prefixes``  a tuple class attribute naming the modules ``train.ema_decay`` averages (e.g.
    a GAN's generators, ``("generator",)``; StyleGAN's G_ema); without it every float weight
    is. The averaged weights are what the trainer's periodic samples and the saved model use.
``expected_input() -> dict``  what the model reads, any of ``num_frames``, ``channels``,
    ``image_size`` (exact) and ``min_frames``; the trainer checks the first batch against it
    before any step (``kinema.train.checks.check_batch_fits``), so a recipe whose data and
    model disagree is one ``KinemaError`` naming the field, both values and the ``--set`` fix.

What the trainer guarantees in return: gradients of every parameter are zeroed before each
group's ``training_step``; only parameters with ``requires_grad`` are optimised; under
``torchrun`` each rank's ``training_step`` sees ``batch_size / world_size`` items and the
gradients are averaged over ranks after each group's backward (so losses must be means over
the batch for N processes to match one); a step whose ``"loss"`` or gradient norm is not
finite updates nothing.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class TrainableMethod(Protocol):
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]: ...

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]: ...
