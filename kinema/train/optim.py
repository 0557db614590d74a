"""Which AdamW implementation a run uses (``train.optimizer_impl``).

The three compute the same update: ``plain`` loops over the parameters in Python, one tensor
at a time (torch's CPU default); ``foreach`` applies each step of the update to all tensors of
a group at once (``torch._foreach_*``); ``fused`` runs the whole update of each parameter in
one kernel. At 47 M parameters on one CPU thread, ``plain`` took 425 ms per step against
60 ms fused (../shared/ENVIRONMENT.md), and its temporaries churn the heap after every
backward. ``fused`` is the default; where the device or a dtype has no fused kernel the run
falls back to ``foreach`` (tests/train/test_train_optim.py: the three agree after 10 steps).
"""
from __future__ import annotations

import torch

IMPLEMENTATIONS = ("fused", "foreach", "plain")


def fused_supported(params) -> bool:
    """True when torch has a fused AdamW kernel for every parameter's device and dtype."""
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    devices = _get_fused_kernels_supported_devices()
    return all(p.is_floating_point() and p.device.type in devices for p in params)


def implementation_options(impl: str, params) -> dict:
    """AdamW keyword arguments that select ``impl`` for ``params`` (fused falls back to foreach
    where there is no fused kernel)."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"optimizer_impl must be one of {', '.join(IMPLEMENTATIONS)}, got {impl!r}")
    if impl == "plain":
        return {"foreach": False, "fused": False}
    if impl == "fused" and fused_supported(params):
        return {"foreach": False, "fused": True}
    return {"foreach": True, "fused": False}


def make_adamw(params, impl: str = "fused", **options) -> torch.optim.AdamW:
    """``torch.optim.AdamW(params, **options)`` with the implementation ``impl``."""
    params = list(params)
    return torch.optim.AdamW(params, **options, **implementation_options(impl, params))
