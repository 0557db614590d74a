import math
import xml.etree.ElementTree as ET

import pytest

from kinema.errors import KinemaError
from kinema.viz.plots import line_plot_svg, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def polylines(svg):
    root = ET.fromstring(svg)
    return [[tuple(map(float, p.split(","))) for p in line.get("points").split()]
            for line in root.iter(f"{SVG}polyline")]


@pytest.mark.parametrize("low, high", [(0, 1), (13.2, 34.7), (0.21, 0.95), (-3, 7), (1, 10)])
def test_ticks_are_round_and_cover_the_range(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5)
    assert 3 <= len(ticks) <= 8


def test_lines_follow_the_data_in_screen_coordinates():
    series = {"psnr": [30.0, 25.0, 20.0, 18.0], "flat": [22.0, 22.0, 22.0, 22.0]}
    svg = line_plot_svg(series, x_label="frame", y_label="dB", title="curves")
    falling, flat = polylines(svg)
    xs = [p[0] for p in falling]
    assert xs == sorted(xs) and len(set(xs)) == 4
    # screen y grows downwards: a falling score climbs on screen, a flat one stays level
    ys = [p[1] for p in falling]
    assert ys == sorted(ys)
    assert len({p[1] for p in flat}) == 1
    # both series share the x positions, and screen y is one affine map of the value for
    # both: equal value steps are equal screen steps, and 22 dB sits where the map puts it
    assert [p[0] for p in flat] == xs
    slope = (ys[-1] - ys[0]) / (18.0 - 30.0)          # points are written to 0.1 px
    for value, y in zip(series["psnr"], ys):
        assert y == pytest.approx(ys[0] + slope * (value - 30.0), abs=0.15)
    assert flat[0][1] == pytest.approx(ys[0] + slope * (22.0 - 30.0), abs=0.15)
    assert "psnr" in svg and "frame" in svg and "curves" in svg


def test_non_finite_values_break_the_line_and_bad_input_is_named():
    (first, second) = polylines(line_plot_svg({"a": [1.0, 2.0, float("nan"), 3.0, 4.0]}))
    assert len(first) == 2 and len(second) == 2
    with pytest.raises(KinemaError, match="same"):
        line_plot_svg({"a": [1.0], "b": [1.0, 2.0]})
    with pytest.raises(KinemaError, match="finite"):
        line_plot_svg({"a": [float("nan")]})
