"""Stage ``dynamics-diffusion`` (stage A of Sec. 4.2): the latent denoiser of ONE frequency slice.

A diffusers ``UNet2DModel`` eps_theta(z_n, n, c; f_j) trained with the LDM loss of Eq. (3),
``E ||eps - eps_theta(z_n, n, c)||^2``, on the VAE latents of single frequency slices S_fj:

- the frequency index j is a learned embedding added to the timestep embedding (diffusers'
  ``num_class_embeds``: ``emb = time_emb(n) + class_emb(j)``), "an extra frequency embedding
  along with the time-step embedding";
- the condition c is the picture I0 downsampled to the latent size and concatenated with the
  noisy latent (Fig. 3), plus optional learned image channels (``DiffusionConfig.image_features``);
- classifier-free guidance: c is replaced by zeros with probability ``condition_dropout``.

``volume=True`` is Table 2's "Volume pred.": one U-Net denoising all K slices' latents as a
single 4K-channel tensor, no frequency embedding. Either way the public interface (``denoise``
on (b k c h w) latents) is the one ``sampling.py`` and stage B use.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.dynamics.config import DiffusionConfig, VAEConfig
from kinema.methods.dynamics.vae import SpectralVAE
from kinema.pretrained import Pretrained, config_from_dict, config_to_dict
from kinema.stages import open_stage, record_sources


class ImageCondition(nn.Module):
    """c = [I0 area-downsampled to the latent size (3 ch), learned strided-conv features (``features`` ch)]."""

    def __init__(self, downsampling: int, features: int):
        super().__init__()
        self.downsampling, self.features = downsampling, features
        self.encoder = None
        if features:
            layers: list[nn.Module] = [nn.Conv2d(3, features, 3, padding=1), nn.SiLU()]
            for _ in range(downsampling.bit_length() - 1):   # log2(downsampling) halvings
                layers += [nn.Conv2d(features, features, 4, stride=2, padding=1), nn.SiLU()]
            layers.append(nn.Conv2d(features, features, 3, padding=1))
            self.encoder = nn.Sequential(*layers)

    @property
    def channels(self) -> int:
        return 3 + self.features

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image (b 3 H W) in [-1, 1] -> condition (b 3+features H/f W/f)."""
        small = F.avg_pool2d(image, self.downsampling) if self.downsampling > 1 else image
        return small if self.encoder is None else torch.cat([small, self.encoder(image)], dim=1)


def build_unet(config: DiffusionConfig, in_channels: int, out_channels: int, sample_size,
               num_frequencies: int | None):
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=tuple(sample_size), in_channels=in_channels, out_channels=out_channels,
                       block_out_channels=tuple(config.block_out_channels),
                       layers_per_block=config.layers_per_block,
                       down_block_types=tuple(config.down_block_types), up_block_types=tuple(config.up_block_types),
                       attention_head_dim=config.attention_head_dim, norm_num_groups=config.norm_num_groups,
                       num_class_embeds=num_frequencies)


def noise_schedule(config: DiffusionConfig, kind: str = "ddpm"):
    """A fresh diffusers scheduler on the stage's training betas: ``ddpm`` (training noise),
    ``ddim`` (clip_sample=False: latents are not in [-1, 1]) or ``dpm`` (DPM-Solver++, order 2)."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    betas = dict(num_train_timesteps=config.num_train_timesteps, beta_start=config.beta_start,
                 beta_end=config.beta_end, beta_schedule="scaled_linear", prediction_type="epsilon")
    if kind == "ddpm":
        return DDPMScheduler(**betas, clip_sample=False)
    if kind == "ddim":
        return DDIMScheduler(**betas, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    if kind == "dpm":
        return DPMSolverMultistepScheduler(**betas, algorithm_type="dpmsolver++", solver_order=2)
    raise KinemaError(f"unknown sampler {kind!r}; choose ddim or dpm")


class FrequencyDiffusion(nn.Module, Pretrained):
    """Stage A (and the "Independent pred." / "Volume pred." motion models of Table 2)."""

    config_class = DiffusionConfig
    latent_scale: torch.Tensor

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        if config.vae is None:
            vae = open_stage(config, "vae_path")
            config = dataclasses.replace(config, vae=config_to_dict(vae.config))
            record_sources(self, vae_path=vae)
        else:
            vae = SpectralVAE(config_from_dict(VAEConfig, config.vae))
        self.config, self.vae = config, vae.requires_grad_(False)
        self.num_frequencies = vae.config.num_frequencies
        latent = vae.config.latent_channels
        self.image_condition = ImageCondition(vae.downsampling, config.image_features)
        k = self.num_frequencies
        channels = latent * (k if config.volume else 1)
        self.unet = build_unet(config, channels + self.image_condition.channels, channels, vae.latent_size(),
                               None if config.volume else k)
        # LDM's latent scale factor (1 / std of the latents), measured on the first batch
        self.register_buffer("latent_scale", torch.ones(()))
        self.schedule = noise_schedule(config, "ddpm")
        self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        self.vae.eval()   # frozen
        return self

    @property
    def period(self) -> int:
        """Frames of the training clips (the FFT length of the spectral volumes)."""
        return self.vae.period

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.vae.config.image_size)

    def latent_shape(self) -> tuple[int, int, int, int]:
        """(k c h w) of one sample's latents."""
        return (self.num_frequencies, self.vae.config.latent_channels, *self.vae.latent_size())

    def scheduler(self, kind: str):
        """A fresh sampling scheduler (``ddim`` or ``dpm``) on this model's training betas."""
        return noise_schedule(self.config, kind)

    def condition(self, image: torch.Tensor) -> torch.Tensor:
        """I0 (b 3 H W) in [-1, 1] at the model's image size -> c (b c' h w)."""
        if image.ndim != 4 or image.shape[1] != 3 or tuple(image.shape[-2:]) != self.image_size:
            raise KinemaError(f"the picture must be (b 3 {self.image_size[0]} {self.image_size[1]}) in [-1, 1] "
                              f"for this model; got {tuple(image.shape)}")
        return self.image_condition(image)

    def denoise(self, latents: torch.Tensor, timesteps: torch.Tensor, condition: torch.Tensor,
                frequencies: torch.Tensor | None = None) -> torch.Tensor:
        """eps_theta: noisy latents (b n c h w) at ``timesteps`` (b) -> predicted noise (b n c h w).

        ``frequencies`` (b n): the slice indices j of the n slices (default 0..K-1; the volume
        model needs all K in order)."""
        b, n = latents.shape[:2]
        if self.config.volume:
            if n != self.num_frequencies:
                raise KinemaError(f"the volume model denoises all {self.num_frequencies} slices at once; got {n}")
            x = torch.cat([rearrange(latents, "b k c h w -> b (k c) h w"), condition], dim=1)
            eps = self.unet(x, timesteps).sample
            return rearrange(eps, "b (k c) h w -> b k c h w", k=n)
        if frequencies is None:
            frequencies = repeat(torch.arange(n, device=latents.device), "k -> b k", b=b)
        x = torch.cat([rearrange(latents, "b k c h w -> (b k) c h w"),
                       repeat(condition, "b c h w -> (b k) c h w", k=n)], dim=1)
        eps = self.unet(x, repeat(timesteps, "b -> (b k)", k=n), class_labels=frequencies.reshape(-1)).sample
        return rearrange(eps, "(b k) c h w -> b k c h w", b=b)

    def encode_target(self, volume: torch.Tensor) -> torch.Tensor:
        """Spectral volume (b k 4 H W) in px -> scaled latents z_0 (b k c h w)."""
        with torch.no_grad():
            return self.vae.encode_volume(volume) * self.latent_scale

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (b k c h w) -> spectral volume (b k 4 H W) in px; differentiable."""
        return self.vae.decode_volume(latents / self.latent_scale)

    # ------------------------------------------------------------------ training contract

    def on_train_start(self, batch: dict) -> None:
        self.vae.check_batch(batch)
        with torch.no_grad():
            latents = self.vae.encode_volume(batch["spectral_volume"])
        self.latent_scale.fill_(1.0 / float(latents.std().clamp_min(1e-6)))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"model": list(self.unet.parameters()) + list(self.image_condition.parameters())}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr}

    def dropped_condition(self, image: torch.Tensor) -> torch.Tensor:
        """c with each item's condition zeroed with probability ``condition_dropout`` (CFG training)."""
        condition = self.condition(image)
        keep = torch.rand(condition.shape[0], device=condition.device) >= self.config.condition_dropout
        return condition * keep[:, None, None, None].to(condition)

    def noise_loss(self, latents: torch.Tensor, condition: torch.Tensor,
                   frequencies: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. (3): one timestep per item, Gaussian noise on its latents (b n c h w), MSE on eps."""
        b = latents.shape[0]
        timesteps = torch.randint(0, self.config.num_train_timesteps, (b,), device=latents.device)
        noise = torch.randn_like(latents)
        noisy = self.schedule.add_noise(latents, noise, timesteps)   # broadcasts (b) over (b n c h w)
        return F.mse_loss(self.denoise(noisy, timesteps, condition, frequencies), noise)

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        volume = batch["spectral_volume"]                                    # (b k 4 H W)
        condition = self.dropped_condition(batch["image"])
        if self.config.volume:
            return {"loss": self.noise_loss(self.encode_target(volume), condition)}
        b, k = volume.shape[:2]
        per_item = min(self.config.slices_per_item, k)
        # stage A sees single slices: a random subset of each clip's frequencies, encoded alone
        frequencies = torch.rand(b, k, device=volume.device).argsort(dim=1)[:, :per_item]
        with torch.no_grad():
            slices = self.vae.normalize(volume)[torch.arange(b, device=volume.device)[:, None], frequencies]
            latents = self.vae.encode(rearrange(slices, "b n c h w -> (b n) c h w")).sample() * self.latent_scale
        return {"loss": self.noise_loss(rearrange(latents, "(b n) c h w -> b n c h w", b=b), condition, frequencies)}
