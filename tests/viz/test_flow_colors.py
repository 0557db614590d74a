import numpy as np
import pytest
import torch

from kinema.errors import KinemaError
from kinema.viz.flow_colors import color_wheel_legend, flow_to_color, make_color_wheel


def single(dx, dy, max_magnitude=None):
    """The colour of a one-pixel flow field (dx, dy)."""
    return flow_to_color(np.array([[[dx]], [[dy]]], dtype=np.float64), max_magnitude)[0, 0]


def test_wheel_has_the_reference_layout():
    wheel = make_color_wheel()
    assert wheel.shape == (55, 3)  # RY 15 + YG 6 + GC 4 + CB 11 + BM 13 + MR 6
    np.testing.assert_array_equal(wheel[0], [255, 0, 0])     # red
    np.testing.assert_array_equal(wheel[15], [255, 255, 0])  # yellow
    np.testing.assert_array_equal(wheel[21], [0, 255, 0])    # green
    np.testing.assert_array_equal(wheel[25], [0, 255, 255])  # cyan
    np.testing.assert_array_equal(wheel[36], [0, 0, 255])    # blue
    np.testing.assert_array_equal(wheel[49], [255, 0, 255])  # magenta


def test_directions_map_to_the_documented_hues():
    # Baker et al.: +x is red; +y (down) lies in the red-yellow arc; -x in cyan-blue; -y in
    # blue-magenta. Exact values follow computeColor.m's interpolation between wheel entries.
    np.testing.assert_array_equal(single(1.0, 0.0), [255, 0, 0])
    np.testing.assert_array_equal(single(1.0, -0.0), [255, 0, 0])
    np.testing.assert_array_equal(single(0.0, 1.0), [255, 229, 0])
    np.testing.assert_array_equal(single(-1.0, 0.0), [0, 209, 255])
    np.testing.assert_array_equal(single(0.0, -1.0), [88, 0, 255])


def test_zero_flow_is_white_even_when_the_whole_field_is_zero():
    assert (flow_to_color(torch.zeros(2, 3, 4)) == 255).all()
    assert flow_to_color(torch.zeros(2, 3, 4)).shape == (3, 4, 3)


def test_saturation_grows_with_magnitude_and_flow_beyond_the_maximum_darkens():
    lengths = np.linspace(0, 1, 11)
    angle = 0.7
    flow = np.stack([np.cos(angle) * lengths, np.sin(angle) * lengths])[:, None, :]  # (2 1 11)
    colors = flow_to_color(flow, max_magnitude=1.0)[0].astype(int)  # (11 3)
    distance_from_white = (255 - colors).sum(axis=1)
    assert (np.diff(distance_from_white) > 0).all()
    beyond = single(2 * np.cos(angle), 2 * np.sin(angle), max_magnitude=1.0).astype(int)
    assert (beyond <= colors[-1]).all() and beyond.sum() < colors[-1].sum()


def test_colour_depends_on_magnitude_relative_to_the_maximum_only():
    flow = torch.randn(2, 6, 7, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(flow_to_color(flow), flow_to_color(3 * flow))
    np.testing.assert_array_equal(flow_to_color(flow, 2.0), flow_to_color(3 * flow, 6.0))


def test_unknown_flow_is_black_and_bad_shapes_are_named():
    flow = np.zeros((2, 1, 3))
    flow[0, 0, 1] = np.nan
    flow[1, 0, 2] = 1e10
    assert flow_to_color(flow)[0, 1:].tolist() == [[0, 0, 0], [0, 0, 0]]
    with pytest.raises(KinemaError, match=r"\(2 h w\)"):
        flow_to_color(np.zeros((3, 4, 4)))


def test_legend_is_white_in_the_centre_and_red_at_the_right_rim():
    legend = color_wheel_legend(65)
    assert legend.shape == (65, 65, 3) and legend.dtype == np.uint8
    assert (legend[32, 32] >= 250).all()
    right = legend[32, 63].astype(int)
    assert right[0] > 200 and right[1] < 40 and right[2] < 40
    assert (legend[0, 0] == 255).all()  # corners lie outside the disc
