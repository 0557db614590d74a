"""The result every pipeline returns: the videos, what was done to the input, and ways to
save and look at them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kinema.data.io import write_atomic


@dataclass
class VideoResult:
    """``frames_float``: (n t c h w) float in [-1, 1]. ``inputs``: the model input the videos
    start from or continue ((k c h w) context frames or a (1 c h w) picture; None for
    generation). ``info``: what the pipeline did (input size and crop, frames, seed, ...)."""
    frames_float: torch.Tensor
    inputs: torch.Tensor | None = None
    info: dict = field(default_factory=dict)
    fps: float = 8.0

    @property
    def frames(self) -> np.ndarray:
        """(n t h w c) uint8 RGB (grey models give three equal channels)."""
        from kinema.data.io import to_uint8

        return np.stack([to_uint8(video) for video in self.frames_float])

    def __len__(self) -> int:
        return self.frames_float.shape[0]

    def grid(self, upscale_to: int = 0) -> np.ndarray:
        """One picture (H W 3) uint8: a row per video, a column per frame, the input
        (picture or last context frame) in the first column, 2-px white gaps between cells; upscaled by an
        integer factor (nearest) until the short side reaches ``upscale_to``."""
        from kinema.viz.grid import filmstrip

        videos = self.frames_float.float().cpu()
        if self.inputs is not None:
            first = self.inputs[-1:].float().cpu().expand(videos.shape[0], -1, -1, -1)
            videos = torch.cat([first[:, None], videos], dim=1)
        image = filmstrip(videos)
        picture = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        picture = picture.expand(3, -1, -1).permute(1, 2, 0).numpy()
        factor = max(1, -(-upscale_to // min(picture.shape[:2]))) if upscale_to else 1
        return np.ascontiguousarray(picture.repeat(factor, 0).repeat(factor, 1))

    def save(self, path: str | Path, fps: float | None = None) -> list[Path]:
        """Write the videos: ``x.mp4`` / ``x.gif`` (one video: that file; several: x-00.mp4,
        x-01.mp4, ...), or ``x.png`` (the ``grid()`` picture). Returns the files written."""
        from kinema.data.io import write_video
        from kinema.errors import KinemaError
        from kinema.viz.report import encode_png

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            return [write_atomic(path, encode_png(self.grid()))]
        if suffix not in (".mp4", ".gif"):
            raise KinemaError(f"{path}: save as .mp4, .gif or .png")
        fps = fps or self.fps
        if len(self) == 1:
            return [write_video(path, self.frames_float[0], fps=fps)]
        return [write_video(path.with_name(f"{path.stem}-{i:02d}{suffix}"), video, fps=fps)
                for i, video in enumerate(self.frames_float)]
