"""Optical flow as colour: the Middlebury colour wheel of Baker et al.,
"A Database and Evaluation Methodology for Optical Flow" (IJCV 2011), Sec. 4.1 and its
reference code (``colorcode.cpp`` / ``computeColor.m``).

Hue encodes direction and saturation encodes magnitude: zero flow is white, flow of the
normalising magnitude has the full wheel colour, and flow beyond it is darkened. Flow
pointing right (+x) is red, down (+y, image rows) is yellow-orange, left is cyan-blue, up is
blue-magenta. Written by hand: no kept library ships this wheel (OpenCV draws HSV instead).
"""
from __future__ import annotations

import numpy as np
import torch

from kinema.errors import KinemaError

# Colour transitions between the six primaries and how many steps each gets; the counts are
# the reference code's (chosen by Baker et al. for perceptually even steps).
WHEEL_SEGMENTS: tuple[tuple[str, int], ...] = (
    ("red-yellow", 15), ("yellow-green", 6), ("green-cyan", 4),
    ("cyan-blue", 11), ("blue-magenta", 13), ("magenta-red", 6),
)

# The reference code treats flow components at or beyond this size as "unknown" (drawn black).
UNKNOWN_FLOW_THRESHOLD = 1e9


def make_color_wheel() -> np.ndarray:
    """The 55 colours of the wheel, (n 3) float in [0, 255], starting at red and turning
    through yellow, green, cyan, blue and magenta, as in ``makeColorwheel`` of the reference."""
    rows = []
    for name, steps in WHEEL_SEGMENTS:
        ramp = np.floor(255 * np.arange(steps) / steps)
        full, zero = np.full(steps, 255.0), np.zeros(steps)
        rows.append({
            "red-yellow": (full, ramp, zero),
            "yellow-green": (255 - ramp, full, zero),
            "green-cyan": (zero, full, ramp),
            "cyan-blue": (zero, 255 - ramp, full),
            "blue-magenta": (ramp, zero, full),
            "magenta-red": (full, zero, 255 - ramp),
        }[name])
    return np.concatenate([np.stack(r, axis=1) for r in rows], axis=0)


def _flow_as_numpy(flow) -> np.ndarray:
    if isinstance(flow, torch.Tensor):
        flow = flow.detach().to("cpu", torch.float64).numpy()
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise KinemaError(f"flow must be (2 h w) with (dx, dy) channels, got shape {flow.shape}")
    return flow


def flow_to_color(flow, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field. flow: (2 h w), channel 0 = dx (pixels to the right),
    channel 1 = dy (pixels down), torch or numpy. Returns uint8 (h w 3) RGB.

    ``max_magnitude`` is the flow length drawn at full saturation; None takes the largest
    length in this field (so one image always uses the whole wheel; pass a fixed value to
    compare several images). Non-finite or huge ("unknown") flow is drawn black."""
    u, v = _flow_as_numpy(flow)
    unknown = ~np.isfinite(u) | ~np.isfinite(v) | (np.abs(u) >= UNKNOWN_FLOW_THRESHOLD) \
        | (np.abs(v) >= UNKNOWN_FLOW_THRESHOLD)
    u, v = np.where(unknown, 0.0, u), np.where(unknown, 0.0, v)
    radius = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(radius.max()) if radius.size else 0.0
    if max_magnitude < 0 or not np.isfinite(max_magnitude):
        raise KinemaError(f"max_magnitude must be a finite number >= 0, got {max_magnitude}")
    radius = radius / max(max_magnitude, np.finfo(np.float64).eps)

    wheel = make_color_wheel() / 255.0
    steps = wheel.shape[0]
    # computeColor.m: angle in (-1, 1], with +x flow at -1 (the start of the wheel: red).
    angle = np.arctan2(-v, -u) / np.pi
    angle = np.where(angle >= 1.0, -1.0, angle)  # +x exactly: both ends of atan2 mean red
    position = (angle + 1) / 2 * (steps - 1)
    k0 = np.floor(position).astype(np.int64)
    k1 = (k0 + 1) % steps
    fraction = (position - k0)[..., None]
    color = (1 - fraction) * wheel[k0] + fraction * wheel[k1]  # (h w 3)

    inside = (radius <= 1)[..., None]
    # Inside the unit circle: blend from white (zero flow) to the wheel colour; outside: darken.
    color = np.where(inside, 1 - radius[..., None] * (1 - color), color * 0.75)
    color = np.where(unknown[..., None], 0.0, color)
    return np.floor(255 * np.clip(color, 0, 1)).astype(np.uint8)


def color_wheel_legend(size: int = 128) -> np.ndarray:
    """The key to ``flow_to_color``: a disc of flows from the centre (zero, white) out to the
    full magnitude at the rim, on a white square. Returns uint8 (size size 3)."""
    if size < 3:
        raise KinemaError(f"legend size must be at least 3 pixels, got {size}")
    coords = (np.arange(size) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    dx, dy = np.meshgrid(coords, coords)
    legend = flow_to_color(np.stack([dx, dy]), max_magnitude=1.0)
    legend[np.hypot(dx, dy) > 1] = 255
    return legend
