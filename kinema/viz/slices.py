"""Space-time slices: one row (or column) of pixels stacked over time.

The papers show motion this way (e.g. the X-t slices of the Generative Image Dynamics paper,
Fig. 5): a still scene gives vertical streaks, a moving edge a slanted line whose slope is its
speed, an oscillation a wave. Works on torch tensors and numpy arrays alike; the result has the
input's type and value range.
"""
from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from einops import rearrange

from kinema.errors import KinemaError

Array = TypeVar("Array", torch.Tensor, np.ndarray)


def _check_video(video: Array) -> None:
    if video.ndim != 4:
        raise KinemaError(f"video must be (t c h w), got shape {tuple(video.shape)}")


def _as_float64(x: Array) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _temporal_variance(video: Array) -> np.ndarray:
    _check_video(video)
    return _as_float64(video).var(axis=0)  # (c h w)


def most_moving_row(video: Array) -> int:
    """The row whose pixels change most over time (summed temporal variance): the row an
    X-t slice should take when the caller has no better idea. video: (t c h w)."""
    return int(_temporal_variance(video).sum(axis=(0, 2)).argmax())


def most_moving_column(video: Array) -> int:
    """The column whose pixels change most over time. video: (t c h w)."""
    return int(_temporal_variance(video).sum(axis=(0, 1)).argmax())


def _checked_index(index: int, size: int, what: str) -> int:
    if not -size <= index < size:
        raise KinemaError(f"{what} {index} is outside the frame (size {size})")
    return index % size


def xt_slice(video: Array, row: int | None = None) -> Array:
    """One row of pixels over time. video: (t c h w). Returns (c t w): time runs downwards,
    x to the right. ``row=None`` picks the most moving row (see ``most_moving_row``)."""
    _check_video(video)
    row = most_moving_row(video) if row is None else _checked_index(row, video.shape[2], "row")
    return rearrange(video[:, :, row, :], "t c w -> c t w")


def yt_slice(video: Array, column: int | None = None) -> Array:
    """One column of pixels over time. video: (t c h w). Returns (c h t): y runs downwards,
    time to the right. ``column=None`` picks the most moving column."""
    _check_video(video)
    column = (most_moving_column(video) if column is None
              else _checked_index(column, video.shape[3], "column"))
    return rearrange(video[:, :, :, column], "t c h -> c h t")


def _is_float(x: Array) -> bool:
    if isinstance(x, torch.Tensor):
        return x.dtype.is_floating_point
    return bool(np.issubdtype(x.dtype, np.floating))


def _line_color(frame: Array, color: tuple[float, ...] | None) -> list[float]:
    channels = frame.shape[0]
    if color is None:  # red in the frame's own range: [-1, 1] floats or [0, 255] integers
        high, low = (1.0, -1.0) if _is_float(frame) else (255, 0)
        color = (high, low, low) if channels == 3 else (high,) * channels
    if len(color) != channels:
        raise KinemaError(f"color has {len(color)} values, the frame has {channels} channels")
    return list(color)


def _mark(frame: Array, index: int, dim: int, color: tuple[float, ...] | None) -> Array:
    """A copy of ``frame`` (c h w) with line ``index`` along ``dim`` (1: a row, 2: a column)
    drawn in ``color``."""
    if frame.ndim != 3:
        raise KinemaError(f"frame must be (c h w), got shape {tuple(frame.shape)}")
    index = _checked_index(index, frame.shape[dim], "row" if dim == 1 else "column")
    marked = frame.clone() if isinstance(frame, torch.Tensor) else frame.copy()
    for channel, value in enumerate(_line_color(frame, color)):
        marked[(channel,) + (slice(None),) * (dim - 1) + (index,)] = value
    return marked


def mark_row(frame: Array, row: int, color: tuple[float, ...] | None = None) -> Array:
    """A copy of ``frame`` (c h w) with ``row`` drawn as a line, to show where an X-t slice was
    taken. The default colour is red for RGB (white for grey) in the frame's value range."""
    return _mark(frame, row, 1, color)


def mark_column(frame: Array, column: int, color: tuple[float, ...] | None = None) -> Array:
    """A copy of ``frame`` (c h w) with ``column`` drawn as a line (see ``mark_row``)."""
    return _mark(frame, column, 2, color)
