"""A chain of invertible layers that sums their log-determinants, runs in reverse, and can
back-propagate without storing activations.

Memory-saving backpropagation (``memory_saving=True``): the forward pass runs under
``torch.no_grad`` and keeps only the chain's output. In the backward pass each layer's input
is recomputed from its output by the layer's exact inverse, the layer is re-run on it with
autograd on, and the incoming gradient is pushed through that one layer; its activations are
freed before the next. Memory then stays constant in the number of layers (RevNets, Gomez et
al. 2017; i-RevNet, Jacobsen et al. 2018; memcnn), at the price of one inverse and one extra
forward per layer (for an affine coupling one subnet pass serves both: ``recompute``). The
ILE paper names memory as its limit (Sec. 4); this is the remedy.
Written by hand because FrEIA 0.2 has no reversible backward and memcnn is not a dependency;
gradients equal ordinary backpropagation up to the round-off of the inverse
(tests/nn/test_invertible.py checks this in float64).
"""
from __future__ import annotations

import os
from typing import Iterable

import torch
from torch import nn

from kinema.nn.invertible.layers import InvertibleLayer
from kinema.nn.precision import autocast_state, restored_autocast, to_fp32


class InvertibleSequence(InvertibleLayer):
    """Layers applied in order; ``forward(x, cond, reverse) -> (y, summed logdet (b,))``.

    Every member gets the same ``cond`` (layers without a condition ignore it)."""

    def __init__(self, layers: Iterable[nn.Module], memory_saving: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.memory_saving = memory_saving

    def __len__(self) -> int:
        return len(self.layers)

    def run(self, x: torch.Tensor, cond: torch.Tensor | None = None,
            reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Plain composition (ordinary autograd stores every activation)."""
        logdet = x.new_zeros(x.shape[0])
        for layer in (reversed(self.layers) if reverse else self.layers):
            x, ld = layer(x, cond=cond, reverse=reverse)
            logdet = logdet + ld
        return x, logdet

    def forward(self, x, cond=None, reverse=False):
        # The flow's state and summed log-determinant are float32 even when x comes out of an
        # autocast network in 16 bits; the couplings' subnets alone run in 16 bits (their
        # scale and shift, and the 1x1 convolutions, are fp32 islands).
        x, cond = to_fp32(x), to_fp32(cond)
        if reverse or not self.memory_saving:    # (no walk over the parameters then)
            return self.run(x, cond, reverse)
        needs_graph = torch.is_grad_enabled() and (
            x.requires_grad or (cond is not None and cond.requires_grad)
            or any(p.requires_grad for p in self.parameters()))
        if not needs_graph:
            return self.run(x, cond, reverse)
        params = [p for p in self.parameters() if p.requires_grad]
        return _MemorySavingChain.apply(x, cond, self, *params)


# glibc's mallopt parameters and the environment variables that set them (the user's wins)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_ALLOCATOR = {"tuned": False}


def keep_freed_memory() -> bool:
    """Once per process, on glibc: stop returning freed heap to the OS after every layer.

    The memory-saving backward allocates one layer's activations at a time and frees them
    before the next; with glibc's dynamic defaults the freed top of the heap is trimmed (and
    blocks past the mmap threshold unmapped), so every layer's tensors were page-faulted in
    anew: 2x the ordinary step's time instead of 1.3x (issue 16, benchmarks/speed.md). The
    peak memory is unchanged; the process keeps what it freed for reuse. Skipped when the
    user set MALLOC_TRIM_THRESHOLD_ or MALLOC_MMAP_THRESHOLD_. Returns whether it applied."""
    if _ALLOCATOR["tuned"]:
        return False
    _ALLOCATOR["tuned"] = True
    if any(k in os.environ for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")):
        return False
    import ctypes
    import ctypes.util
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)       # glibc's largest
                    and libc.mallopt(_M_TRIM_THRESHOLD, 2**30))
    except (OSError, AttributeError):
        return False


class _MemorySavingChain(torch.autograd.Function):
    """Forward without a graph; backward recomputes each layer's input by inversion."""

    @staticmethod
    def forward(ctx, x, cond, sequence, *params):
        with torch.no_grad():
            y, logdet = sequence.run(x, cond)
        ctx.sequence = sequence
        ctx.params = params
        ctx.autocast = autocast_state()   # the inversion must see the subnets the forward saw
        ctx.save_for_backward(y, cond)
        return y, logdet

    @staticmethod
    def backward(ctx, grad_y, grad_logdet):
        keep_freed_memory()
        y, cond = ctx.saved_tensors
        sequence, params = ctx.sequence, ctx.params
        grad_y = torch.zeros_like(y) if grad_y is None else grad_y
        if grad_logdet is None:
            grad_logdet = y.new_zeros(y.shape[0])
        index = {id(p): i for i, p in enumerate(params)}
        param_grads: list[torch.Tensor | None] = [None] * len(params)
        cond_needs_grad = cond is not None and ctx.needs_input_grad[1]
        grad_cond = None
        current = y.detach()
        # the same autocast as the forward pass, so each subnet inverts what it computed
        with restored_autocast(ctx.autocast):
            for layer in reversed(sequence.layers):
                layer_cond = cond.detach().requires_grad_(True) if cond_needs_grad else cond
                layer_params = [p for p in layer.parameters() if id(p) in index]
                parts, join, out, logdet = layer.recompute(current, cond=layer_cond)
                outputs, out_grads = [out], [grad_y]
                if logdet.requires_grad:
                    outputs.append(logdet)
                    out_grads.append(grad_logdet)
                inputs = [*parts, *layer_params] + ([layer_cond] if cond_needs_grad else [])
                grads = torch.autograd.grad(outputs, inputs, out_grads, allow_unused=True)
                n = len(parts)
                grad_y = join([g if g is not None else torch.zeros_like(p)
                               for g, p in zip(grads[:n], parts)])
                for p, g in zip(layer_params, grads[n:n + len(layer_params)]):
                    if g is not None:
                        i = index[id(p)]
                        param_grads[i] = g if param_grads[i] is None else param_grads[i] + g
                if cond_needs_grad and grads[-1] is not None:
                    grad_cond = grads[-1] if grad_cond is None else grad_cond + grads[-1]
                current = join([p.detach() for p in parts])
                del out, logdet, outputs, grads, parts
        grad_x = grad_y if ctx.needs_input_grad[0] else None
        return (grad_x, grad_cond, None, *param_grads)
