"""StyleGAN-V's continuous-time motion codes (Skorokhodov et al. 2022, Sec. 3.1).

A video's motion is a sequence of noise vectors z_0, z_1, ... placed at equidistant times
t_k = k * distance. A small convolutional "motion mapping network" (two equalised Conv1d layers
without padding, lr multiplier 0.01) turns them into anchor codes u_k; a code at any real time t
(integer frame or not) comes from the two anchors around it, through an *acyclic positional
encoding*: sinusoids whose periods and phases are predicted from the left anchor, minus their
linear interpolation between the two anchor times (so the periodic part is 0 at every anchor),
plus the linear interpolation of two learned "aligners" of the anchors:

    v(t) = [sin, cos](omega (1 + tanh(P u_l)) t + Phi u_l * s)
           - lerp(v_raw(t_l), v_raw(t_r), a) + lerp(A u_l, A u_r, a),    a = (t - t_l) / distance.

At t = t_l of one segment and t = t_r of the previous one both expressions equal the aligner
A u at that anchor, so v is continuous in t, and it never repeats (acyclic) because the
aligners follow the noise.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.nn.modulated import EqualizedLinear, leaky_relu_gained
from kinema.nn.precision import fp32_island


class EqualizedConv1d(nn.Module):
    """Conv1d with equalised learning rate, no padding. x: (b in n) -> (b out n - k + 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, lr_multiplier: float = 1.0,
                 activation: str = "lrelu"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = lr_multiplier / math.sqrt(in_channels * kernel_size)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv1d(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return leaky_relu_gained(y) if self.activation == "lrelu" else y


def linspaced_frequencies(count: int, min_period: float, max_period: float) -> torch.Tensor:
    """(count,) angular frequencies 2 pi / period for periods log-spaced in [min_period, max_period],
    lowest frequency first."""
    periods = 2.0 ** torch.linspace(math.log2(min_period), math.log2(max_period), count, dtype=torch.float64)
    return (2 * math.pi / periods).flip(0).float()


class MotionCodes(nn.Module):
    """Motion noise (b k z_dim) + times t (b n), real-valued, in frames -> codes (b n code_dim).

    code_dim = 2 * num_frequencies. ``distance``: frames between noise anchors; ``kernel_size``:
    the mapping convolutions' width (each eats kernel_size - 1 anchors, so ``noise_length`` adds
    2 (kernel_size - 1) of them); ``max_frames``: the longest video the noise is drawn for by
    default (longer ones draw more).
    """

    def __init__(self, z_dim: int = 512, hidden_dim: int = 512, num_frequencies: int = 256, distance: float = 32.0,
                 kernel_size: int = 11, min_period: float = 16.0, max_period: float = 1024.0, max_frames: int = 1024):
        super().__init__()
        self.z_dim, self.distance, self.kernel_size, self.max_frames = z_dim, float(distance), kernel_size, max_frames
        self.mapping = nn.Sequential(
            EqualizedConv1d(z_dim, z_dim, kernel_size, lr_multiplier=0.01),
            EqualizedConv1d(z_dim, hidden_dim, kernel_size, lr_multiplier=0.01))
        freqs = linspaced_frequencies(num_frequencies, min_period, max_period)
        self.register_buffer("frequencies", freqs)
        # Phases are predicted in units of the longest period, so a unit change of the predictor
        # output turns a slow wave by as much as a fast one.
        self.register_buffer("phase_scales", max_period * freqs / (2 * math.pi))
        # No biases: a bias would be a motion shared by all videos (mode collapse of motion).
        self.periods = EqualizedLinear(hidden_dim, num_frequencies, bias=False)
        self.phases = EqualizedLinear(hidden_dim, num_frequencies, bias=False)
        self.aligners = EqualizedLinear(hidden_dim, 2 * num_frequencies, bias=False)

    @property
    def code_dim(self) -> int:
        return 2 * self.frequencies.shape[0]

    def noise_length(self, max_time: float | None = None) -> int:
        """Anchors needed to cover times up to ``max_time`` (default: max_frames - 1)."""
        top = max(self.max_frames - 1, 0 if max_time is None else max_time)
        return int(math.ceil(top / self.distance)) + 2 + 2 * (self.kernel_size - 1)

    def sample_noise(self, batch: int, max_time: float | None = None, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> torch.Tensor:
        """(b k z_dim) standard normal motion noise covering times [0, max_time]."""
        return torch.randn(batch, self.noise_length(max_time), self.z_dim, generator=generator, device=device)

    def anchors(self, noise: torch.Tensor) -> torch.Tensor:
        """(b k z_dim) -> (b k - 2 (kernel_size - 1) hidden_dim), the anchor codes u_k."""
        return rearrange(self.mapping(rearrange(noise, "b k d -> b d k")), "b d k -> b k d")

    def _raw(self, t: torch.Tensor, periods: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        angle = self.frequencies * periods * t.unsqueeze(-1) + phases * self.phase_scales
        return torch.cat([angle.sin(), angle.cos()], dim=-1)

    def forward(self, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """t: (b n) times in frames (any real >= 0); noise: (b k z_dim) or None (drawn). -> (b n code_dim)."""
        if t.ndim != 2:
            raise ValueError(f"t must be (b n), got shape {tuple(t.shape)}")
        if noise is None:
            noise = self.sample_noise(t.shape[0], float(t.max()), device=t.device)
        needed = int(math.floor(float(t.max()) / self.distance)) + 2 + 2 * (self.kernel_size - 1)
        if noise.ndim != 3 or noise.shape[0] != t.shape[0] or noise.shape[1] < needed or noise.shape[2] != self.z_dim:
            raise ValueError(f"noise {tuple(noise.shape)} does not cover t up to {float(t.max()):.1f}: need "
                             f"({t.shape[0]} >={needed} {self.z_dim})")
        if float(t.min()) < 0:
            raise ValueError("motion-code times must be >= 0")
        u = self.anchors(noise)                                             # (b k hidden)
        # fp32 island: the angles are frequencies times frame times of up to max_frames, and
        # bfloat16 holds integers exactly only up to 256 (t = 1000 would move by 4 frames)
        with fp32_island("motion-code sinusoids", u, t) as (u, t):
            t = t.to(u.dtype)                                                 # (float64 tests)
            left = torch.floor(t / self.distance).long()                      # (b n)
            u_left = torch.gather(u, 1, left.unsqueeze(-1).expand(-1, -1, u.shape[-1]))
            u_right = torch.gather(u, 1, (left + 1).unsqueeze(-1).expand(-1, -1, u.shape[-1]))
            t_left = left.to(t.dtype) * self.distance
            a = ((t - t_left) / self.distance).unsqueeze(-1)                  # (b n 1) in [0, 1)
            periods = self.periods(u_left).tanh() + 1.0
            phases = self.phases(u_left)
            raw = self._raw(t, periods, phases)
            remove = torch.lerp(self._raw(t_left, periods, phases),
                                self._raw(t_left + self.distance, periods, phases), a)
            add = torch.lerp(self.aligners(u_left), self.aligners(u_right), a)
            return raw - remove + add
