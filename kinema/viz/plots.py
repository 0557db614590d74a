"""Line plots as self-contained SVG text (e.g. PSNR per predicted frame, the curve every
video-prediction paper shows), for the HTML report. Written by hand because the plots are
this simple and matplotlib is not a dependency of kinema."""
from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from kinema.errors import KinemaError

# Colour-blind-safe qualitative palette (Okabe & Ito 2008).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 times a power of ten) covering
    [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise KinemaError(f"cannot place ticks on [{low}, {high}]")
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _label(value: float) -> str:
    return f"{value:g}"


def line_plot_svg(series: Mapping[str, Sequence[float]], x: Sequence[float] | None = None,
                  x_label: str = "", y_label: str = "", title: str = "",
                  width: int = 560, height: int = 300) -> str:
    """An SVG line plot of named series (each a list of y values over the common ``x``,
    default 1, 2, ...). Non-finite values break the line. Returns the ``<svg>`` element text."""
    if not series:
        raise KinemaError("line_plot_svg needs at least one series")
    lengths = {len(v) for v in series.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise KinemaError(f"every series needs the same, non-zero length; got {sorted(lengths)}")
    (length,) = lengths
    x = list(range(1, length + 1)) if x is None else [float(v) for v in x]
    if len(x) != length:
        raise KinemaError(f"x has {len(x)} values, the series have {length}")
    finite = [float(v) for values in series.values() for v in values if math.isfinite(v)]
    if not finite:
        raise KinemaError("line_plot_svg: no finite values to plot")
    x_ticks = nice_ticks(min(x), max(x), min(length, 8))
    y_ticks = nice_ticks(min(finite), max(finite))
    left, right, top, bottom = 60, 190, 30 if title else 12, 42
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(value: float) -> float:
        span = (x_ticks[-1] - x_ticks[0]) or 1.0
        return left + (value - x_ticks[0]) / span * plot_w

    def py(value: float) -> float:
        span = (y_ticks[-1] - y_ticks[0]) or 1.0
        return top + plot_h - (value - y_ticks[0]) / span * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="white" '
             f'stroke="#888"/>']
    if title:
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="18" text-anchor="middle" '
                     f'font-size="13">{html.escape(title)}</text>')
    for tick in x_ticks:
        parts.append(f'<line x1="{px(tick):.1f}" y1="{top + plot_h}" x2="{px(tick):.1f}" '
                     f'y2="{top + plot_h + 4}" stroke="#888"/><text x="{px(tick):.1f}" '
                     f'y="{top + plot_h + 16}" text-anchor="middle">{_label(tick)}</text>')
    for tick in y_ticks:
        parts.append(f'<line x1="{left}" y1="{py(tick):.1f}" x2="{left + plot_w}" '
                     f'y2="{py(tick):.1f}" stroke="#eee"/><text x="{left - 6}" '
                     f'y="{py(tick) + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                 f'{html.escape(x_label)}</text>')
    parts.append(f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{html.escape(y_label)}</text>')
    for number, (name, values) in enumerate(series.items()):
        color = PALETTE[number % len(PALETTE)]
        runs, run = [], []
        for xv, yv in zip(x, values):
            if math.isfinite(yv):
                run.append(f"{px(xv):.1f},{py(float(yv)):.1f}")
            elif run:
                runs, run = runs + [run], []
        runs += [run] if run else []
        for points in runs:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                         f'points="{" ".join(points)}"><title>{html.escape(name)}</title>'
                         f'</polyline>')
        legend_y = top + 8 + 16 * number
        parts.append(f'<line x1="{left + plot_w + 10}" y1="{legend_y}" x2="{left + plot_w + 28}" '
                     f'y2="{legend_y}" stroke="{color}" stroke-width="2"/><text '
                     f'x="{left + plot_w + 32}" y="{legend_y + 4}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
