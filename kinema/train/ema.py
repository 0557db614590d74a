"""Exponential moving average of a model's weights.

Averages every floating-point entry of the state dict (parameters and float buffers such as
running statistics); integer entries are skipped: FrEIA stores its fixed permutations as
integer parameters, which have no average and never change.

``prefixes`` limits the average to state-dict entries under those module names: a GAN method
names its generators (``ema_prefixes = ("generator",)``), as StyleGAN keeps G_ema beside G and
D, so its discriminator is saved and sampled as trained while its generator is averaged.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class EMA:
    def __init__(self, module: nn.Module, decay: float, prefixes: tuple[str, ...] | None = None):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1), got {decay}")
        self.decay = decay
        chosen = tuple(p.rstrip(".") + "." for p in prefixes) if prefixes else None
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()
                       if v.is_floating_point() and (chosen is None or k.startswith(chosen))}
        if not self.shadow:
            raise ValueError(f"no floating-point weights under {prefixes} to average")

    @torch.no_grad()
    def update(self, module: nn.Module, decay: float | None = None) -> None:
        """shadow <- decay * shadow + (1 - decay) * weights; ``decay`` defaults to the EMA's own
        (``ramped_decay`` gives a ramped-up one for this step)."""
        decay = self.decay if decay is None else decay
        state = module.state_dict()
        for name, average in self.shadow.items():
            average.lerp_(state[name].detach(), 1.0 - decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) ^ set(state)
        if missing:
            raise KeyError(f"EMA state does not match the model: {sorted(missing)[:5]}")
        for name, average in self.shadow.items():
            average.copy_(state[name])

    @torch.no_grad()
    def swap_into(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """Load the averages into ``module``; returns its previous weights for ``restore``."""
        previous = {k: v.detach().clone() for k, v in module.state_dict().items()
                    if k in self.shadow}
        module.load_state_dict(self.shadow, strict=False)
        return previous


def ramped_decay(decay: float, rampup: float | None, steps_taken: int) -> float:
    """The decay of the update after ``steps_taken`` optimiser steps (counting this one), with
    StyleGAN2-ADA's ``ema_rampup``: the average's half-life, ``log 0.5 / log decay`` steps, is
    at most ``rampup * steps_taken`` steps (its ``ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)``
    at a constant batch), so a short run's average forgets the random start: without it, decay
    0.99972 (a 10 k-image half-life at batch 4) still weighs the initial weights by 0.1 after
    8000 steps. ``rampup`` None: ``decay`` unchanged."""
    if rampup is None:
        return decay
    if steps_taken < 1 or rampup <= 0:
        raise ValueError(f"ramped_decay needs steps_taken >= 1 and rampup > 0; got {steps_taken}, {rampup}")
    half_life = math.log(0.5) / math.log(decay)
    return min(decay, 0.5 ** (1.0 / min(half_life, rampup * steps_taken)))
