import numpy as np
import pytest
import torch

from kinema.errors import KinemaError
from kinema.viz.slices import (mark_column, mark_row, most_moving_column, most_moving_row,
                               xt_slice, yt_slice)


def moving_dot_video(t=12, h=10, w=16, row=6, speed=1):
    """A one-pixel dot sliding right along ``row`` by ``speed`` px per frame. (t 1 h w)"""
    video = -torch.ones(t, 1, h, w)
    for step in range(t):
        video[step, 0, row, step * speed] = 1.0
    return video


def test_xt_slice_of_a_moving_dot_is_a_line_whose_slope_is_its_speed():
    video = moving_dot_video(speed=1)
    slice_ = xt_slice(video, row=6)  # (c t w)
    assert slice_.shape == (1, 12, 16)
    bright = slice_[0].argmax(dim=1)  # the dot's x in every frame
    assert torch.equal(bright, torch.arange(12))


def test_xt_slice_matches_plain_indexing_for_rgb_and_numpy():
    video = np.random.default_rng(0).uniform(-1, 1, (5, 3, 7, 9)).astype(np.float32)
    slice_ = xt_slice(video, row=2)
    assert isinstance(slice_, np.ndarray) and slice_.shape == (3, 5, 9)
    for t in range(5):
        np.testing.assert_array_equal(slice_[:, t, :], video[t, :, 2, :])


def test_yt_slice_puts_time_on_the_horizontal_axis():
    video = moving_dot_video().transpose(2, 3)  # the dot now slides down column 6
    slice_ = yt_slice(video, column=6)  # (c h t)
    assert slice_.shape == (1, 16, 12)
    assert torch.equal(slice_[0].argmax(dim=0), torch.arange(12))


def test_default_row_and_column_are_where_the_motion_is():
    video = moving_dot_video(row=3)
    assert most_moving_row(video) == 3
    assert torch.equal(xt_slice(video), xt_slice(video, row=3))
    assert most_moving_column(video.transpose(2, 3)) == 3


def test_negative_rows_count_from_the_bottom_and_bad_rows_are_named():
    video = moving_dot_video(h=10, row=9)
    assert torch.equal(xt_slice(video, row=-1), xt_slice(video, row=9))
    with pytest.raises(KinemaError, match="row 10"):
        xt_slice(video, row=10)
    with pytest.raises(KinemaError, match=r"\(t c h w\)"):
        xt_slice(video[0], row=0)


def test_mark_row_draws_red_on_a_copy_only():
    frame = torch.zeros(3, 4, 5)
    marked = mark_row(frame, 2)
    assert torch.equal(marked[:, 2, 0], torch.tensor([1.0, -1.0, -1.0]))
    assert torch.count_nonzero(marked[:, [0, 1, 3]]) == 0
    assert torch.count_nonzero(frame) == 0
    uint8 = mark_column(np.zeros((3, 4, 5), np.uint8), 1)
    assert uint8[:, :, 1].tolist() == [[255] * 4, [0] * 4, [0] * 4]
    assert np.count_nonzero(np.delete(uint8, 1, axis=2)) == 0      # only that column
    gray = mark_column(torch.zeros(1, 4, 5), -1)                     # the last column, white
    assert torch.equal(gray[0, :, 4], torch.ones(4)) and torch.count_nonzero(gray[0, :, :4]) == 0
    with pytest.raises(KinemaError, match="column 5"):
        mark_column(frame, 5)
    with pytest.raises(KinemaError, match="channels"):
        mark_row(frame, 0, color=(1.0,))
