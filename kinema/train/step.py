"""One iteration's updates, for every optimiser group (the trainer's inner step).

For each group, in ``parameter_groups()`` order: zero every gradient; for each of the
``train.accumulate`` micro-batches, ``losses = method.training_step(micro, group)`` under the
run's autocast (``kinema.train.precision``) and back-propagate ``losses["loss"] / k`` (times the
fp16 loss scale); then average the group's gradients over ranks once, unscale, clip the global
norm, step its optimiser.

Gradient accumulation splits the batch the loader gives (each rank's ``batch_size /
world_size`` items) into ``k`` equal micro-batches, rather than drawing ``k`` loader batches:
``train.batch_size`` stays the batch of one optimiser step whatever ``k`` is, so changing ``k``
(to fit a GPU's memory) does not change what is trained, and the resumable sampler still
advances one batch per step, so a resumed run continues at the same sample. Each micro-batch's
loss is a mean over its ``B / k`` items, so the sum of ``loss / k`` is the mean over the whole
batch: the accumulated gradient equals one pass over the batch (tested in float64). kinema
averages gradients itself (``kinema.train.distributed``), after the last micro-batch, so a
step costs one all-reduce per group whatever ``k`` is (what DDP's ``no_sync`` gives for the
first ``k - 1``).
"""
from __future__ import annotations

import math

import torch

from kinema.errors import KinemaError


def split_batch(batch: dict, parts: int) -> list[dict]:
    """``parts`` micro-batches of ``batch``: every tensor (and list) whose first axis is the
    batch is cut into equal consecutive pieces; other entries are shared."""
    if parts == 1:
        return [batch]
    sizes = {len(v) for v in batch.values()
             if (isinstance(v, torch.Tensor) and v.ndim) or isinstance(v, list)}
    size = max(sizes) if sizes else 0
    if size % parts:
        raise KinemaError(f"train.accumulate={parts} must divide each process's batch of {size} "
                          f"items into equal micro-batches (set train.batch_size to a multiple "
                          f"of {parts} x the number of processes)")
    n = size // parts

    def piece(value, i):
        if ((isinstance(value, torch.Tensor) and value.ndim) or isinstance(value, list)) \
                and len(value) == size:
            return value[i * n:(i + 1) * n]
        return value
    return [{k: piece(v, i) for k, v in batch.items()} for i in range(parts)]


class GroupUpdates:
    """The updates of one iteration. ``diverged(reason)`` is called (on every rank alike)
    when a group's loss jumps away from its recent values; it raises."""

    def __init__(self, trainer):
        self.t = trainer

    def run(self, batch: dict, meter) -> tuple[bool, bool, dict]:
        """(some group stepped, some group was non-finite, {group: loss shown})."""
        t = self.t
        clip = t.config.grad_clip or math.inf
        micros = split_batch(batch, t.config.accumulate)
        stepped = nonfinite = False
        shown = {}
        for group, optimizer in t.optimizers.items():
            t._zero_grad()
            means, finite = self._backward(micros, group)
            loss_value = means["loss"]
            finite = t.dist.all_true(finite)
            norm, overflowed = math.nan, False
            if finite:
                params = t.groups[group]
                t.dist.average_gradients(params)
                t.precision.unscale(optimizer, group)
                norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
                grads_finite = math.isfinite(norm)   # the same on every rank: averaged gradients
                if grads_finite:
                    optimizer.step()
                    stepped = True
                # under fp16 an overflow is the scaler's to handle: skipped, the scale halved
                overflowed = not grads_finite and group in t.precision.scalers
                t.precision.finish(group, overflowed)
                finite = grads_finite or overflowed
            nonfinite |= not finite
            for key, value in means.items():
                meter.add(f"{group}/{key}", value)
            scale = t.precision.loss_scale(group)
            if scale is not None:
                meter.add(f"{group}/loss_scale", scale)
            reason = t.divergence.check_loss(group, loss_value) \
                if finite and not overflowed else None
            if not t.dist.all_true(reason is None):   # every rank stops together
                t._diverged(reason or "the loss of another process exploded")
            meter.add(f"{group}/grad_norm", norm)
            shown[group] = f"{loss_value:.4g}"
        t._zero_grad()
        return stepped, nonfinite, shown

    def _backward(self, micros: list[dict], group: str) -> tuple[dict, bool]:
        """Back-propagate every micro-batch's ``loss / k``; returns the scalar losses averaged
        over the micro-batches and whether every loss was finite (a micro-batch with a
        non-finite loss is not back-propagated)."""
        t, k = self.t, len(micros)
        step = t._compiled_step or t.method.training_step
        means: dict[str, float] = {}
        finite = True
        for micro in micros:
            with t.precision.autocast():
                losses = step(micro, group)
            loss = _checked_loss(t.method, losses, group)
            value = float(loss.detach())      # one read of the loss for every use below
            for key, v in losses.items():
                if isinstance(v, torch.Tensor) and v.numel() == 1:
                    means[key] = means.get(key, 0.0) + float(v.detach()) / k
            if not math.isfinite(value):
                finite = False
                continue
            t.precision.scaled(loss / k if k > 1 else loss, group).backward()
        return means, finite


def _checked_loss(method, losses, group: str) -> torch.Tensor:
    name = type(method).__name__
    if not isinstance(losses, dict) or "loss" not in losses:
        raise KinemaError(f"{name}.training_step(batch, {group!r}) must return a dict with a "
                          "scalar 'loss'")
    loss = losses["loss"]
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise KinemaError(f"{name}.training_step(batch, {group!r})['loss'] must be a scalar tensor")
    return loss
