"""StyleGAN2 building blocks (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"), shared by GenDeF and the latent temporal GAN.

- ``EqualizedLinear``: a dense layer with equalised learning rate (weights stored as N(0, 1) /
  lr_multiplier and scaled by lr_multiplier / sqrt(fan_in) at run time).
- ``MappingNetwork``: z -> w, an MLP over the normalised z (second moment 1) with the mapping's
  lr multiplier (0.01 in StyleGAN2), a running mean of w for truncation.
- ``modulated_conv2d`` / ``ModulatedConv2d``: StyleGAN2's Eqs. (1)-(3): w'_ijk = s_i w_ijk,
  demodulated by sigma_j = sqrt(sum_ik w'_ijk^2 + eps) (computed by scaling activations).
- ``SynthesisLayer``: (optional x2 upsampling,) modulated 3x3 conv, per-pixel noise scaled by a
  learned strength (initialised to 0), bias, leaky ReLU with gain sqrt(2).
- ``ToImage``: StyleGAN2's toRGB (a 1x1 modulated conv without demodulation, plus bias) with any
  number of output channels ("ToOut" with 2 channels in GenDeF).
- ``SynthesisNetwork``: a learned 4x4 constant (optionally concatenated with per-sample input
  channels, e.g. StyleGAN-V's motion codes), blocks of two synthesis layers doubling the
  resolution, and skip toImage outputs summed after upsampling. Its W+ interface takes one w per
  layer, ``ws: (b num_ws w_dim)``, and it can return the features of any of its layers.
- ``StyleGenerator``: mapping + synthesis.

Upsampling is bilinear x2 (``align_corners=False``), which in the interior is StyleGAN2's
[1, 3, 3, 1] FIR filter applied after zero insertion; StyleGAN2 fuses it into a transposed
convolution, and its border handling differs by a pixel.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from kinema.nn.checkpointing import checkpointed

LRELU_GAIN = math.sqrt(2.0)   # keeps the second moment of N(0,1) inputs through leaky ReLU(0.2)


def normalize_second_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2)) along ``dim`` (StyleGAN's pixel norm of z)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def leaky_relu_gained(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class EqualizedLinear(nn.Module):
    """y = act(x W^T * (lr / sqrt(in)) + b * lr), W ~ N(0, 1/lr^2). x: (b in) -> (b out)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, lr_multiplier: float = 1.0,
                 bias_init: float = 0.0, activation: str = "linear"):
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.bias_gain
        y = F.linear(x, self.weight * self.weight_gain, bias)
        return leaky_relu_gained(y) if self.activation == "lrelu" else y


class MappingNetwork(nn.Module):
    """z (b z_dim) [+ condition c (b c_dim)] -> w (b w_dim).

    StyleGAN2's mapping: normalise z (and the embedded c) to unit second moment, then
    ``num_layers`` lrelu equalised dense layers with ``lr_multiplier``. In training mode it tracks
    the running mean of w (``w_avg``, decay ``w_avg_beta``) used by the truncation trick
    w_avg + psi (w - w_avg).
    """

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, lr_multiplier: float = 0.01,
                 c_dim: int = 0, w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.embed = EqualizedLinear(c_dim, w_dim) if c_dim > 0 else None
        features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualizedLinear(a, b, lr_multiplier=lr_multiplier, activation="lrelu")
            for a, b in zip(features[:-1], features[1:]))
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0) -> torch.Tensor:
        parts = [normalize_second_moment(z)] if self.z_dim > 0 else []
        if self.embed is not None:
            if c is None:
                raise ValueError(f"this mapping network is conditional (c_dim={self.c_dim}); pass c")
            parts.append(normalize_second_moment(self.embed(c)))
        x = torch.cat(parts, dim=1)
        for layer in self.layers:
            x = layer(x)
        if self.training and self.w_avg_beta is not None:
            with torch.no_grad():   # (x is bfloat16 under autocast; the running mean is not)
                mean = x.detach().to(self.w_avg.dtype).mean(dim=0)
                self.w_avg.copy_(mean.lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:
            x = self.w_avg.lerp(x.to(self.w_avg.dtype), truncation_psi)
        return x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0, eps: float = 1e-8) -> torch.Tensor:
    """StyleGAN2's modulated convolution.

    x: (b i h w); weight: (o i k k); styles s: (b i). Eq. (1): w'_bijk = s_bi w_ijk; Eq. (3):
    w''_bijk = w'_bijk / sqrt(sum_ik w'_bijk^2 + eps) when ``demodulate``. Returns (b o h' w').

    Computed as StyleGAN2's non-fused path, which is the same sum: scale the input channels by
    s, convolve with the shared weight, scale the output channels by the demodulation
    coefficients 1 / sqrt(sum_i s_bi^2 sum_k w_oik^2 + eps). One batched convolution is several
    times faster on a CPU than the grouped convolution with a weight per sample.
    """
    y = F.conv2d(x * styles[:, :, None, None], weight, padding=padding)
    if demodulate:
        coefficients = (styles.square() @ weight.square().sum(dim=(2, 3)).T + eps).rsqrt()   # (b o)
        y = y * coefficients[:, :, None, None]
    return y


class ModulatedConv2d(nn.Module):
    """A k x k modulated convolution whose styles come from w by an affine layer (bias 1, so
    s = 1 + ... at init). x: (b in h w), w: (b w_dim) -> (b out h w) (x2 larger when ``up``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True, up: bool = False):
        super().__init__()
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.demodulate, self.up, self.padding = demodulate, up, kernel_size // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        if self.up:
            x = upsample2x(x)
        return modulated_conv2d(x, self.weight * self.weight_gain, styles, self.demodulate, self.padding)


def _noise(shape: tuple[int, int, int], frames_per_sample: int, like: torch.Tensor) -> torch.Tensor:
    """(b 1 h w) standard normal noise, the same for the ``frames_per_sample`` consecutive items of
    each sample (frames of one video share their noise, so it cannot flicker)."""
    batch, height, width = shape
    if batch % frames_per_sample:
        raise ValueError(f"batch {batch} is not a multiple of frames_per_sample {frames_per_sample}")
    noise = torch.randn(batch // frames_per_sample, 1, height, width, device=like.device, dtype=like.dtype)
    return noise.repeat_interleave(frames_per_sample, dim=0)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (upsampling first when ``up``) + learned-strength noise + bias + lrelu.

    x: (b in h w), w: (b w_dim) -> (b out H W). ``noise_mode``: "random" (fresh noise), "const"
    (a fixed buffer drawn at construction), "none".
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False,
                 kernel_size: int = 3, use_noise: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, w_dim, up=up)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.resolution, self.out_channels = resolution, out_channels
        self.use_noise = use_noise
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
            self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                frames_per_sample: int = 1) -> torch.Tensor:
        x = self.conv(x, w)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = _noise((x.shape[0], x.shape[2], x.shape[3]), frames_per_sample, x)
            elif noise_mode == "const":
                noise = self.noise_const
            else:
                raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
            x = x + noise * self.noise_strength
        return leaky_relu_gained(x + self.bias[None, :, None, None])


class ToImage(nn.Module):
    """StyleGAN2's toRGB: 1x1 modulated conv without demodulation, plus bias, linear output.
    x: (b in h w), w: (b w_dim) -> (b out_channels h w)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]

    def zero_(self) -> "ToImage":
        """Zero the weight and bias, so the output is exactly 0 for any input (GenDeF's zero
        initialisation of the last "ToOut", appendix A)."""
        with torch.no_grad():
            self.conv.weight.zero_()
            self.bias.zero_()
        return self


def channel_widths(resolution: int, channel_base: int, channel_max: int) -> dict[int, int]:
    """StyleGAN2's widths: min(channel_base // res, channel_max) for res = 4, 8, ..., resolution."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
    return {2 ** k: max(1, min(channel_base // 2 ** k, channel_max)) for k in range(2, int(math.log2(resolution)) + 1)}


class SynthesisNetwork(nn.Module):
    """ws (b num_ws w_dim) -> image (b out_channels res res), StyleGAN2's skip generator.

    Layer k (k = 0 .. num_layers-1, in order of resolution) uses ws[:, k]; the toImage of the
    block ending at layer k uses ws[:, k+1] (as StyleGAN2 shares it with the next block's first
    layer), so num_ws = num_layers + 1. ``input_channels`` extra per-sample channels (b c) are
    broadcast over the 4x4 grid and concatenated to the learned constant (StyleGAN-V feeds its
    motion codes this way).
    """

    def __init__(self, w_dim: int, resolution: int, out_channels: int = 3, channel_base: int = 16384,
                 channel_max: int = 512, input_channels: int = 0, use_noise: bool = True):
        super().__init__()
        self.w_dim, self.resolution, self.out_channels = w_dim, resolution, out_channels
        self.widths = channel_widths(resolution, channel_base, channel_max)
        self.input_channels = input_channels
        self.const = nn.Parameter(torch.randn(self.widths[4], 4, 4))
        layers, to_images, self.block_ends = [], [], []
        previous = self.widths[4] + input_channels
        for res, width in self.widths.items():
            for index in range(1 if res == 4 else 2):
                layers.append(SynthesisLayer(previous, width, w_dim, res, up=(res > 4 and index == 0),
                                             use_noise=use_noise))
                previous = width
            to_images.append(ToImage(width, out_channels, w_dim))
            self.block_ends.append(len(layers) - 1)
        self.layers = nn.ModuleList(layers)
        self.to_images = nn.ModuleList(to_images)
        self.activation_checkpointing = False   # per layer (kinema.nn.checkpointing)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_ws(self) -> int:
        return len(self.layers) + 1

    def layer_shape(self, index: int) -> tuple[int, int]:
        """(channels, resolution) of layer ``index``'s output features (negative indices allowed)."""
        layer = self.layers[index]
        return layer.out_channels, layer.resolution

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """The W path: (b w_dim) -> (b num_ws w_dim), the same w for every layer."""
        return repeat(w, "b d -> b n d", n=self.num_ws)

    def forward(self, ws: torch.Tensor, extra_input: torch.Tensor | None = None, noise_mode: str = "random",
                frames_per_sample: int = 1, feature_layer: int | None = None):
        """ws: (b num_ws w_dim), or (b w_dim) for the W path; extra_input: (b input_channels).

        Returns the image (b out_channels res res), or (image, features of layer
        ``feature_layer``) when it is given (negative counts from the end: -1 is the last
        synthesis layer, the one before the output).
        """
        if ws.ndim == 2:
            ws = self.broadcast(ws)
        if ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be (b {self.num_ws} {self.w_dim}), got {tuple(ws.shape)}")
        if feature_layer is not None and not -self.num_layers <= feature_layer < self.num_layers:
            raise ValueError(f"feature_layer must be in [{-self.num_layers}, {self.num_layers}), got {feature_layer}")
        x = repeat(self.const, "c h w -> b c h w", b=ws.shape[0])
        if self.input_channels:
            if extra_input is None or extra_input.shape != (ws.shape[0], self.input_channels):
                raise ValueError(f"extra_input must be (b {self.input_channels})")
            x = torch.cat([x, repeat(extra_input, "b c -> b c h w", h=4, w=4)], dim=1)
        wanted = None if feature_layer is None else feature_layer % self.num_layers
        image, features = None, None
        block = 0
        for k, layer in enumerate(self.layers):
            x = checkpointed(self, layer, x, ws[:, k], noise_mode, frames_per_sample)
            if k == wanted:
                features = x
            if k == self.block_ends[block]:
                out = self.to_images[block](x, ws[:, k + 1])
                image = out if image is None else upsample2x(image) + out
                block += 1
        return image if feature_layer is None else (image, features)


class StyleGenerator(nn.Module):
    """Mapping + synthesis: z (b z_dim) -> image (b out_channels res res) (Eq. (1) of GenDeF's
    canonical branch is this with out_channels = 3)."""

    def __init__(self, z_dim: int, w_dim: int, resolution: int, out_channels: int = 3, mapping_layers: int = 8,
                 mapping_lr_multiplier: float = 0.01, channel_base: int = 16384, channel_max: int = 512,
                 use_noise: bool = True):
        super().__init__()
        self.z_dim = z_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_multiplier)
        self.synthesis = SynthesisNetwork(w_dim, resolution, out_channels, channel_base, channel_max,
                                          use_noise=use_noise)

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "random",
                feature_layer: int | None = None):
        w = self.mapping(z, truncation_psi=truncation_psi)
        return self.synthesis(w, noise_mode=noise_mode, feature_layer=feature_layer)
