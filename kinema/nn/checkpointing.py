"""Activation checkpointing (``train.activation_checkpointing``): the big blocks keep only their
inputs in the forward pass and run again during the backward pass, trading about one more
forward for the memory of their activations.

A block that can do it has a boolean attribute ``activation_checkpointing`` and runs its body
through ``checkpointed``; diffusers models (the GID U-Nets and VAE) use their own
``enable_gradient_checkpointing()``. ``set_activation_checkpointing(model, True)`` switches
every such block of a model. ``torch.utils.checkpoint`` with ``use_reentrant=False`` restores
the RNG state for the second forward, so noise drawn inside a block (StyleGAN's per-pixel
noise) is the same in both, and the gradients equal the plain pass's (tested).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def checkpointed(block: nn.Module, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, through ``torch.utils.checkpoint`` when ``block`` has
    activation checkpointing on, is training and gradients are being recorded."""
    if getattr(block, "activation_checkpointing", False) and block.training \
            and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False, **kwargs)
    return fn(*args, **kwargs)


def set_activation_checkpointing(model: nn.Module, enabled: bool) -> int:
    """Switch activation checkpointing of every block of ``model`` that has it; returns how
    many of the switched blocks (and diffusers models) train, i.e. hold a parameter that
    requires a gradient (a frozen earlier stage inside a model stores no activations for the
    backward pass, so checkpointing it saves nothing)."""
    training = 0
    for module in model.modules():
        if hasattr(module, "activation_checkpointing") and not callable(
                getattr(module, "activation_checkpointing")):
            module.activation_checkpointing = bool(enabled)
        elif getattr(module, "_supports_gradient_checkpointing", False) and \
                hasattr(module, "enable_gradient_checkpointing"):
            if enabled:
                module.enable_gradient_checkpointing()
            else:
                module.disable_gradient_checkpointing()
        else:
            continue
        training += any(p.requires_grad for p in module.parameters())
    return training
