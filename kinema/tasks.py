"""The three task protocols of DESIGN.md. Every method declares which ones it serves.

A video is always a tensor ``(b t c h w)``, float in [-1, 1], on the model's device.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class ImageToVideo(Protocol):
    def sample(self, x0: torch.Tensor, num_frames: int, num_samples: int = 1,
               control: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """x0: (b c h w) start frames. Returns (b n t c h w): n samples of t frames each,
        frame 0 being (a reconstruction of) x0. ``control``: (b k) one-hot eta, or None."""
        ...


@runtime_checkable
class Prediction(Protocol):
    def predict(self, context: torch.Tensor, num_frames: int, num_samples: int = 1,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """context: (b k c h w) observed frames. Returns (b n t c h w): n samples of the
        t frames that follow the context (n=1 with a deterministic model gives its mean)."""
        ...


@runtime_checkable
class Generation(Protocol):
    def generate(self, num_videos: int, num_frames: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Returns (b t c h w) videos drawn from the model."""
        ...


def check_video(video: torch.Tensor, name: str = "video") -> torch.Tensor:
    """Assert the (b t c h w) float layout; returns the tensor for chaining."""
    if video.ndim != 5:
        raise ValueError(f"{name} must be (b t c h w), got shape {tuple(video.shape)}")
    if not video.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [-1, 1], got {video.dtype}")
    return video
