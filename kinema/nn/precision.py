"""fp32 islands: the numerically delicate parts of a method run in float32 under autocast.

``train.precision: bf16`` / ``fp16`` runs a training step under ``torch.autocast``, which
computes matmuls and convolutions in 16 bits. A few computations must not: invertible flows
and their log-determinants (a sum of many small logs), linear systems, FFTs, warping grids
(a sampling position off by 2^-8 of the image moves the picture) and loss reductions. Each of
them is wrapped in one island, named, so ``grep fp32_island`` lists them all:

    with fp32_island("ile linear system", x, a) as (x, a):   # autocast off, inputs float32
        ...

    @fp32_function("gendef warp")
    def warp(image, field): ...

Outside autocast an island changes nothing but the dtype of 16-bit inputs (a float64 input
stays float64, so the float64 gradient tests still test float64). ``observe_islands`` records
every island entered (name, input dtypes, whether autocast was on inside) for the tests that
check the islands stay float32.
"""
from __future__ import annotations

import functools
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import torch

_observers: list[list] = []

# the device types autocast can be on for; an island turns off the ones that are on
_AUTOCAST_DEVICES = ("cpu", "cuda", "mps", "xpu")


@dataclass(frozen=True)
class IslandVisit:
    name: str
    dtypes: tuple            # the dtypes of the island's tensor inputs, after the cast
    autocast: bool           # was autocast enabled for any device inside the island


def to_fp32(value):
    """``value`` with 16-bit floating tensors cast to float32 (float64 and integers kept)."""
    if isinstance(value, torch.Tensor) and value.dtype in (torch.float16, torch.bfloat16):
        return value.float()
    return value


def _autocast_on() -> list[str]:
    on = []
    for device in _AUTOCAST_DEVICES:
        try:
            if torch.is_autocast_enabled(device):
                on.append(device)
        except RuntimeError:          # a device type this torch build does not know
            continue
    return on


@contextmanager
def fp32_island(name: str, *tensors):
    """Autocast off inside; yields ``tensors`` cast to float32 (one tensor alone, a tuple for
    several, nothing for none)."""
    with ExitStack() as stack:
        for device in _autocast_on():
            stack.enter_context(torch.autocast(device_type=device, enabled=False))
        cast = tuple(to_fp32(t) for t in tensors)
        if _observers:
            visit = IslandVisit(name, tuple(t.dtype for t in cast if isinstance(t, torch.Tensor)),
                                bool(_autocast_on()))
            for seen in _observers:
                seen.append(visit)
        yield cast[0] if len(cast) == 1 else (cast if cast else None)


def autocast_state() -> list[tuple[str, torch.dtype]]:
    """The (device type, dtype) of every autocast on here, for ``restored_autocast``."""
    return [(device, torch.get_autocast_dtype(device)) for device in _autocast_on()]


@contextmanager
def restored_autocast(state: list[tuple[str, torch.dtype]]):
    """Autocast as ``autocast_state()`` found it (a custom backward that recomputes a forward
    pass runs outside the forward's autocast, as ``torch.utils.checkpoint`` knows)."""
    with ExitStack() as stack:
        for device, dtype in state:
            stack.enter_context(torch.autocast(device_type=device, dtype=dtype))
        yield


def fp32_function(name: str):
    """Decorate ``fn`` to run as the island ``name``: its positional and keyword tensor
    arguments cast to float32, autocast off."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            args = tuple(to_fp32(a) for a in args)
            kwargs = {k: to_fp32(v) for k, v in kwargs.items()}
            tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
            with fp32_island(name, *tensors):
                return fn(*args, **kwargs)
        return run
    return wrap


@contextmanager
def observe_islands():
    """Record every island entered inside the block: yields a list of ``IslandVisit``."""
    seen: list[IslandVisit] = []
    _observers.append(seen)
    try:
        yield seen
    finally:
        _observers.remove(seen)


def bfloat16_is_fast(device: torch.device | str = "cpu") -> bool:
    """Whether bfloat16 convolutions have hardware support here (CPU: oneDNN's bf16 path, i.e.
    AVX512-BF16 or AMX; CUDA: the device supports bf16); elsewhere autocast would be slower."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
