"""ILE's pictures (PNG via Pillow, arrays via numpy): predictions next to ground truth, X-t
slices of both, and the eigenvalues of A on the unit circle (the system's frequencies and
damping: angle = radians per frame, radius = decay per frame)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from kinema.viz.slices import most_moving_row, xt_slice


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(... c h w) in [-1, 1] -> (... h w 3) uint8 (grey frames are repeated to RGB)."""
    x = ((frames.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    x = x.movedim(-3, -1).numpy()
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def _row(frames: np.ndarray, pad: int, fill: int = 255) -> np.ndarray:
    """(t h w 3) -> (h, t*w + (t-1)*pad, 3) with ``pad`` columns of ``fill`` between frames."""
    t, h, w, _ = frames.shape
    out = np.full((h, t * w + (t - 1) * pad, 3), fill, np.uint8)
    for i in range(t):
        out[:, i * (w + pad):i * (w + pad) + w] = frames[i]
    return out


def _stack(rows: list[np.ndarray], pad: int, fill: int = 255) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    out = []
    for i, r in enumerate(rows):
        if r.shape[1] < width:
            r = np.concatenate([r, np.full((r.shape[0], width - r.shape[1], 3), fill, np.uint8)], 1)
        out.append(r)
        if i < len(rows) - 1:
            out.append(np.full((pad, width, 3), fill, np.uint8))
    return np.concatenate(out, 0)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an (h w 3) image, so small frames stay crisp."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


def prediction_figure(context: torch.Tensor, truth: torch.Tensor, predicted: torch.Tensor,
                      scale: int = 3, pad: int = 2) -> np.ndarray:
    """One clip: row 1 = context (c h w frames, k of them) then the true future (t frames);
    rows 2.. = grey padding cells under the context, then each prediction (n t c h w), the
    first being the mean. Returns an (H W 3) uint8 image."""
    ctx, fut = to_uint8(context), to_uint8(truth)               # (k h w 3), (t h w 3)
    blank = np.full_like(ctx, 128)
    rows = [_row(np.concatenate([ctx, fut]), pad)]
    for sample in to_uint8(predicted):
        rows.append(_row(np.concatenate([blank, sample]), pad))
    return upscale(_stack(rows, pad * 2), scale)


def xt_figure(context: torch.Tensor, truth: torch.Tensor, predicted: torch.Tensor,
              scale: int = 4, pad: int = 2) -> np.ndarray:
    """X-t slices (time runs down) of the most moving row of the true clip: true clip on the
    left, context + mean prediction on the right. context (k c h w), truth/predicted (t c h w)."""
    real = torch.cat([context, truth]).cpu()
    fake = torch.cat([context, predicted]).cpu()
    row = most_moving_row(real)
    slices = [to_uint8(xt_slice(v, row)) for v in (real, fake)]      # (t w 3) each
    gap = np.full((slices[0].shape[0], pad, 3), 255, np.uint8)
    return upscale(np.concatenate([slices[0], gap, slices[1]], axis=1), scale)


def eigenvalue_figure(eigenvalues: torch.Tensor, size: int = 320) -> np.ndarray:
    """Eigenvalues (complex) as dots in the complex plane with the unit circle and the axes."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    margin = 20
    radius = (size - 2 * margin) / 2
    centre = size / 2

    def point(z: complex) -> tuple[float, float]:
        return centre + radius * z.real, centre - radius * z.imag

    draw.line([(margin // 2, centre), (size - margin // 2, centre)], fill=(180, 180, 180))
    draw.line([(centre, margin // 2), (centre, size - margin // 2)], fill=(180, 180, 180))
    draw.ellipse([centre - radius, centre - radius, centre + radius, centre + radius],
                 outline=(0, 0, 0), width=2)
    for z in eigenvalues.detach().cpu().numpy().astype(np.complex128):
        x, y = point(complex(z))
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(200, 30, 30))
    draw.text((margin // 2, margin // 4), "eigenvalues of A (unit circle)", fill=(0, 0, 0))
    return np.asarray(image)


def save_png(image: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
