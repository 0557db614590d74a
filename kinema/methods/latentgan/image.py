"""The image side of StyleVideoGAN (stage ``latentgan-image``): a generator with a W+ space
and an encoder that inverts frames into it.

The paper uses a pretrained StyleGAN2 and pSp (Sec. 3). None can be downloaded here, so kinema
trains a small pair on frames, jointly:

- generator: StyleGAN2's mapping z -> w and skip synthesis network ws (b num_ws w_dim) -> image
  (``kinema.nn.modulated``; without per-pixel noise, so an image is a function of its ws);
- encoder (pSp's role): a convolutional pyramid to a W+ offset from the mapping's running mean
  w_avg, as pSp predicts codes relative to the average latent;
- discriminator: strided convolutions to one logit (no normalisation: R1 is per sample).

Losses. Generator step (mapping + synthesis + encoder):
  reconstruction ||G(E(x)) - x||_1 + ||G(E(x)) - x||_2^2 (pSp's pixel terms; its LPIPS and
  identity terms need pretrained networks), the non-saturating GAN loss of G(mapping(z)), and a
  cycle term ||E(G(w)) - w||^2 on the generator's own samples (detached), so that "render a
  random z and embed it" (the offset trick's new identity) lands on the code that drew it.
Discriminator step: the non-saturating loss with R1 (gamma / 2) E||grad D(x)||^2 on real frames.

``LatentImageModel`` is the interface the temporal stage needs; a user plugs in a pair of their
own (e.g. an official StyleGAN2 + pSp) by giving an object with those members.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from einops import rearrange, repeat
from torch import nn

from kinema.methods.latentgan.config import ImageConfig
from kinema.nn.gan import (frozen, nonsaturating_discriminator_loss, nonsaturating_generator_loss,
                           r1_penalty)
from kinema.nn.modulated import MappingNetwork, SynthesisNetwork
from kinema.pretrained import Pretrained


@runtime_checkable
class LatentImageModel(Protocol):
    """What StyleVideoGAN needs of an image generator and its inverter.

    Images are (b c h w) in [-1, 1]; codes ws are (b num_ws w_dim), one w per synthesis layer.
    """
    num_ws: int
    w_dim: int
    channels: int
    resolution: int

    def generator(self, ws: torch.Tensor) -> torch.Tensor:
        """ws (b num_ws w_dim) -> images (b c h w) in [-1, 1]."""
        ...

    def encoder(self, images: torch.Tensor) -> torch.Tensor:
        """images (b c h w) in [-1, 1] -> ws (b num_ws w_dim)."""
        ...

    def random_ws(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """ws of ``num`` random images of the generator (z ~ N(0, I) through the mapping)."""
        ...


def _conv_stages(channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, padding=1), nn.LeakyReLU(0.2)]
    previous = widths[0]
    for width in widths:
        layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                   nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2)]
        previous = width
    return nn.Sequential(*layers)


class WPlusEncoder(nn.Module):
    """images (b c r r) -> W+ offsets (b num_ws w_dim)."""

    def __init__(self, channels: int, resolution: int, widths: tuple[int, ...], num_ws: int, w_dim: int):
        super().__init__()
        self.num_ws = num_ws
        self.body = _conv_stages(channels, widths)
        cells = (resolution // 2 ** len(widths)) ** 2
        self.head = nn.Linear(widths[-1] * cells, num_ws * w_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return rearrange(self.head(self.body(images).flatten(1)), "b (n d) -> b n d", n=self.num_ws)


class ImageDiscriminator(nn.Module):
    """images (b c r r) -> logits (b)."""

    def __init__(self, channels: int, resolution: int, widths: tuple[int, ...]):
        super().__init__()
        self.body = _conv_stages(channels, widths)
        self.head = nn.Linear(widths[-1] * (resolution // 2 ** len(widths)) ** 2, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images).flatten(1)).squeeze(1)


class ImagePair(nn.Module, Pretrained):
    """Stage ``latentgan-image``: a ``LatentImageModel`` trained on frames (module docstring)."""

    config_class = ImageConfig
    # with train.ema_decay, the generator (mapping + synthesis) and the encoder trained with it
    # are averaged (StyleGAN's G_ema; the encoder inverts the averaged generator it is saved
    # with); the discriminator is saved as trained
    ema_prefixes = ("mapping", "synthesis", "inverter")

    def __init__(self, config: ImageConfig):
        super().__init__()
        self.config = config
        if config.resolution // 2 ** len(config.encoder_widths) < 1:
            raise ValueError(f"{len(config.encoder_widths)} encoder stages halve "
                             f"{config.resolution} px below one pixel")
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, config.mapping_layers,
                                      config.mapping_lr_multiplier)
        self.synthesis = SynthesisNetwork(config.w_dim, config.resolution, config.channels,
                                          config.channel_base, config.channel_max, use_noise=False)
        self.inverter = WPlusEncoder(config.channels, config.resolution,
                                     tuple(config.encoder_widths), self.num_ws, config.w_dim)
        self.discriminator = ImageDiscriminator(config.channels, config.resolution,
                                                tuple(config.discriminator_widths))

    # ------------------------------------------------------------------ LatentImageModel

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def channels(self) -> int:
        return self.config.channels

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def generator(self, ws: torch.Tensor) -> torch.Tensor:
        return self.synthesis(ws, noise_mode="none").clamp(-1.0, 1.0)

    def encoder(self, images: torch.Tensor) -> torch.Tensor:
        return self.mapping.w_avg + self.inverter(images)

    def random_ws(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(num, self.config.z_dim, generator=generator).to(self.mapping.w_avg.device)
        return repeat(self.mapping(z), "b d -> b n d", n=self.num_ws)

    # ------------------------------------------------------------------ training contract

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        generator = [*self.mapping.parameters(), *self.synthesis.parameters(),
                     *self.inverter.parameters()]
        if self.config.adversarial_weight <= 0:
            return {"generator": generator}
        return {"discriminator": list(self.discriminator.parameters()), "generator": generator}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr, "betas": (0.0, 0.99), "weight_decay": 0.0}

    def _fake(self, batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        ws = repeat(self.mapping(torch.randn(batch, self.config.z_dim, device=device)),
                    "b d -> b n d", n=self.num_ws)
        return ws, self.synthesis(ws, noise_mode="none")

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        frames = rearrange(batch["video"], "b t c h w -> (b t) c h w")
        cfg = self.config
        if group == "discriminator":
            with torch.no_grad():
                _, fake = self._fake(frames.shape[0], frames.device)
            real = frames.detach().requires_grad_(True)
            real_logits = self.discriminator(real)
            loss = nonsaturating_discriminator_loss(real_logits, self.discriminator(fake))
            r1 = r1_penalty(real_logits, real)
            return {"loss": loss + cfg.r1_weight / 2 * r1, "gan": loss.detach(), "r1": r1.detach()}
        reconstruction = self.synthesis(self.encoder(frames), noise_mode="none")
        l1 = (reconstruction - frames).abs().mean()
        l2 = (reconstruction - frames).pow(2).mean()
        ws, fake = self._fake(frames.shape[0], frames.device)
        cycle = (self.encoder(fake.detach()) - ws.detach()).pow(2).mean()
        loss = cfg.reconstruction_weight * (l1 + l2) + cfg.cycle_weight * cycle
        out = {"l1": l1.detach(), "l2": l2.detach(), "cycle": cycle.detach()}
        if cfg.adversarial_weight > 0:
            with frozen(self.discriminator):
                adversarial = nonsaturating_generator_loss(self.discriminator(fake))
            loss = loss + cfg.adversarial_weight * adversarial
            out["adversarial"] = adversarial.detach()
        return {"loss": loss, **out}

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        """(b 3 c h w): a frame, its reconstruction G(E(x)), a random sample G(mapping(z))."""
        frames = batch["video"][:, 0]
        random = self.generator(self.random_ws(frames.shape[0]))
        return torch.stack([frames, self.generator(self.encoder(frames)), random], dim=1)


@torch.no_grad()
def encode_frames(model: LatentImageModel, frames: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """frames (n c h w) -> ws (n num_ws w_dim), in chunks of ``batch_size``."""
    return torch.cat([model.encoder(chunk) for chunk in frames.split(batch_size)])


@torch.no_grad()
def render(model: LatentImageModel, ws: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """ws (b t num_ws w_dim) -> video (b t c h w) in [-1, 1], in chunks of ``batch_size`` frames."""
    b = ws.shape[0]
    flat = rearrange(ws, "b t n d -> (b t) n d")
    frames = torch.cat([model.generator(chunk) for chunk in flat.split(batch_size)])
    return rearrange(frames, "(b t) c h w -> b t c h w", b=b)


def reconstruction_psnr(model: LatentImageModel, frames: torch.Tensor) -> float:
    """Mean PSNR (dB, data range 2) of G(E(x)) against frames (n c h w) in [-1, 1]."""
    rebuilt = render(model, encode_frames(model, frames)[:, None])[:, 0]
    mse = (rebuilt - frames).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(4.0 / mse)).mean())


def check_pair(model) -> None:
    """A KinemaError unless ``model`` offers the ``LatentImageModel`` members."""
    from kinema.errors import KinemaError

    missing = [name for name in ("num_ws", "w_dim", "channels", "resolution", "generator",
                                 "encoder", "random_ws") if not hasattr(model, name)]
    if missing:
        raise KinemaError(f"{type(model).__name__} is not a LatentImageModel: it lacks "
                          f"{', '.join(missing)} (see kinema.methods.latentgan.image)")


__all__ = ["LatentImageModel", "ImagePair", "encode_frames", "render", "reconstruction_psnr",
           "check_pair", "F"]
