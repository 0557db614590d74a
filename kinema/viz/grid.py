"""Tile a batch of videos (or images) into one video (or image), cells separated by ``pad``
pixels of ``pad_value``. (Written by hand: torchvision's ``make_grid`` is the usual tool, but
torchvision does not install beside the local torch; this is the same picture for videos.)"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange


def video_grid(videos: torch.Tensor, nrow: int | None = None, pad: int = 2,
               pad_value: float = 1.0) -> torch.Tensor:
    """(b t c h w) -> (t c H W): ``nrow`` videos per row (default ceil(sqrt(b))), ``pad``
    pixels between cells (none around the border); empty cells are filled with ``pad_value``
    (1.0 = white for videos in [-1, 1])."""
    if videos.ndim != 5:
        raise ValueError(f"video_grid expects (b t c h w), got shape {tuple(videos.shape)}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    b = videos.shape[0]
    ncol = nrow if nrow is not None else math.ceil(math.sqrt(b))
    if ncol < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    ncol = min(ncol, b)
    rows = math.ceil(b / ncol)
    cells = F.pad(videos, (0, pad, 0, pad), value=pad_value)          # (b t c h+pad w+pad)
    if rows * ncol > b:
        blank = torch.full_like(cells[:1], pad_value).expand(rows * ncol - b, *cells.shape[1:])
        cells = torch.cat([cells, blank])
    grid = rearrange(cells, "(r n) t c h w -> t c (r h) (n w)", r=rows, n=ncol)
    return grid[..., :grid.shape[-2] - pad, :grid.shape[-1] - pad]   # drop the outer pad


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2,
               pad_value: float = 1.0) -> torch.Tensor:
    """(b c h w) -> (c H W), the one-frame case of ``video_grid``."""
    if images.ndim != 4:
        raise ValueError(f"image_grid expects (b c h w), got shape {tuple(images.shape)}")
    return video_grid(images[:, None], nrow=nrow, pad=pad, pad_value=pad_value)[0]


def filmstrip(videos: torch.Tensor, pad: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """(n t c h w) -> (c H W): one row per video, one column per frame."""
    if videos.ndim != 5:
        raise ValueError(f"filmstrip expects (n t c h w), got shape {tuple(videos.shape)}")
    frames = rearrange(videos, "n t c h w -> (n t) c h w")
    return image_grid(frames, nrow=videos.shape[1], pad=pad, pad_value=pad_value)
