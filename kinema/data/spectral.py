"""Spectral volumes (temporal FFT of per-pixel trajectories) and GID's frequency-adaptive normalisation.

A spectral volume (Generative Image Dynamics, Sec. 4.1, after Davis et al.) is the temporal
Fourier transform of a motion texture, Eq. (2): ``S(p) = FFT(F(p))``. Here:

- displacement ``F``: (t 2 h w), channels (dx, dy) in pixels, frames along ``t``;
- spectral volume ``S``: (k 4 h w) holding the K lowest rfft bins ``f_0 .. f_{K-1}`` (``f_0`` is
  the mean displacement), channels **[Re dx, Re dy, Im dx, Im dy]** (``CHANNELS``);
- FFT normalisation: torch's ``norm="backward"`` default, i.e. the forward transform is the
  plain sum ``S_k = sum_t F_t exp(-2 pi i k t / T)`` and the inverse divides by ``T``. A pure
  cosine of amplitude ``a`` at bin ``k`` (0 < k < T/2) therefore has ``|S_k| = a T / 2``. This
  matches the paper's amplitudes of 0-100 (Fig. 2) for sub-pixel to few-pixel motion over
  ~150 frames. Other torch norms can be passed through ``norm=``; use the same one both ways.

Both functions accept extra leading axes (``... t 2 h w`` <-> ``... k 4 h w``).
The FFT runs over a contiguous last axis, the fastest torch path on CPU (ENVIRONMENT.md).
"""
from __future__ import annotations

import numpy as np
import torch
from einops import rearrange
from torch import nn

from kinema.errors import KinemaError

CHANNELS = ("re_dx", "re_dy", "im_dx", "im_dy")


def frequencies(num_frames: int, fps: float = 1.0) -> torch.Tensor:
    """Frequency of every rfft bin (t//2 + 1,), in cycles per frame (fps=1) or in Hz."""
    return torch.fft.rfftfreq(num_frames, d=1.0 / fps)


def spectral_volume(displacement: torch.Tensor, num_frequencies: int = 16, norm: str = "backward") -> torch.Tensor:
    """Spectral volume (... k 4 h w) of a motion texture (... t 2 h w); GID Eq. (2), K lowest bins."""
    if displacement.ndim < 4 or displacement.shape[-3] != 2:
        raise KinemaError(f"displacement must be (... t 2 h w); got shape {tuple(displacement.shape)}")
    num_frames = displacement.shape[-4]
    available = num_frames // 2 + 1
    if not 1 <= num_frequencies <= available:
        raise KinemaError(f"num_frequencies must be in 1..{available} for {num_frames} frames; got {num_frequencies}")
    trajectories = rearrange(displacement, "... t c h w -> ... c h w t").contiguous()
    spectrum = torch.fft.rfft(trajectories, dim=-1, norm=norm)[..., :num_frequencies]  # (... 2 h w k)
    volume = torch.cat([spectrum.real, spectrum.imag], dim=-4)  # (... 4 h w k): Re dx, Re dy, Im dx, Im dy
    return rearrange(volume, "... c h w k -> ... k c h w").contiguous()


def inverse_spectral_volume(volume: torch.Tensor, num_frames: int, norm: str = "backward") -> torch.Tensor:
    """Motion texture (... t 2 h w) from a spectral volume (... k 4 h w); the dropped bins are zero.

    Exact inverse of ``spectral_volume`` when K = t//2 + 1. For even ``t`` the imaginary parts
    of the DC and Nyquist bins are ignored (they are zero for any real motion).
    """
    if volume.ndim < 4 or volume.shape[-3] != 4:
        raise KinemaError(f"spectral volume must be (... k 4 h w); got shape {tuple(volume.shape)}")
    num_frequencies = volume.shape[-4]
    available = num_frames // 2 + 1
    if num_frequencies > available:
        raise KinemaError(f"a spectral volume with {num_frequencies} frequencies needs at least "
                          f"{2 * (num_frequencies - 1)} frames; got num_frames={num_frames}")
    volume = rearrange(volume, "... k c h w -> ... c h w k")
    spectrum = torch.complex(volume[..., :2, :, :, :], volume[..., 2:, :, :, :])  # (... 2 h w k)
    padding = spectrum.new_zeros(*spectrum.shape[:-1], available - num_frequencies)
    spectrum = torch.cat([spectrum, padding], dim=-1)
    trajectories = torch.fft.irfft(spectrum, n=num_frames, dim=-1, norm=norm)  # (... 2 h w t)
    return rearrange(trajectories, "... c h w t -> ... t c h w").contiguous()


def coefficient_magnitudes(volume: torch.Tensor) -> torch.Tensor:
    """|S_fk(p)| of the complex coefficient of each axis: (... k 4 h w) -> (... k 2 h w)."""
    return torch.hypot(volume[..., :2, :, :], volume[..., 2:, :, :])


class SpectralNormalizer(nn.Module):
    """Frequency-adaptive normalisation of GID (Sec. 4.2, Eq. (4)).

    ``fit``: per frequency ``f_j``, the scale ``s_fj`` is the ``percentile``-th (95th) percentile of
    the complex coefficient magnitudes |S_fj(p)| (both axes, all pixels, all samples).
    ``normalize``: ``S'_fj = sign(S_fj) * sqrt(|S_fj| / s_fj)`` applied to each real channel.
    ``denormalize``: its exact inverse ``S_fj = sign(S'_fj) * S'_fj**2 * s_fj``.

    The scale is a buffer, so it travels in a model's ``state_dict``/safetensors; ``save``/``load``
    write and read it alone.
    """

    scale: torch.Tensor

    def __init__(self, num_frequencies: int = 16, percentile: float = 95.0, max_values: int = 1 << 21):
        super().__init__()
        if not 0.0 < percentile <= 100.0:
            raise KinemaError(f"percentile must be in (0, 100]; got {percentile}")
        self.num_frequencies = num_frequencies
        self.percentile = percentile
        self.max_values = max_values  # per frequency; more are subsampled (fixed seed) to bound memory
        self.register_buffer("scale", torch.full((num_frequencies,), float("nan")))

    @property
    def fitted(self) -> bool:
        return not bool(torch.isnan(self.scale).any())

    @torch.no_grad()
    def fit(self, volumes) -> "SpectralNormalizer":
        """volumes: a tensor (... k 4 h w) or an iterable of them (e.g. a data loader's batches)."""
        batches = [volumes] if isinstance(volumes, torch.Tensor) else volumes
        per_frequency = []  # (k n) magnitudes of each batch
        for volume in batches:
            self._check(volume)
            magnitudes = coefficient_magnitudes(volume.detach().float().cpu())
            per_frequency.append(rearrange(magnitudes, "... k c h w -> k (... c h w)"))
        if not per_frequency:
            raise KinemaError("SpectralNormalizer.fit got no spectral volumes")
        magnitudes = torch.cat(per_frequency, dim=1)
        if magnitudes.shape[1] > self.max_values:
            keep = torch.randperm(magnitudes.shape[1], generator=torch.Generator().manual_seed(0))
            magnitudes = magnitudes[:, keep[: self.max_values]]
        # numpy's percentile (linear interpolation, as torch.quantile) has no 2**24-element limit.
        scale = torch.from_numpy(np.percentile(magnitudes.numpy(), self.percentile, axis=1))
        # A frequency with no motion anywhere would give s = 0; keep the map invertible.
        self.scale.copy_(scale.clamp_min(1e-12).to(self.scale))
        return self

    def normalize(self, volume: torch.Tensor) -> torch.Tensor:
        """Eq. (4) of the GID paper: (... k 4 h w) -> same shape, roughly within [-1, 1]."""
        scale = self._scale_for(volume)
        return torch.sign(volume) * torch.sqrt(volume.abs() / scale)

    def denormalize(self, normalized: torch.Tensor) -> torch.Tensor:
        """Inverse of ``normalize``: (... k 4 h w) -> (... k 4 h w)."""
        scale = self._scale_for(normalized)
        return torch.sign(normalized) * normalized.square() * scale

    def state(self) -> dict[str, torch.Tensor]:
        return {"scale": self.scale.detach().clone(), "percentile": torch.tensor(self.percentile)}

    def save(self, path) -> None:
        """Write ``scale`` and ``percentile`` to a safetensors file, atomically (a temporary
        file in the same folder, then ``os.replace``)."""
        import os
        import tempfile
        from pathlib import Path

        from safetensors.torch import save_file

        from kinema.data.io import set_default_mode

        path = Path(path)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(handle)
        try:
            save_file(self.state(), tmp)
            set_default_mode(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path) -> "SpectralNormalizer":
        from pathlib import Path

        from safetensors.torch import load_file

        if not Path(path).is_file():
            raise KinemaError(f"spectral normaliser file not found: {path}")
        try:
            state = load_file(str(path))
            scale, percentile = state["scale"], float(state["percentile"])
        except Exception as err:   # safetensors' own error types, or a file of other tensors
            raise KinemaError(f"{path}: not a spectral normaliser file "
                              f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
        normalizer = cls(num_frequencies=scale.numel(), percentile=percentile)
        normalizer.scale.copy_(scale)
        return normalizer

    def _check(self, volume: torch.Tensor) -> None:
        if volume.ndim < 4 or volume.shape[-3] != 4 or volume.shape[-4] != self.num_frequencies:
            raise KinemaError(f"expected spectral volumes (... {self.num_frequencies} 4 h w); "
                              f"got shape {tuple(volume.shape)}")

    def _scale_for(self, volume: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            raise KinemaError("SpectralNormalizer is not fitted: call fit(volumes) or load(path) first")
        self._check(volume)
        return rearrange(self.scale.to(volume), "k -> k 1 1 1")
