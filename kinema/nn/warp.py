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
from einops import rearrange


def _grid_parts(height: int, width: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The identity grid (h w 2) in normalised coordinates and the pixel -> normalised scale (2,)."""
    # align_corners=True: pixel 0 -> -1, pixel (n-1) -> +1; a 1-pixel axis maps to 0.
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], device=like.device, dtype=like.dtype)
    ys = torch.arange(height, device=like.device, dtype=like.dtype)
    xs = torch.arange(width, device=like.device, dtype=like.dtype)
    identity = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1) * scale - 1.0   # (h w 2)
    return identity, scale


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """Turn a pixel flow into a ``grid_sample`` grid.

    flow: (b 2 h w) pixel offsets (x, y). Returns (b h w 2) sampling positions p + flow(p) in
    the normalised [-1, 1] coordinates of ``grid_sample(..., align_corners=True)``.
    """
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (b 2 h w), got shape {tuple(flow.shape)}")
    identity, scale = _grid_parts(flow.shape[2], flow.shape[3], flow)
    return identity + rearrange(flow, "b c h w -> b h w c") * scale                      # (b h w 2)


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


def invert_flow(flow: torch.Tensor, iterations: int = 30, tolerance: float = 1e-5) -> torch.Tensor:
    """Invert a backward-warp field by fixed-point iteration.

    flow: (b 2 h w), a field D with ``output(p) = image(p + D(p))``. Returns the forward field
    T with ``q + T(q) = p`` wherever ``p + D(p) = q``, i.e. T(q) = -D(q + T(q)): where the pixel
    at q of the input ends up in the output. Converges when D's spatial Lipschitz constant L is
    below 1 (smooth, small fields); the error shrinks by L per iteration. Stops after
    ``iterations`` or once no pixel moves by more than ``tolerance`` px in an iteration.
    """
    identity, scale = _grid_parts(flow.shape[2], flow.shape[3], flow)   # built once, reused below
    forward = -flow
    for _ in range(iterations):
        grid = identity + rearrange(forward, "b c h w -> b h w c") * scale
        updated = -F.grid_sample(flow, grid, mode="bilinear", padding_mode="border", align_corners=True)
        change = (updated - forward).abs().max()
        forward = updated
        if change <= tolerance:
            break
    return forward
