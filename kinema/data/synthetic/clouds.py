"""``clouds``: a fractal cloud texture drifting across the sky above a static landscape.

The cloud texture is a tile of fractal noise (``2 * size`` px square) made in the Fourier
domain: white noise with amplitude ``|k|^-SPECTRAL_SLOPE`` (k in cycles per tile), which is
periodic, so the drift wraps seamlessly. Frame t shows the tile shifted by
``shift[t] = speed * t * (cos angle, sin angle)`` px, done exactly (sub-pixel) as a phase ramp
on the tile's spectrum, through the top-left ``size`` x ``size`` window. Clouds are a smooth
threshold of the texture (their coverage varies per item) over a sky gradient; below a hilly
horizon lies ground that never moves (the cINN paper's landscape/sky setting).

Conventions: x to the right, y down; ``angle`` in radians in [0, 2 pi) is the direction the
clouds move, measured from +x towards +y (clockwise on screen). Content at (x, y) in frame 0 is
at (x, y) + shift[t] in frame t.

Ground truth: ``eta`` () int, the direction bin ``floor(angle / (2 pi / 36))`` (0..35, uniform);
``eta_onehot`` (36); ``angle`` (); ``speed`` () px/frame; ``shift`` (t 2) px; ``sky_mask``
(h w) bool, True where clouds can be (everything else is static); ``clouds`` (t h w) the cloud
layer's opacity in [0, 1] (the moving part; the sky gradient behind it is static).
"""
from __future__ import annotations

import numpy as np
import torch

from kinema.data.options import check_range
from kinema.data.synthetic._base import SyntheticVideos, one_hot, video_tensor
from kinema.data.synthetic.scenes import smooth_noise

NUM_DIRECTIONS = 36
SPECTRAL_SLOPE = 1.6  # amplitude ~ |k|^-1.6: fractal (fBm-like) noise with visible detail


def fractal_spectrum(rng: np.random.Generator, tile: int) -> np.ndarray:
    """Spectrum (tile tile//2+1) of a zero-mean fractal noise tile with unit standard deviation."""
    white = np.fft.rfft2(rng.standard_normal((tile, tile)))
    ky = np.fft.fftfreq(tile, 1.0 / tile)[:, None]
    kx = np.fft.rfftfreq(tile, 1.0 / tile)[None, :]
    radius = np.hypot(kx, ky)
    weights = np.where(radius > 0, np.maximum(radius, 1e-9) ** -SPECTRAL_SLOPE, 0.0)
    spectrum = white * weights
    spectrum /= np.sqrt((np.fft.irfft2(spectrum, s=(tile, tile)) ** 2).mean())
    return spectrum


def shifted_windows(spectrum: np.ndarray, shifts: np.ndarray, size: int) -> np.ndarray:
    """The tile translated by each shift (t 2) in px, exact for its band-limited periodic signal,
    seen through the top-left size x size window: (t size size). Output(p) = tile(p - shift)."""
    tile = spectrum.shape[0]
    ky = torch.from_numpy(np.fft.fftfreq(tile)).float()            # cycles per px
    kx = torch.from_numpy(np.fft.rfftfreq(tile)).float()
    shifts = torch.from_numpy(shifts).float()
    # The phase ramp exp(-2 pi i (kx sx + ky sy)) factorises into a row and a column ramp.
    ramp_y = torch.exp(-2j * torch.pi * shifts[:, 1, None] * ky)     # (t tile)
    ramp_x = torch.exp(-2j * torch.pi * shifts[:, 0, None] * kx)     # (t tile//2+1)
    spectrum = torch.from_numpy(spectrum.T.copy()).to(torch.complex64)                    # (kx ky)
    shifted = spectrum * ramp_x[:, :, None] * ramp_y[:, None, :]                          # (t kx ky)
    # Inverse FFT over y (the last, contiguous axis: torch's fast path), keep the window's rows,
    # then over x: about half the work of a full irfft2.
    rows = torch.fft.ifft(shifted, dim=-1)[..., :size]                                    # (t kx y)
    return torch.fft.irfft(rows.transpose(1, 2).contiguous(), n=tile, dim=-1)[..., :size].numpy()


class Clouds(SyntheticVideos):
    """Clouds drifting at a direction and speed over a static ground; see the module docstring.

    Options: ``num_videos`` (10000 train / 1000 test), ``num_frames`` (16), ``size`` (64), ``seed``,
    ``min_speed``/``max_speed`` (0.5 / 2.0 px/frame).
    """

    def __init__(self, split: str = "train", num_videos: int | None = None, num_frames: int = 16,
                 size: int = 64, seed: int = 0, min_speed: float = 0.5, max_speed: float = 2.0, **unknown):
        num_videos = num_videos if num_videos is not None else (10_000 if split == "train" else 1_000)
        super().__init__(split, num_videos, num_frames, size, seed, unknown=unknown)
        self.min_speed, self.max_speed = check_range("speed", min_speed, max_speed)

    def generate(self, rng: np.random.Generator, index: int) -> dict[str, torch.Tensor]:
        size = self.size
        angle = float(rng.uniform(0.0, 2.0 * np.pi))
        speed = float(rng.uniform(self.min_speed, self.max_speed))
        eta = min(int(angle / (2.0 * np.pi / NUM_DIRECTIONS)), NUM_DIRECTIONS - 1)
        shifts = speed * np.arange(self.num_frames)[:, None] * np.array([np.cos(angle), np.sin(angle)])  # (t 2)

        texture = shifted_windows(fractal_spectrum(rng, 2 * size), shifts, size)      # (t h w) float32, std ~1
        coverage = rng.uniform(-0.6, 0.6)                                              # threshold: more/less cloud
        density = np.clip((texture - coverage) / 1.2, 0.0, 1.0)
        density = density * density * (3.0 - 2.0 * density)                          # smoothstep edges
        shade = np.clip(0.85 + 0.08 * texture, 0.6, 1.0)[..., None]                    # grey undersides

        rows = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
        zenith = np.array([0.15, 0.35, 0.75]) + rng.uniform(-0.08, 0.08, 3)
        horizon_colour = np.array([0.65, 0.78, 0.92]) + rng.uniform(-0.05, 0.05, 3)
        sky = ((1 - rows) * zenith + rows * horizon_colour).astype(np.float32)          # (h 1 3)
        frames = sky * (1.0 - density[..., None]) + shade * density[..., None]          # (t h w 3)

        columns = np.arange(size) / size
        horizon = size * (rng.uniform(0.55, 0.75) + 0.05 * np.sin(2 * np.pi * (rng.uniform(0.5, 1.5) * columns
                                                                               + rng.random()))
                          + 0.02 * np.sin(2 * np.pi * (rng.uniform(2, 4) * columns + rng.random())))
        ground = np.arange(size)[:, None] >= horizon[None, :]                           # (h w)
        ground_colour = np.array([0.3, 0.45, 0.18]) + rng.uniform(-0.08, 0.08, 3)
        relief = 0.75 + 0.5 * smooth_noise(rng, size, max(4, size // 6))
        frames[:, ground] = (relief[..., None] * ground_colour)[ground]

        return {
            "video": video_tensor(frames),
            "eta": torch.tensor(eta),
            "eta_onehot": one_hot(eta, NUM_DIRECTIONS),
            "angle": torch.tensor(angle, dtype=torch.float32),
            "speed": torch.tensor(speed, dtype=torch.float32),
            "shift": torch.from_numpy(shifts).float(),
            "sky_mask": torch.from_numpy(~ground),
            "clouds": torch.from_numpy(np.where(ground, 0.0, density).astype(np.float32)),
        }
