"""Stage ``dynamics-vae``: the spectral-volume autoencoder of the latent diffusion model (Sec. 4.2).

One frequency slice S_fj (4 channels: Re dx, Re dy, Im dx, Im dy), normalised by Eq. (4),
is encoded to a 4-channel continuous latent (Sec. 7) by diffusers' ``AutoencoderKL`` with a
small config, and decoded back. The K slices of a spectral volume share the autoencoder; the
diffusion stages stack their latents along a frequency axis (b k c h w).

The model also owns the normalisation of S as buffers (``normalizer``): Eq. (4)'s s_fj
(fitted on the whole training split by ``SpectralVolumes`` and copied in ``on_train_start``),
or the image-size scale of the "w/o adaptive norm." ablation. They travel with the weights,
and every later stage embeds this model, so they survive save/load everywhere.
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from kinema.data.spectral import SpectralNormalizer
from kinema.errors import KinemaError
from kinema.methods.dynamics.config import VAEConfig
from kinema.methods.dynamics.data import ImageSizeScaler
from kinema.methods.dynamics.losses import gaussian_kl, gradient_consistency, l1_reconstruction
from kinema.pretrained import Pretrained


def build_autoencoder(config: VAEConfig):
    from diffusers import AutoencoderKL

    levels = len(config.block_out_channels)
    return AutoencoderKL(in_channels=4, out_channels=4, latent_channels=config.latent_channels,
                         down_block_types=("DownEncoderBlock2D",) * levels,
                         up_block_types=("UpDecoderBlock2D",) * levels,
                         block_out_channels=tuple(config.block_out_channels),
                         layers_per_block=config.layers_per_block, norm_num_groups=config.norm_num_groups,
                         sample_size=int(config.image_size[0]), mid_block_add_attention=config.mid_attention)


class SpectralVAE(nn.Module, Pretrained):
    """``encode(slices)`` / ``decode(latents)`` on normalised slices (n 4 h w) <-> (n c h/f w/f);
    ``encode_volume`` / ``decode_volume`` on un-normalised spectral volumes (b k 4 h w)."""

    config_class = VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__()
        if config.normalization not in ("adaptive", "image-size"):
            raise KinemaError(f"VAE normalization must be 'adaptive' or 'image-size'; got {config.normalization!r}")
        self.config = config
        self.autoencoder = build_autoencoder(config)
        self.normalizer = (SpectralNormalizer(config.num_frequencies, config.percentile)
                           if config.normalization == "adaptive" else ImageSizeScaler())
        self.downsampling = 2 ** (len(config.block_out_channels) - 1)

    @property
    def period(self) -> int:
        """Frames of the clips the spectral volumes were computed from (the FFT length)."""
        return self.config.period

    def latent_size(self) -> tuple[int, int]:
        h, w = self.config.image_size
        return h // self.downsampling, w // self.downsampling

    def normalize(self, volume: torch.Tensor) -> torch.Tensor:
        """(... k 4 h w) in px -> normalised (Eq. (4), or the image-size ablation)."""
        return self.normalizer.normalize(volume)

    def denormalize(self, normalized: torch.Tensor) -> torch.Tensor:
        """Exact inverse of ``normalize``."""
        return self.normalizer.denormalize(normalized)

    def encode(self, slices: torch.Tensor):
        """Normalised slices (n 4 h w) -> the posterior (diffusers' DiagonalGaussianDistribution)."""
        return self.autoencoder.encode(slices).latent_dist

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (n c h' w') -> normalised slices (n 4 h w)."""
        return self.autoencoder.decode(latents).sample

    def encode_volume(self, volume: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """Spectral volume (b k 4 h w) in px -> latents (b k c h' w'), drawn from the posterior
        (``sample``, as LDM trains on) or its mean."""
        posterior = self.encode(rearrange(self.normalize(volume), "b k c h w -> (b k) c h w"))
        latents = posterior.sample() if sample else posterior.mode()
        return rearrange(latents, "(b k) c h w -> b k c h w", b=volume.shape[0])

    def decode_volume(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (b k c h' w') -> spectral volume (b k 4 h w) in px; differentiable."""
        slices = self.decode(rearrange(latents, "b k c h w -> (b k) c h w"))
        return self.denormalize(rearrange(slices, "(b k) c h w -> b k c h w", b=latents.shape[0]))

    # ------------------------------------------------------------------ training contract

    def check_batch(self, batch: dict) -> None:
        volume = batch["spectral_volume"]
        expected = (self.config.num_frequencies, 4, *self.config.image_size)
        if tuple(volume.shape[1:]) != expected:
            raise KinemaError(f"dynamics-vae expects spectral volumes (b {' '.join(map(str, expected))}); "
                              f"the data gives {tuple(volume.shape)}: set model.num_frequencies/image_size "
                              f"or the data's num_frequencies/size to match")
        frames = int(batch["num_frames"].reshape(-1)[0])
        if frames != self.config.period:
            raise KinemaError(f"dynamics-vae has period {self.config.period} frames but the data's clips "
                              f"have {frames}: set model.period={frames} or the data's num_frames")

    def on_train_start(self, batch: dict) -> None:
        """Copy the data's normalisation statistics (computed over the whole split) into the buffers."""
        self.check_batch(batch)
        if isinstance(self.normalizer, SpectralNormalizer):
            self.normalizer.scale.copy_(batch["frequency_scale"][0].to(self.normalizer.scale))
        else:
            self.normalizer.fit(self.config.period, *self.config.image_size)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"model": list(self.autoencoder.parameters())}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr}

    def losses(self, slices: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted loss of Sec. 7 on normalised slices (n 4 h w), and its terms."""
        posterior = self.encode(slices)
        reconstruction = self.decode(posterior.sample())
        l1 = l1_reconstruction(reconstruction, slices)
        gradient = gradient_consistency(reconstruction, slices, self.config.gradient_scales)
        kl = gaussian_kl(posterior.mean, posterior.logvar)
        c = self.config
        return {"loss": c.l1_weight * l1 + c.gradient_weight * gradient + c.kl_weight * kl,
                "l1": l1.detach(), "gradient": gradient.detach(), "kl": kl.detach()}

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        normalized = self.normalize(batch["spectral_volume"])              # (b k 4 h w)
        b, k = normalized.shape[:2]
        per_item = min(self.config.slices_per_item or k, k)
        # a random subset of each clip's frequency slices (all K when slices_per_item is None)
        pick = torch.rand(b, k, device=normalized.device).argsort(dim=1)[:, :per_item]
        slices = normalized[torch.arange(b, device=normalized.device)[:, None], pick]
        return self.losses(rearrange(slices, "b n c h w -> (b n) c h w"))
