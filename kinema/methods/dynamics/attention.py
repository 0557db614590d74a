"""Stage ``dynamics-attention`` (stage B of Sec. 4.2, Fig. 3): frequency-coordinated denoising.

Stage A's U-Net is frozen; after each of its 2D spatial layers (every ``ResnetBlock2D`` of the
down, mid and up blocks) an attention layer across the K frequency slices is inserted, and
only those are trained. The 2D layers see the B*K slices as independent samples
(``(b k) c h w``); the attention layer reshapes them to ``b k c h w`` and attends along k at
every pixel, with a sinusoidal position embedding of the frequency index. Its output
projection starts at zero, so at initialisation stage B computes exactly stage A.

Why not diffusers' ``UNetMotionModel.from_unet2d`` + ``freeze_unet2d_params`` (the same
pattern, frames in the role of frequencies): it only converts a ``UNet2DConditionModel`` and
its forward computes ONE timestep embedding per sample and repeats it over the frames, with
no class embedding, so the per-slice frequency embedding of stage A (different for each of
the K slices of a sample) cannot enter; it also requires cross-attention inputs this model has
none of. Its attention layer is used as is: ``AnimateDiffTransformer3D`` (the AnimateDiff
motion module, as the paper adopts the temporal attention of its ref. [41]).
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.dynamics.config import AttentionConfig, DiffusionConfig
from kinema.methods.dynamics.diffusion import FrequencyDiffusion, noise_schedule
from kinema.pretrained import Pretrained, config_from_dict, config_to_dict
from kinema.stages import open_stage, record_sources


class FrequencyAttention(nn.Module):
    """A frozen 2D layer followed by attention across the K slices: (b k) c h w -> same."""

    def __init__(self, layer: nn.Module, channels: int, num_frequencies: int, heads: int, layers: int, groups: int):
        super().__init__()
        from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D

        if channels % heads:
            raise KinemaError(f"frequency attention: {channels} channels do not split into {heads} heads")
        self.layer, self.num_frequencies = layer, num_frequencies
        self.attention = AnimateDiffTransformer3D(
            num_attention_heads=heads, attention_head_dim=channels // heads, in_channels=channels,
            num_layers=layers, norm_num_groups=groups, positional_embeddings="sinusoidal",
            num_positional_embeddings=num_frequencies, double_self_attention=True)
        nn.init.zeros_(self.attention.proj_out.weight)   # stage B starts as stage A
        nn.init.zeros_(self.attention.proj_out.bias)

    def forward(self, *args, **kwargs) -> torch.Tensor:
        return self.attention(self.layer(*args, **kwargs), num_frames=self.num_frequencies)


def insert_frequency_attention(unet: nn.Module, num_frequencies: int, heads: int, layers: int, groups: int) -> int:
    """Wrap every ResnetBlock2D of a diffusers UNet2DModel in ``FrequencyAttention``; returns how many."""
    blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
    count = 0
    for block in blocks:
        for j, resnet in enumerate(block.resnets):
            block.resnets[j] = FrequencyAttention(resnet, resnet.out_channels, num_frequencies, heads, layers, groups)
            count += 1
    return count


class FrequencyCoordinatedDiffusion(nn.Module, Pretrained):
    """Stage B: the full motion model of the paper (``denoise`` on all K slices jointly)."""

    config_class = AttentionConfig

    def __init__(self, config: AttentionConfig):
        super().__init__()
        if config.diffusion is None:
            base = open_stage(config, "diffusion_path")
            config = dataclasses.replace(config, diffusion=config_to_dict(base.config))
            record_sources(self, diffusion_path=base)
        else:
            base = FrequencyDiffusion(config_from_dict(DiffusionConfig, config.diffusion))
        if base.config.volume:
            raise KinemaError("the volume-prediction model has no frequency slices to coordinate: "
                              "it is a motion model by itself (use it without dynamics-attention)")
        self.config, self.base = config, base.requires_grad_(False)
        self.num_frequencies = base.num_frequencies
        self.num_attention_layers = insert_frequency_attention(
            base.unet, base.num_frequencies, config.attention_heads, config.attention_layers,
            base.config.norm_num_groups)
        self.train()

    def attention_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules() if isinstance(m, FrequencyAttention) for p in m.attention.parameters()]

    @property
    def period(self) -> int:
        return self.base.period

    @property
    def image_size(self) -> tuple[int, int]:
        return self.base.image_size

    def latent_shape(self) -> tuple[int, int, int, int]:
        return self.base.latent_shape()

    def scheduler(self, kind: str):
        return noise_schedule(self.base.config, kind)

    def condition(self, image: torch.Tensor) -> torch.Tensor:
        return self.base.condition(image)

    def denoise(self, latents: torch.Tensor, timesteps: torch.Tensor, condition: torch.Tensor,
                frequencies: torch.Tensor | None = None) -> torch.Tensor:
        """eps_theta on all K slices at once: (b k c h w) -> (b k c h w)."""
        if latents.shape[1] != self.num_frequencies or frequencies is not None:
            raise KinemaError(f"frequency-coordinated denoising needs all {self.num_frequencies} slices "
                              f"in order; got {latents.shape[1]}")
        return self.base.denoise(latents, timesteps, condition)

    def encode_target(self, volume: torch.Tensor) -> torch.Tensor:
        return self.base.encode_target(volume)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return self.base.decode_latents(latents)

    # ------------------------------------------------------------------ training contract

    def on_train_start(self, batch: dict) -> None:
        self.base.vae.check_batch(batch)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        params = self.attention_parameters()
        for p in params:
            p.requires_grad_(True)
        return {"attention": params}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr}

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        latents = self.encode_target(batch["spectral_volume"])            # (b k c h w), all K slices
        condition = self.base.dropped_condition(batch["image"])
        return {"loss": self.base.noise_loss(latents, condition)}
