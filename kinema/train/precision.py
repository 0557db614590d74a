"""Mixed precision for the trainer (``train.precision``, ``train.tf32``).

- ``fp32``: no autocast; the weights, gradients and optimiser states are float32 in every mode.
- ``bf16``: each ``training_step`` runs under ``torch.autocast(device_type, torch.bfloat16)``.
  bfloat16 has float32's exponent range, so gradients cannot overflow: no loss scaling.
- ``auto`` (the presets' choice): ``bf16`` where bfloat16 has hardware support
  (``bfloat16_is_fast``: a CUDA GPU with bf16, a CPU with AVX512-BF16 or AMX), else ``fp32``.
  Without that support autocast emulates bf16: on an AVX2-only AMD EPYC (2026-12-07) a 3x3
  convolution's forward and backward ran 15-26x slower than fp32 (a small-preset VAE step 40 s
  against 4 s), so a preset that names bf16 outright would make the CPU runs it was meant to
  speed up crawl. The run says which it chose (``precision.resolved``, printed at the start).
- ``fp16``: autocast to float16 and one ``torch.amp.GradScaler`` per optimiser group (a GAN's
  two players see gradients of different sizes, so each keeps its own scale). A group whose
  unscaled gradient holds an inf or NaN is not updated, its scale is halved, and the step is
  counted (``overflow_skipped`` in metrics.jsonl, ``<group>/loss_scale`` beside the losses).
  Such a skip is the scaler finding its range, not a diverging run: it does not count toward
  ``train.max_nonfinite``.

The numerically delicate parts of each method stay float32 inside autocast, in the islands of
``kinema.nn.precision``. ``train.tf32`` lets CUDA matmuls and cuDNN convolutions of float32
tensors (the islands, and whole ``fp32`` runs) use TensorFloat-32 on Ampere and later GPUs; on
a CPU it changes nothing (the switches only exist for CUDA).
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

from kinema.errors import KinemaError
from kinema.nn.precision import bfloat16_is_fast

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def set_tf32(enabled: bool, device: torch.device) -> None:
    """The CUDA TF32 switches for matmul and cuDNN; nothing on other devices."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
        torch.backends.cudnn.allow_tf32 = bool(enabled)


class MixedPrecision:
    """Autocast and, for fp16, a loss scaler per optimiser group."""

    def __init__(self, precision: str, device: torch.device, groups):
        if precision not in PRECISIONS:
            raise KinemaError(f"train.precision must be one of {', '.join(PRECISIONS)}, "
                              f"got {precision!r}")
        if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise KinemaError(f"train.precision=bf16: the GPU {torch.cuda.get_device_name(device)} "
                              f"has no bfloat16; use train.precision=fp16 or fp32")
        self.requested = precision
        if precision == "auto":
            precision = "bf16" if bfloat16_is_fast(device) else "fp32"
        self.precision, self.device = precision, device
        self.dtype = _DTYPES.get(precision)
        self.scalers = {g: torch.amp.GradScaler(device.type) for g in groups} \
            if precision == "fp16" else {}
        self.skipped = 0             # fp16 steps whose gradients overflowed (all groups, total)

    def autocast(self):
        """The context a ``training_step`` runs in (nothing for fp32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def scaled(self, loss: torch.Tensor, group: str) -> torch.Tensor:
        """The loss to back-propagate: times the group's scale under fp16."""
        scaler = self.scalers.get(group)
        return scaler.scale(loss) if scaler is not None else loss

    def unscale(self, optimizer, group: str) -> None:
        """Divide the group's gradients by its scale (before clipping sees them)."""
        scaler = self.scalers.get(group)
        if scaler is not None:
            scaler.unscale_(optimizer)

    def finish(self, group: str, overflowed: bool) -> None:
        """After the group's (possibly skipped) update: adapt its scale, count an overflow."""
        scaler = self.scalers.get(group)
        if scaler is None:
            return
        scaler.update()          # halves the scale after an overflow, grows it after a streak
        self.skipped += int(overflowed)

    def loss_scale(self, group: str) -> float | None:
        scaler = self.scalers.get(group)
        return float(scaler.get_scale()) if scaler is not None else None

    def state_dict(self) -> dict:
        return {"skipped": self.skipped,
                "scalers": {g: s.state_dict() for g, s in self.scalers.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Scales and counters of a checkpoint; one written in another precision starts each
        scaler afresh."""
        self.skipped = int(state.get("skipped", 0))
        for g, saved in state.get("scalers", {}).items():
            if g in self.scalers and saved:
                self.scalers[g].load_state_dict(saved)
