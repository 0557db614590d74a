"""A finished job's results as files to keep: each video as .mp4, .gif or a .png of its frames,
each still as it was made (PNG, or the SVG of a plot).

A video is held as the PNG sprite sheet the page plays (``kinema.serve.media.sprite_sheet``);
a download cuts the frames back out of it and encodes them with ``kinema.data.io.write_video``
(the command line's writer), in a temporary folder removed at once. Frames smaller than
``MIN_SIDE`` px are enlarged by a whole factor, nearest neighbour, so an 8 px model's video is
a file a player shows at a visible size with its pixels intact.
"""
from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np

from kinema.serve.jobs import Job
from kinema.serve.requests import ApiError
from kinema.validate import short_repr

VIDEO_FORMATS = {"mp4": "video/mp4", "gif": "image/gif", "png": "image/png"}
STILL_FORMATS = {"image/png": "png", "image/svg+xml": "svg"}
MIN_SIDE = 128


def upscale_factor(height: int, width: int) -> int:
    """The whole factor that makes the longer side at least ``MIN_SIDE`` px (1 if it is)."""
    return max(1, math.ceil(MIN_SIDE / max(height, width)))


def frames_of(sheet_png: bytes, layout: dict) -> np.ndarray:
    """The sprite sheet's frames in order: (t h w 3) uint8 (the inverse of ``sprite_sheet``)."""
    from PIL import Image

    sheet = np.asarray(Image.open(io.BytesIO(sheet_png)).convert("RGB"))
    t, h, w, columns = (layout[k] for k in ("frames", "height", "width", "columns"))
    return np.stack([sheet[(i // columns) * h:(i // columns + 1) * h, (i % columns) * w:(i % columns + 1) * w]
                     for i in range(t)])


def encode_video(frames: np.ndarray, fmt: str, fps: float) -> bytes:
    """(t h w 3) uint8 -> the bytes of an .mp4, a .gif or a .png of the frames in a grid."""
    from kinema.data.io import write_video
    from kinema.serve.media import sprite_sheet

    scale = upscale_factor(*frames.shape[1:3])
    frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    if fmt == "png":
        return sprite_sheet(frames)[0]
    with tempfile.TemporaryDirectory(prefix="kinema-download-") as folder:
        return write_video(Path(folder) / f"video.{fmt}", frames, fps=fps).read_bytes()


def download(job: Job, index: int, fmt: str) -> tuple[bytes, str, str]:
    """(bytes, media type, file name) of media ``index`` of a finished job as ``fmt``."""
    if job.result is None or not 0 <= index < len(job.result.media):
        raise ApiError(404, f"job {job.id} has no media #{index}")
    videos = {v["media"]: v for v in job.result.info.get("videos", [])}
    name = f"{job.kind}-{job.id[:6]}-{index}"
    if index in videos:
        if fmt not in VIDEO_FORMATS:
            raise ApiError(404, f"a video downloads as {', '.join(VIDEO_FORMATS)}, not {short_repr(fmt)}")
        video = videos[index]
        data = encode_video(frames_of(job.result.media[index], video), fmt, video.get("fps") or 8.0)
        return data, VIDEO_FORMATS[fmt], f"{name}.{fmt}"
    mime = job.result.types[index]
    if STILL_FORMATS.get(mime) != fmt:
        raise ApiError(404, f"media #{index} of job {job.id} downloads as "
                            f"{STILL_FORMATS.get(mime, 'its own format')}, not {short_repr(fmt)}")
    return job.result.media[index], mime, f"{name}.{fmt}"
