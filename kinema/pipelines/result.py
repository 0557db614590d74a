"""The result every pipeline returns: the videos, what was done to the input, and ways to
save and look at them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kinema.data.io import write_atomic


# a saved .png grid: each frame's short side at least this many pixels (nearest upscaling by
# an integer factor), the whole picture at most SAVED_GRID_MAX_SIDE on its long side
SAVED_GRID_CELL = 96
SAVED_GRID_MAX_SIDE = 8192


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b) if a > 0 else 0


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

    def grid(self, upscale_to: int = 0, cell_size: int = 0,
             max_side: int = SAVED_GRID_MAX_SIDE) -> np.ndarray:
        """One picture (H W 3) uint8: a row per video, a column per frame, the input
        (picture or last context frame) in the first column, 2-px white gaps between cells;
        upscaled by an integer factor (nearest) until the picture's short side reaches
        ``upscale_to`` and each cell's short side reaches ``cell_size``, but never past
        ``max_side`` pixels on the long side (so a long video stays a picture one can open)."""
        from kinema.viz.grid import filmstrip

        videos = self.frames_float.float().cpu()
        if self.inputs is not None:
            first = self.inputs[-1:].float().cpu().expand(videos.shape[0], -1, -1, -1)
            videos = torch.cat([first[:, None], videos], dim=1)
        image = filmstrip(videos)
        picture = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        picture = picture.expand(3, -1, -1).permute(1, 2, 0).numpy()
        factor = max(1, _ceil_div(upscale_to, min(picture.shape[:2])),
                     _ceil_div(cell_size, min(videos.shape[-2:])))
        factor = max(1, min(factor, max_side // max(picture.shape[:2])))
        return np.ascontiguousarray(picture.repeat(factor, 0).repeat(factor, 1))

    def save(self, path: str | Path, fps: float | None = None) -> list[Path]:
        """Write the videos: ``x.mp4`` / ``x.gif`` (one video: that file; several: x-00.mp4,
        x-01.mp4, ...), or ``x.png`` (the ``grid()`` picture, each frame upscaled to at least
        ``SAVED_GRID_CELL`` px so that a 16-px model's strip is a picture a person can see).
        Returns the files written."""
        from kinema.data.io import write_video
        from kinema.errors import KinemaError
        from kinema.outputs import numbered
        from kinema.viz.report import encode_png

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            return [write_atomic(path, encode_png(self.grid(cell_size=SAVED_GRID_CELL)))]
        if suffix not in (".mp4", ".gif"):
            raise KinemaError(f"{path}: save as .mp4, .gif or .png")
        fps = fps or self.fps
        return [write_video(path.with_name(numbered(path.stem, i, len(self), suffix)), video, fps=fps)
                for i, video in enumerate(self.frames_float)]
