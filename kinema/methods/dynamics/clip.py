"""A user's video as its own motion model: the paper's data path (Sec. 7, "Data": flow from the
first frame to every later frame, then the temporal FFT of Eq. (2)) turned into a feature, so a
real clip's first frame can be poked at full resolution with the clip's own image-space modal
basis (Davis et al., the paper's refs. [22, 23], which build the basis from a video), no learned
motion prior needed.

The spectral volume keeps the K = min(16, T // 2 + 1) lowest bins of the clip's T frames (T is the
period of its modes, bin j at omega_j = 2 pi j / T radians per frame). Without a trained renderer
the frames are rendered by plain softmax splatting of the picture (an untrained single-scale
``ImageRenderer``: its heads start at zero), weighted by the motion magnitude as in Sec. 5.

``animate_clip`` makes a loop of the clip's motion: the truncated Fourier series of its spectral
volume (Eq. (2) inverted, ``motion.motion_at``) over exactly one period T, so the displacement
after the last frame is the first frame's and the loop closes by construction (the seam the viewer
sees is the band-limited series' own, ``motion.seam_error``). Frame 0 is the series at t = 0, as
on the learned path (docs/methods/dynamics.md, "The first frame"): the full series is 0 there (the
flow from frame 0 to itself), the K kept bins are not, and that "pop" is measured, not corrected.
"""
from __future__ import annotations

from dataclasses import dataclass
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


def read_clip_checked(path: str | Path, command: str):
    """``read_clip`` of a clip a command animates, its frame count and the work of its optical flow
    (one field per frame at full resolution) within the limits (``kinema.validate``)."""
    from kinema.validate import check_frame_count, check_work

    frames = read_clip(path)
    check_frame_count(f"the frames of {Path(path).name}", len(frames))
    check_work(f"{command} (optical flow)", frames.shape[1], frames.shape[2], len(frames))
    return frames


def loop_motion(volume: torch.Tensor, period: int, num_frames: int | None = None, slowmo: float = 1.0,
                magnify: float = 1.0, loop: bool = True) -> torch.Tensor:
    """Motion texture (t 2 h w) of a clip's spectral volume (k 4 h w) of ``period`` frames.

    ``loop``: the t frames show exactly one period, frame i at time i * period / t, so frame t
    would repeat frame 0 and the video closes at any length: t = ``num_frames``, else
    round(period * ``slowmo``) (slow motion stretches the one period over more frames).
    Otherwise frame i is at time i / ``slowmo`` (the learned path's timing, ``apps.animate``),
    t = ``num_frames`` or round(period * ``slowmo``). ``magnify`` scales the motion."""
    from kinema.methods.dynamics.motion import spectral_volume_to_motion

    if not slowmo > 0:
        raise KinemaError(f"slowmo must be a positive factor; got {slowmo}")
    num_frames = max(1, int(round(period * slowmo))) if num_frames is None else int(num_frames)
    if loop:
        slowmo = num_frames / period
    return spectral_volume_to_motion(volume, num_frames, period=period, slowmo=slowmo, magnify=magnify)


@dataclass
class ClipAnimation:
    """What ``animate_clip`` made: ``video`` (t 3 h w) in [-1, 1], ``motion`` (t 2 h w) px (the
    displacement of frame 0's pixels in each frame), ``picture`` (1 3 h w) the clip's first
    frame, ``volume`` (k 4 h w) its spectral volume, ``period`` its frame count T."""
    video: torch.Tensor
    motion: torch.Tensor
    picture: torch.Tensor
    volume: torch.Tensor
    period: int


@torch.no_grad()
def animate_clip(frames, renderer=None, num_frames: int | None = None, slowmo: float = 1.0,
                 magnify: float = 1.0, loop: bool = True, num_frequencies: int = 16,
                 progress: bool | None = None) -> ClipAnimation:
    """A clip's first frame animated at full resolution by the clip's own motion: frames (T h w 3)
    uint8 RGB -> ``clip_motion`` (DIS flow, the K = ``num_frequencies`` lowest bins) ->
    ``loop_motion`` (one whole period when ``loop``) -> rendered by ``renderer`` (a trained
    ``dynamics-render`` model's, or by default plain softmax splatting, ``splatting_renderer``)
    on the renderer's device, with the splatting weight of one period (Sec. 5)."""
    from kinema.methods.dynamics.apps import period_weight

    picture, volume, period = clip_motion(frames, num_frequencies, progress=progress)
    renderer = splatting_renderer(*picture.shape[-2:]) if renderer is None else renderer
    renderer.check_picture(picture)
    device = next(renderer.parameters()).device
    motion = loop_motion(volume, period, num_frames, slowmo, magnify, loop)
    weight = period_weight(volume[None], period, magnify)
    video = renderer.render(picture.to(device), motion[None].to(device), weight.to(device))[0]
    return ClipAnimation(video.cpu(), motion, picture, volume, period)
