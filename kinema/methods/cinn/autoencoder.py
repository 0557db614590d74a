"""Stage 1: the video autoencoder q_phi(z|X), p_psi(X|x0, z) of Sec. 3.3 and appendix B.1,
trained by Eq. (10) against a frame discriminator D_S and a clip discriminator D_T.

- Encoder q_phi: a 3D ResNet with GroupNorm, average pooling to a small (t h w) grid
  (``encoder_grid``), flattening and a linear map to mu and log sigma^2 of z (the paper's two
  4x4 convolutions to a 1-d code are a linear map of a 4x4 map too; pooling first does not tie
  the encoder to one resolution).
- Decoder p_psi: z -> fully connected -> a small (t0 h0 w0) feature map -> n video residual
  blocks, each normalising with SPADE on x0 and AdaIN on z, nearest-neighbour upsampling in
  space (and time for the first ones) after every block but the last, spectral norm, a 3D
  convolution and tanh (Fig. 9).
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.methods.cinn.config import AutoencoderConfig
from kinema.methods.cinn.losses import kl_to_standard_normal
from kinema.nn.discriminators import PatchDiscriminator, TemporalDiscriminator
from kinema.nn.gan import (feature_matching, frozen, hinge_discriminator_loss,
                           hinge_generator_loss, r1_penalty)
from kinema.nn.norms import SPADE, AdaIN, group_count, spectral
from kinema.nn.video3d import ResNet3d
from kinema.pretrained import Pretrained


class VideoEncoder(nn.Module):
    """q_phi(z|X): video (b t c h w) -> (mu, logvar), each (b z_dim)."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.body = ResNet3d(config.channels, tuple(config.encoder_widths),
                             time_downsample=config.encoder_time_downsample, norm="group")
        self.grid = tuple(config.encoder_grid) if config.encoder_grid else None
        cells = self.grid[0] * self.grid[1] * self.grid[2] if self.grid else 1
        self.head = nn.Linear(self.body.out_channels * cells, 2 * config.z_dim)
        with torch.no_grad():   # start with small posterior noise (sigma ~ 0.14) so z carries
            self.head.bias[config.z_dim:].fill_(-4.0)   # the clip from the first steps

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(rearrange(video, "b t c h w -> b c t h w"))[-1]      # (b c t h w)
        pooled = F.adaptive_avg_pool3d(h, self.grid).flatten(1) if self.grid else h.mean(dim=(2, 3, 4))
        mu, logvar = self.head(pooled).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)


class VideoResBlock(nn.Module):
    """The video residual block of Fig. 9: [SPADE(x0) -> AdaIN(z) -> LeakyReLU -> Conv3d] x 2
    plus a (1x1x1 conv) skip. Ablations drop SPADE (GroupNorm instead) or AdaIN."""

    def __init__(self, in_channels: int, out_channels: int, config: AutoencoderConfig):
        super().__init__()
        self.use_x0 = config.use_x0
        sn = config.spectral_norm

        def norm(c: int) -> nn.Module:
            if config.use_x0:
                return SPADE(c, config.channels, config.spade_hidden)
            return nn.GroupNorm(group_count(c), c)

        self.norm1, self.norm2 = norm(in_channels), norm(out_channels)
        # None when AdaIN is ablated (same state-dict keys as before when it is on)
        self.adain1 = AdaIN(in_channels, config.z_dim) if config.use_adain else None
        self.adain2 = AdaIN(out_channels, config.z_dim) if config.use_adain else None
        self.conv1 = spectral(nn.Conv3d(in_channels, out_channels, 3, padding=1), sn)
        self.conv2 = spectral(nn.Conv3d(out_channels, out_channels, 3, padding=1), sn)
        self.skip = nn.Identity() if in_channels == out_channels else \
            spectral(nn.Conv3d(in_channels, out_channels, 1, bias=False), sn)

    def _modulate(self, h, norm, adain, x0, z):
        h = norm(h, x0) if self.use_x0 else norm(h)
        if adain is not None:
            h = adain(h, z)
        return F.leaky_relu(h, 0.2)

    def forward(self, h: torch.Tensor, x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """h (b c t h w), x0 (b c h w), z (b d) -> (b c' t h w)."""
        out = self.conv1(self._modulate(h, self.norm1, self.adain1, x0, z))
        out = self.conv2(self._modulate(out, self.norm2, self.adain2, x0, z))
        return out + self.skip(h)


class VideoDecoder(nn.Module):
    """p_psi(X|x0, z): x0 (b c h w), z (b z_dim) -> video (b t c h w) in [-1, 1]."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        widths = tuple(config.decoder_widths)
        self.t0, self.h0 = config.initial_shape
        self.time_upsample = config.decoder_time_upsample
        # z enters through a fully connected layer matching the first feature map (app. B.1)
        self.fc = nn.Linear(config.z_dim, widths[0] * self.t0 * self.h0 * self.h0)
        self.blocks = nn.ModuleList(
            VideoResBlock(widths[max(i - 1, 0)], w, config) for i, w in enumerate(widths))
        self.out = spectral(nn.Conv3d(widths[-1], config.channels, 3, padding=1), config.spectral_norm)

    def forward(self, x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = rearrange(self.fc(z), "b (c t h w) -> b c t h w", t=self.t0, h=self.h0, w=self.h0)
        for i, block in enumerate(self.blocks):
            h = block(h, x0, z)
            if i < len(self.blocks) - 1:
                h = F.interpolate(h, scale_factor=(2 if i < self.time_upsample else 1, 2, 2),
                                  mode="nearest")
        video = torch.tanh(self.out(F.leaky_relu(h, 0.2)))
        return rearrange(video, "b c t h w -> b t c h w")


class VideoAutoencoder(nn.Module, Pretrained):
    """Stage 1 of the cINN: encoder, decoder and the two discriminators, trained by Eq. (10)-(12).

    ``encode(video) -> (mu, logvar)``, ``decode(x0, z) -> video``; video (b t c h w), x0 (b c h w).
    """

    config_class = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.encoder = VideoEncoder(config)
        self.decoder = VideoDecoder(config)
        self.frame_discriminator = PatchDiscriminator(config.channels, tuple(config.patch_widths))
        self.clip_discriminator = TemporalDiscriminator(config.channels, tuple(config.temporal_widths))
        self.register_buffer("generator_steps", torch.tensor(0))
        self._perceptual = []   # a frozen VGG-16 kept out of the state dict (weights are the user's)
        if config.vgg_weights:
            from kinema.metrics.features.vgg import load_vgg

            network = load_vgg(config.vgg_weights, size=max(64, config.image_size)).network
            self._perceptual.append(network.requires_grad_(False))

    @property
    def has_perceptual_loss(self) -> bool:
        return bool(self._perceptual)

    def encode(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(video)

    def decode(self, x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(x0, z)

    def reconstruct(self, video: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, ...]:
        """video (b t c h w) -> (reconstruction, mu, logvar); z by the reparametrisation trick."""
        mu, logvar = self.encode(video)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return self.decode(video[:, 0], z), mu, logvar

    # ------------------------------------------------------------------ training contract

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        discriminators = [*self.frame_discriminator.parameters(), *self.clip_discriminator.parameters()]
        return {"discriminator": discriminators,
                "generator": [*self.encoder.parameters(), *self.decoder.parameters()]}

    def expected_input(self) -> dict:
        c = self.config   # the decoder makes exactly num_frames frames of this size
        return {"num_frames": c.num_frames, "channels": c.channels, "image_size": c.image_size}

    def on_train_start(self, batch: dict) -> None:
        if self.config.vgg_weights:
            print(f"cinn-autoencoder: frame-wise VGG perceptual loss on ({self.config.vgg_weights})",
                  file=sys.stderr)
        else:
            print("cinn-autoencoder: no VGG weights given (model.vgg_weights): training WITHOUT the "
                  "paper's frame-wise perceptual loss of Eq. (10)", file=sys.stderr)

    def _discriminate(self, video: torch.Tensor):
        s_logits, s_feats = self.frame_discriminator(rearrange(video, "b t c h w -> (b t) c h w"))
        t_logits, t_feats = self.clip_discriminator(video)
        return s_logits, s_feats, t_logits, t_feats

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        video = batch["video"]                                    # (b t c h w)
        if group == "discriminator":
            with torch.no_grad():
                fake = self.reconstruct(video)[0]
            real = video.detach().requires_grad_(True)
            s_real, _, t_real, _ = self._discriminate(real)
            s_fake, _, t_fake, _ = self._discriminate(fake)
            loss_s = hinge_discriminator_loss(s_real, s_fake)           # Eq. (12)
            gp = r1_penalty(t_real, real)
            loss_t = hinge_discriminator_loss(t_real, t_fake) + self.config.gradient_penalty * gp  # Eq. (11)
            return {"loss": loss_s + loss_t, "d_spatial": loss_s, "d_temporal": loss_t, "gp": gp}
        cfg = self.config
        rec, mu, logvar = self.reconstruct(video)
        l1 = F.l1_loss(rec, video)
        kl = kl_to_standard_normal(mu, logvar)
        loss = cfg.reconstruction_weight * l1 + cfg.kl_weight * kl          # Eq. (10)
        # logged every step, so the run's metrics.jsonl says whether Eq. (10)'s perceptual term was on
        out = {"l1": l1, "kl": kl, "perceptual_on": torch.tensor(float(self.has_perceptual_loss))}
        if self._perceptual:
            vgg = self._perceptual[0].to(video.device)
            frames = lambda v: rearrange(v, "b t c h w -> (b t) c h w")  # noqa: E731
            perceptual = F.l1_loss(vgg(frames(rec)), vgg(frames(video)))
            loss = loss + cfg.reconstruction_weight * perceptual
            out["perceptual"] = perceptual
        if int(self.generator_steps) >= cfg.gan_start and cfg.adversarial_weight > 0:
            with frozen(self.frame_discriminator, self.clip_discriminator):
                s_fake, s_feat_fake, t_fake, t_feat_fake = self._discriminate(rec)
                with torch.no_grad():
                    _, s_feat_real, _, t_feat_real = self._discriminate(video)
            adversarial = hinge_generator_loss(t_fake) + hinge_generator_loss(s_fake)
            fm = 0.5 * (feature_matching(s_feat_real, s_feat_fake)
                        + feature_matching(t_feat_real, t_feat_fake))
            loss = loss + cfg.adversarial_weight * adversarial + cfg.feature_matching_weight * fm
            out.update(adversarial=adversarial, feature_matching=fm)
        self.generator_steps += 1
        return {"loss": loss, **out}

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        """[real | reconstruction | decoded prior sample] side by side, (b t c h 3w)."""
        video = batch["video"][:4]
        rec = self.reconstruct(video, sample=False)[0]
        prior = self.decode(video[:, 0], torch.randn(len(video), self.config.z_dim, device=video.device))
        return torch.cat([video, rec, prior], dim=-1)
