"""video_grid / image_grid: every cell lands where it should, pads between cells only."""
from __future__ import annotations

import pytest
import torch

from kinema.viz.grid import image_grid, video_grid


def test_cells_are_placed_row_major_with_padding_between():
    b, t, c, h, w, pad = 5, 2, 3, 4, 6, 2
    videos = torch.rand(b, t, c, h, w) * 2 - 1
    grid = video_grid(videos, nrow=3, pad=pad, pad_value=-0.5)
    assert grid.shape == (t, c, 2 * h + pad, 3 * w + 2 * pad)
    for i in range(b):
        r, n = divmod(i, 3)
        top, left = r * (h + pad), n * (w + pad)
        assert torch.equal(grid[:, :, top:top + h, left:left + w], videos[i])
    assert torch.all(grid[:, :, h:h + pad] == -0.5)                   # horizontal separator
    assert torch.all(grid[:, :, :, w:w + pad] == -0.5)                # vertical separator
    assert torch.all(grid[:, :, h + pad:, 2 * (w + pad):] == -0.5)   # the empty sixth cell


def test_default_layout_is_square_and_single_video_is_unchanged():
    videos = torch.zeros(4, 1, 1, 3, 3)
    assert video_grid(videos).shape == (1, 1, 2 * 3 + 2, 2 * 3 + 2)
    one = torch.rand(1, 2, 3, 5, 7)
    assert torch.equal(video_grid(one), one[0])
    assert video_grid(torch.zeros(3, 1, 1, 2, 2), nrow=10, pad=0).shape == (1, 1, 2, 6)


def test_image_grid_is_one_frame_of_video_grid():
    images = torch.rand(3, 1, 4, 4)
    assert torch.equal(image_grid(images, nrow=2), video_grid(images[:, None], nrow=2)[0])
    with pytest.raises(ValueError, match="b c h w"):
        image_grid(torch.rand(2, 2, 1, 4, 4))


def test_filmstrip_puts_videos_in_rows_and_frames_in_columns():
    from kinema.viz.grid import filmstrip

    videos = torch.arange(2 * 3, dtype=torch.float32).reshape(2, 3, 1, 1, 1).expand(2, 3, 1, 2, 2)
    strip = filmstrip(videos, pad=1, pad_value=-1.0)
    assert strip.shape == (1, 2 * 2 + 1, 3 * 2 + 2)
    for n in range(2):
        for t in range(3):
            cell = strip[0, 3 * n:3 * n + 2, 3 * t:3 * t + 2]
            assert (cell == 3 * n + t).all()
    assert (strip[0, 2] == -1).all() and (strip[0, :, 2] == -1).all()
    with pytest.raises(ValueError, match="n t c h w"):
        filmstrip(videos[0])
