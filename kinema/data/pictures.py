"""A user's picture or clip as a model input: the one conversion every image-to-video method
uses, so "what happens to my photo" has one answer.

The picture is read by ``kinema.data.io.read_image`` (a regular file, sized by its header and
refused above the pixel limit before decoding, at least 4x4), centre-cropped to the model's
aspect ratio, resized with area averaging (``kinema.data.folders.fit_frame``), scaled to
[-1, 1] and, for a grey model, averaged over RGB.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from kinema.errors import KinemaError


def frames_to_model(frames: list[np.ndarray], channels: int, size: int | tuple[int, int]) -> torch.Tensor:
    """(h w 3) uint8 RGB frames -> (n channels H W) in [-1, 1] (``size``: side or (H, W))."""
    from kinema.data.folders import fit_frame
    from kinema.data.io import to_tensor

    if channels not in (1, 3):
        raise KinemaError(f"a model input has 1 or 3 channels, not {channels}")
    shape = (size, size) if isinstance(size, int) else tuple(size)
    video = to_tensor(np.stack([fit_frame(f, shape) for f in frames]))   # (n c h w)
    return video.mean(1, keepdim=True) if channels == 1 else video


def picture_to_model(path: str | Path, channels: int, size: int | tuple[int, int]) -> torch.Tensor:
    """A picture file -> (1 channels H W) in [-1, 1]."""
    from kinema.data.io import read_image

    return frames_to_model([read_image(path)], channels, size)


def clip_to_model(path: str | Path, channels: int, size: int | tuple[int, int],
                  num_frames: int) -> torch.Tensor:
    """The first ``num_frames`` of a video file or frame folder -> (1 t channels H W) in
    [-1, 1] (only those frames are decoded)."""
    from kinema.data.io import iter_frames

    frames = list(itertools.islice(iter_frames(path), num_frames))
    if len(frames) < num_frames:
        raise KinemaError(f"{path} has {len(frames)} frames; the model reads clips of {num_frames}")
    return frames_to_model(frames, channels, size)[None]
