"""Reading the training clips of the fitted (closed-form) baselines, and checking inputs."""
from __future__ import annotations

import torch

from kinema.errors import KinemaError


def collect_clips(source, max_clips: int | None = None, progress: bool = True) -> torch.Tensor:
    """Stack clips into one tensor (n t c h w).

    ``source``: a tensor (n t c h w) or (t c h w), or a dataset / sequence of items that are
    dicts with ``video`` (t c h w) or bare (t c h w) tensors. At most ``max_clips`` are read
    (the first ones, so a deterministic dataset gives a deterministic fit)."""
    if isinstance(source, torch.Tensor):
        videos = source.unsqueeze(0) if source.ndim == 4 else source
        if videos.ndim != 5:
            raise KinemaError(f"videos must be (n t c h w), got shape {tuple(source.shape)}")
        return videos[:max_clips].float() if max_clips else videos.float()
    try:
        total = len(source)
    except TypeError as err:
        raise KinemaError(f"fit needs a tensor (n t c h w) or a dataset, got "
                          f"{type(source).__name__}") from err
    if max_clips:
        total = min(total, max_clips)
    if total == 0:
        raise KinemaError("fit got an empty dataset")
    from tqdm.auto import tqdm

    clips = []
    for i in tqdm(range(total), desc="reading clips", disable=not progress, leave=False):
        item = source[i]
        video = item["video"] if isinstance(item, dict) else item
        if not isinstance(video, torch.Tensor) or video.ndim != 4:
            raise KinemaError(f"dataset item {i}: expected a video (t c h w), got "
                              f"{getattr(video, 'shape', type(video).__name__)}")
        clips.append(video.float())
    shapes = {tuple(c.shape) for c in clips}
    if len(shapes) > 1:
        raise KinemaError(f"fit needs clips of one shape, got {sorted(shapes)}")
    return torch.stack(clips)


def check_frames(frames: torch.Tensor, name: str, ndim: int,
                 chw: tuple[int, int, int] | None = None) -> torch.Tensor:
    """Check a float tensor of ``ndim`` dims whose last three are (c h w), optionally equal to
    ``chw`` (the size a fitted model was fitted on)."""
    layout = {4: "(b c h w)", 5: "(b t c h w)"}[ndim]
    if not isinstance(frames, torch.Tensor) or frames.ndim != ndim:
        raise KinemaError(f"{name} must be a tensor {layout}, got "
                          f"{tuple(getattr(frames, 'shape', ()))}")
    if not frames.is_floating_point():
        raise KinemaError(f"{name} must be float in [-1, 1], got {frames.dtype}")
    if chw is not None and tuple(frames.shape[-3:]) != tuple(chw):
        raise KinemaError(f"{name} has frames of (c h w) = {tuple(frames.shape[-3:])}, but the "
                          f"model works on {tuple(chw)}")
    return frames


def check_count(value: int, name: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or value < minimum:
        raise KinemaError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
