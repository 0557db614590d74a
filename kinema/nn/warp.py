"""Warping images by dense flow fields.

Convention (used everywhere in kinema): a flow is a tensor ``(b 2 h w)`` in **pixels**, channel 0
the x (column) offset, channel 1 the y (row) offset. Backward warping samples

    output(p) = image(p + flow(p))

bilinearly, with border padding (samples outside the frame take the nearest border value) and
pixel centres at integer coordinates (``align_corners=True``), so an integer flow moves pixels
exactly. This is PyTorch's ``grid_sample``; only the pixel -> normalised-coordinate conversion
is written here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """Turn a pixel flow into a ``grid_sample`` grid.

    flow: (b 2 h w) pixel offsets (x, y). Returns (b h w 2) sampling positions p + flow(p) in
    the normalised [-1, 1] coordinates of ``grid_sample(..., align_corners=True)``.
    """
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (b 2 h w), got shape {tuple(flow.shape)}")
    _, _, height, width = flow.shape
    ys = torch.arange(height, device=flow.device, dtype=flow.dtype)
    xs = torch.arange(width, device=flow.device, dtype=flow.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")              # (h w) each
    positions_x = grid_x + flow[:, 0]                                   # (b h w)
    positions_y = grid_y + flow[:, 1]
    # align_corners=True: pixel 0 -> -1, pixel (n-1) -> +1; a 1-pixel axis maps to 0.
    normalised_x = 2.0 * positions_x / max(width - 1, 1) - 1.0
    normalised_y = 2.0 * positions_y / max(height - 1, 1) - 1.0
    return torch.stack([normalised_x, normalised_y], dim=-1)            # (b h w 2)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``p + flow(p)`` for every pixel p.

    image: (b c h w); flow: (b 2 h w) in pixels, (x, y). Returns (b c h w). Bilinear, border
    padding, differentiable in both arguments.
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (b c h w), got shape {tuple(image.shape)}")
    if flow.shape[0] != image.shape[0] or flow.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"flow {tuple(flow.shape)} does not match image {tuple(image.shape)}: "
                         "need (b 2 h w) with the image's b, h, w")
    grid = flow_to_grid(flow.to(image.dtype))
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def backward_warp_video(image: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """Warp one still image by a flow per frame.

    image: (c h w); flows: (t 2 h w). Returns (t c h w), frame t = backward_warp(image, flows[t]).
    """
    frames = image.unsqueeze(0).expand(flows.shape[0], *image.shape)  # (t c h w)
    return backward_warp(frames, flows)


def invert_flow(flow: torch.Tensor, iterations: int = 20) -> torch.Tensor:
    """Invert a backward-warp field by fixed-point iteration.

    flow: (b 2 h w), a field D with ``output(p) = image(p + D(p))``. Returns the forward field
    T with ``q + T(q) = p`` wherever ``p + D(p) = q``, i.e. T(q) = -D(q + T(q)): where the pixel
    at q of the input ends up in the output. Converges when D's spatial Lipschitz constant is
    below 1 (smooth, small fields); the error shrinks by that factor per iteration.
    """
    forward = -flow
    for _ in range(iterations):
        forward = -backward_warp(flow, forward)
    return forward
