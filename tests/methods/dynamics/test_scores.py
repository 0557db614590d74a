"""Scores that see motion (``dynamics.scores``): the phase-invariant amplitude error and its
distribution over frequencies, best-of-n trajectory error, and the seam, by hand."""
from __future__ import annotations

import math

import pytest
import torch

from kinema.data.spectral import spectral_volume
from kinema.errors import KinemaError
from kinema.methods.dynamics.scores import amplitude_error, best_of_n_error, oscillation_amplitude, seam_scores


def oscillation(period, k, amplitude, phase, angle, h=2, w=3) -> torch.Tensor:
    """(period 2 h w): every pixel moves amplitude cos(2 pi k t / P + phase) along angle."""
    t = torch.arange(period, dtype=torch.float64)
    s = amplitude * torch.cos(2 * math.pi * k * t / period + phase)
    direction = torch.tensor([math.cos(angle), math.sin(angle)], dtype=torch.float64)
    return (s[:, None] * direction).view(period, 2, 1, 1).expand(period, 2, h, w)


def test_amplitude_is_the_oscillation_in_px_whatever_its_phase_and_direction():
    period = 20
    for phase, angle in ((0.0, 0.0), (1.1, 0.4), (-2.5, 2.0)):
        motion = oscillation(period, 3, 1.7, phase, angle) + 0.5        # plus a constant 0.5 px on x and y
        amplitude = oscillation_amplitude(spectral_volume(motion, 8), period)   # (k h w)
        assert torch.allclose(amplitude[3], torch.full((2, 3), 1.7, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(amplitude[0], torch.full((2, 3), 0.5 * math.sqrt(2), dtype=torch.float64), atol=1e-12)
        others = amplitude[[1, 2, 4, 5, 6, 7]]
        assert others.abs().max() < 1e-12
    nyquist = oscillation(period, 10, 0.8, 0.0, 0.0)                       # the Nyquist bin is counted once
    assert oscillation_amplitude(spectral_volume(nyquist, 11), period)[10, 0, 0].item() == pytest.approx(0.8, rel=1e-12)


def test_amplitude_error_ignores_phase_and_direction_and_counts_amplitude():
    period = 16
    truth = spectral_volume(torch.stack([oscillation(period, 2, 1.5, 0.3, 0.1), oscillation(period, 2, 1.0, 0.0, 0.0)]), 6)
    shifted = spectral_volume(torch.stack([oscillation(period, 2, 1.5, 2.9, 2.5), oscillation(period, 2, 1.0, -1.0, 1.0)]), 6)
    same = amplitude_error(shifted, truth, period)
    assert same["per_frequency"].abs().max() < 1e-12 and same["mean"] < 1e-12
    # sample 0 predicted at 2.0 px instead of 1.5, sample 1 not moving: |0.5| and |1.0| at bin 2
    bigger = spectral_volume(torch.stack([oscillation(period, 2, 2.0, 0.7, 0.0), torch.zeros(period, 2, 2, 3,
                                                                                        dtype=torch.float64)]), 6)
    error = amplitude_error(bigger, truth, period)
    assert error["per_frequency"][2].item() == pytest.approx(0.75, rel=1e-12)
    assert error["mean"] == pytest.approx(0.75 / 5, rel=1e-12)               # mean over bins 1..5
    assert error["true_spectrum"][2].item() == pytest.approx(1.25, rel=1e-12)
    assert error["predicted_spectrum"][2].item() == pytest.approx(1.0, rel=1e-12)
    # standing still scores the whole amplitude
    still = amplitude_error(torch.zeros_like(truth), truth, period)
    assert still["per_frequency"][2].item() == pytest.approx(1.25, rel=1e-12)


def test_best_of_n_takes_each_pictures_closest_sample():
    truth = torch.zeros(2, 4, 2, 1, 1)
    predicted = torch.zeros(2, 3, 4, 2, 1, 1)
    predicted[0, 0, :, 0] = 3.0                  # sample errors of picture 0: 3, 5 (3-4-5), 1
    predicted[0, 1, :, 0], predicted[0, 1, :, 1] = 3.0, 4.0
    predicted[0, 2, :2, 1] = 2.0                 # 2 px in half the frames: 1 on average
    predicted[1, :, :, 0] = torch.tensor([2.0, 0.5, 7.0]).view(3, 1, 1, 1)
    assert torch.allclose(best_of_n_error(predicted, truth), torch.tensor([1.0, 0.5]))
    with pytest.raises(KinemaError, match="b n t 2 h w"):
        best_of_n_error(predicted[0], truth)


def test_seam_of_a_drift_that_does_not_return_by_hand():
    """F_t = t px on x for t = 0..9 played in a loop: every step 1 px, the wrap -9 px."""
    motion = torch.zeros(2, 10, 2, 1, 1, dtype=torch.float64)
    motion[0, :, 0, 0, 0] = torch.arange(10, dtype=torch.float64)
    motion[1, :, 1, 0, 0] = 0.5 * torch.cos(2 * math.pi * torch.arange(10, dtype=torch.float64) / 10)
    scores = seam_scores(motion)
    # drift: v_end = v_start = 1, wrap = -9: position |-9 - 1| = 10, velocity 0; speed ratio 9 / 1
    assert scores["position"][0].item() == 10.0 and scores["velocity"][0].item() == 0.0
    assert scores["wrap_speed_ratio"][0].item() == pytest.approx(9.0, rel=1e-12)
    # a whole period of a cosine: the wrap step equals the step 5 frames on
    steps = (motion[1, 1:, 1] - motion[1, :-1, 1]).abs().flatten()
    wrap = abs(motion[1, 0, 1].item() - motion[1, 9, 1].item())
    assert scores["wrap_speed_ratio"][1].item() == pytest.approx(wrap / steps.mean().item(), rel=1e-12)
    assert scores["position"][1].item() < 0.05


def test_motion_video_moves_the_picture_by_each_shown_frames_field():
    from kinema.methods.dynamics.scores import motion_video

    torch.manual_seed(0)
    pictures = torch.rand(2, 3, 5, 6) * 2 - 1
    motion = torch.zeros(2, 9, 2, 5, 6)
    motion[0, :, 0] = torch.arange(9.0).view(9, 1, 1) // 4         # picture 0: x shift 0 (t < 4), 1 (t 4..7), 2 (t 8)
    motion[1, 4:, 1] = 1.0                                          # picture 1: one row down from t = 4
    video = motion_video(pictures, motion, stride=4)                # frames 0, 4, 8
    assert video.shape == (2, 3, 3, 5, 6)
    assert torch.equal(video[:, 0], pictures)
    # pixel p lands at p + F: column j of frame 4 holds column j - 1 of the picture; column 0,
    # which nothing lands on, keeps the picture's colour
    assert torch.allclose(video[0, 1, :, :, 1:], pictures[0, :, :, :-1], atol=1e-6)
    assert torch.allclose(video[0, 1, :, :, :1], pictures[0, :, :, :1], atol=1e-6)
    assert torch.allclose(video[0, 2, :, :, 2:], pictures[0, :, :, :-2], atol=1e-6)
    assert torch.allclose(video[1, 1, :, 1:], pictures[1, :, :-1], atol=1e-6)
    assert torch.allclose(video[1, 1, :, :1], pictures[1, :, :1], atol=1e-6)
    with pytest.raises(KinemaError, match="same b, h, w"):
        motion_video(pictures, motion[:1])


def test_motion_video_features_are_picture_major_and_zero_for_a_still_texture():
    from kinema.methods.dynamics.scores import motion_video_features
    from kinema.metrics.flow_statistics import FEATURE_NAMES

    torch.manual_seed(0)
    pictures = torch.rand(2, 3, 32, 32) * 2 - 1
    moving = torch.zeros(12, 2, 32, 32)
    moving[:, 0] = 0.5 * torch.arange(12.0).view(12, 1, 1)         # drifts right, 2 px per shown frame
    still = torch.zeros_like(moving)
    features = motion_video_features(pictures, torch.stack([torch.stack([still, moving]),
                                                            torch.stack([moving, still])]))
    assert features.shape == (4, len(FEATURE_NAMES))
    assert (features[0] == 0).all() and (features[3] == 0).all()
    speed, right = FEATURE_NAMES.index("speed_mean"), FEATURE_NAMES.index("direction_0")
    # 2 px per shown frame at 32 px wide is 6.25 % of the width (DIS finds most of it inside the frame)
    assert 3.0 < features[1, speed] < 7.0 and 3.0 < features[2, speed] < 7.0
    assert features[1, right] > 0.9 and features[2, right] > 0.9


def test_table2_amplitude_picture_scales_each_row_by_its_truths_largest_amplitude():
    from kinema.methods.dynamics.bench_table2 import amplitude_picture

    period, h, w = 20, 4, 5
    truth = torch.zeros(2, 3, 4, h, w, dtype=torch.float64)
    truth[0, 1, 0, 1, 2] = 10.0                          # picture 0: one pixel at bin 1, |S| = 10
    truth[1, 2, 1, 3, 4] = 5.0                           # picture 1: another pixel at bin 2
    shown = {"model": torch.zeros(2, 2, 3, 4, h, w, dtype=torch.float64)}
    shown["model"][0, 0, 1, 0, 1, 2] = 10.0              # sample 0 of picture 0 is right, sample 1 still
    pictures = torch.zeros(2, 3, h, w)
    grid = amplitude_picture(pictures, truth, shown, period)          # 2 rows x 3 cells, pad 2
    assert grid.shape == (3, 2 * h + 2, 3 * w + 4)
    truth_cell, model_cell = grid[0, :h, w + 2:2 * w + 2], grid[0, :h, 2 * w + 4:]
    assert truth_cell[1, 2] == 1.0 and truth_cell.sum() == 1.0 - (h * w - 1)        # white at the peak, black elsewhere
    assert model_cell[1, 2] == pytest.approx(0.0)        # half the truth's amplitude (mean of 2 samples): mid grey
    second = grid[0, h + 2:, w + 2:2 * w + 2]
    assert second[3, 4] == 1.0 and grid[0, h + 2:, 2 * w + 4:].max() == -1.0   # its own scale; the model is still there
