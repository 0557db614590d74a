"""Samples a run writes while it trains (every ``train.sample_every`` steps and at the last
step): ``samples/step-NNNNNN.mp4`` (the batch tiled into one video) and
``samples/step-NNNNNN.png`` (a row per sample, a column per frame), and, when TensorBoard is
on, the same picture as an image under ``samples`` (TensorBoard's ``add_video`` needs
moviepy, which kinema does not install; a frame grid shows the same thing in the Images tab).
"""
from __future__ import annotations

from pathlib import Path

import torch


def sample_picture(video: torch.Tensor) -> torch.Tensor:
    """(b t c h w) in [-1, 1] -> (3 H W) uint8: a row per sample, a column per frame."""
    from kinema.viz.grid import filmstrip

    strip = filmstrip(video.float().cpu())
    return ((strip.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).expand(3, -1, -1)


def write_samples(out_dir: Path, step: int, video: torch.Tensor, writer=None) -> list[Path]:
    """Write one step's samples (see the module docstring); returns the files."""
    from kinema.data.io import write_video
    from kinema.viz.report import encode_png

    folder = Path(out_dir) / "samples"
    mp4 = write_video(folder / f"step-{step:06d}.mp4", video.float().cpu())
    picture = sample_picture(video)
    png = folder / f"step-{step:06d}.png"
    tmp = png.with_name(f".{png.name}.tmp")
    tmp.write_bytes(encode_png(picture.permute(1, 2, 0).numpy(), min_size=128))
    tmp.replace(png)
    if writer is not None:
        writer.add_image("samples", picture, step, dataformats="CHW")
        writer.flush()
    return [mp4, png]


def samples_written(out_dir: Path) -> bool:
    folder = Path(out_dir) / "samples"
    return folder.is_dir() and any(folder.glob("step-*.mp4"))
