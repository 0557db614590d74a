"""Every random number generator a training step can touch: seeding, capture and restore.

Captured states hold only tensors, ints, floats, tuples and lists, so a checkpoint stores them
with ``torch.save`` and reads them back with ``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
        # this rank's own GPU only (a run saved on 8 GPUs resumes on 4), and only once CUDA
        # is in use (a CPU run on a GPU machine must not start a CUDA context for it)
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else [],
    }


def restore_rng(state: dict) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    cuda = state["cuda"]
    # a list: every visible GPU's state (checkpoints written before issue 23), or [] from a
    # rank that never used CUDA; a tensor: this rank's own GPU's
    if isinstance(cuda, list):
        device = torch.cuda.current_device() if torch.cuda.is_available() else len(cuda)
        cuda = cuda[device] if device < len(cuda) else None
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda)
