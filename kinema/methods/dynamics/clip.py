"""A user's video as its own motion model: the paper's data path (Sec. 7, "Data": flow from the
first frame to every later frame, then the temporal FFT of Eq. (2)) turned into a feature, so a
real clip's first frame can be poked at full resolution with the clip's own image-space modal
basis (Davis et al., the paper's refs. [22, 23], which build the basis from a video), no learned
motion prior needed.

The spectral volume keeps the K = min(16, T // 2 + 1) lowest bins of the clip's T frames (T is the
period of its modes, bin j at omega_j = 2 pi j / T radians per frame). Without a trained renderer
the frames are rendered by plain softmax splatting of the picture (an untrained single-scale
``ImageRenderer``: its heads start at zero), weighted by the motion magnitude as in Sec. 5.
"""
from __future__ import annotations

from pathlib import Path

import torch

from kinema.errors import KinemaError

MIN_CLIP_FRAMES = 4   # the lowest oscillating bin of a shorter clip is its Nyquist bin


def clip_motion(frames, num_frequencies: int = 16, method: str = "dis",
                progress: bool | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(picture (1 3 h w) in [-1, 1], spectral volume (k 4 h w) in px, period T) of a clip given as
    (T h w 3) uint8 RGB frames: DIS flow from frame 0 to every frame (``kinema.data.flow``,
    the forward trajectories of Eq. (1)), its K lowest rfft bins; ``progress``: the flow's bar."""
    import numpy as np

    from kinema.data.flow import video_spectral_volume

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise KinemaError(f"a clip must be (frames, height, width, 3) uint8 RGB; got {frames.dtype} "
                          f"{tuple(frames.shape)}")
    period = frames.shape[0]
    if period < MIN_CLIP_FRAMES:
        raise KinemaError(f"a clip needs at least {MIN_CLIP_FRAMES} frames to have a motion spectrum; got {period}")
    volume = video_spectral_volume(frames, min(num_frequencies, period // 2 + 1), method=method, progress=progress)
    picture = torch.from_numpy(frames[0]).permute(2, 0, 1).float()[None] / 127.5 - 1.0
    return picture, volume, period


def read_clip(path: str | Path):
    """(T h w 3) uint8 frames of a video file or a folder of frames, as kinema reads videos."""
    from kinema.data.io import read_video

    return read_video(path)


def splatting_renderer(height: int, width: int):
    """Plain softmax splatting of the picture by the motion (no trained weights)."""
    from kinema.methods.dynamics.config import RenderConfig
    from kinema.methods.dynamics.render import ImageRenderer

    config = RenderConfig(attention_path="", diffusion_path="", image_size=(height, width), widths=(8,))
    return ImageRenderer(config).eval()
