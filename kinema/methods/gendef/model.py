"""GenDeF (paper: ../shared/papers/gendef-deformation-field.txt): a video is a canonical image
x_c = G_c(z_c) (Eq. (1)) warped by generated deformation fields Delta m_t = G_d(z_d, u_t; f_c)
(Eq. (2)): x_t = T(x_c, m + Delta m_t) (Eq. (3)).

- ``CanonicalGAN`` is stage 1 (``gendef-image``): G_c and an image discriminator trained on
  single frames with the non-saturating loss and R1.
- ``GenDeF`` is stage 2 (``gendef-video``): G_c (from stage 1), G_d and StyleGAN-V's video
  discriminator, trained on 3 sparse frames per video with Eq. (6): the adversarial loss of
  Eq. (5) plus lambda_reg L_reg (Eq. (4), ``losses.field_smoothness``: flows in pixels of the
  paper's 256-px image at any resolution). It serves
  ``kinema.tasks.Generation``.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from kinema.nn.gan import frozen, nonsaturating_discriminator_loss, nonsaturating_generator_loss, r1_penalty
from kinema.nn.modulated import StyleGenerator
from kinema.nn.motion_codes import MotionCodes
from kinema.nn.warp import backward_warp_exact
from kinema.pretrained import Pretrained, config_from_dict
from kinema.stages import open_stage, record_sources

from .config import CanonicalConfig, GenDeFConfig
from .deformation import DeformationGenerator
from .discriminator import StyleDiscriminator
from .losses import field_smoothness


def build_canonical_generator(config: CanonicalConfig) -> StyleGenerator:
    return StyleGenerator(config.z_dim, config.w_dim, config.image_size, config.channels, config.mapping_layers,
                          config.mapping_lr_multiplier, config.channel_base, config.channel_max, config.use_noise)


def random_frame(video: torch.Tensor) -> torch.Tensor:
    """One random frame of each clip: (b t c h w) -> (b c h w)."""
    index = torch.randint(video.shape[1], (video.shape[0],), device=video.device)
    return video[torch.arange(video.shape[0], device=video.device), index]


class CanonicalGAN(nn.Module, Pretrained):
    """Stage 1: G_c and an image discriminator D on single frames (Sec. 4.1)."""

    config_class = CanonicalConfig
    ema_prefixes = ("generator",)   # with train.ema_decay: G_ema, saved and sampled (StyleGAN)

    def __init__(self, config: CanonicalConfig):
        super().__init__()
        self.config = config
        self.generator = build_canonical_generator(config)
        self.discriminator = StyleDiscriminator(config.channels, config.image_size, config.discriminator_channel_base,
                                                config.discriminator_channel_max)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"discriminator": list(self.discriminator.parameters()),
                "generator": list(self.generator.parameters())}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr, "betas": tuple(self.config.betas), "weight_decay": 0.0}

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        real = random_frame(batch["video"])
        z = torch.randn(real.shape[0], self.config.z_dim, device=real.device)
        if group == "discriminator":
            with torch.no_grad():
                fake = self.generator(z)
            real = real.detach().requires_grad_(True)
            real_logits = self.discriminator(real)
            adversarial = nonsaturating_discriminator_loss(real_logits, self.discriminator(fake))
            r1 = r1_penalty(real_logits, real)
            return {"loss": adversarial + 0.5 * self.config.r1_gamma * r1, "adversarial": adversarial, "r1": r1}
        with frozen(self.discriminator):
            adversarial = nonsaturating_generator_loss(self.discriminator(self.generator(z)))
        return {"loss": adversarial}

    @torch.no_grad()
    def sample_images(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(b c h w) canonical-style images from z ~ N(0, I), deterministic noise inputs."""
        device = next(self.parameters()).device
        z = torch.randn(num, self.config.z_dim, generator=generator).to(device)
        return self.generator(z, noise_mode="const").clamp(-1, 1)

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        return self.sample_images(min(8, batch["video"].shape[0])).unsqueeze(1)     # (b 1 c h w)


@dataclasses.dataclass
class Latents:
    """Everything one batch of videos is drawn from: z_c (b z), z_d (b z), motion noise (b k zm)."""
    z_c: torch.Tensor | None
    z_d: torch.Tensor
    motion_noise: torch.Tensor

    def select(self, index) -> "Latents":
        return Latents(None if self.z_c is None else self.z_c[index], self.z_d[index], self.motion_noise[index])


class GenDeF(nn.Module, Pretrained):
    """Stage 2: x_c = G_c(z_c), Delta m_t = G_d(z_d, u_t; f_c), x_t = T(x_c, m + Delta m_t).

    Fields are kept in normalised coordinates (see ``deformation``); ``to_pixels`` converts.
    With ``config.output == "frames"`` G_d generates the frames itself (the baseline).
    """

    config_class = GenDeFConfig
    ema_prefixes = ("canonical", "deformation")   # G_ema = (G_c, G_d); D is never averaged

    def __init__(self, config: GenDeFConfig):
        super().__init__()
        stage = None
        if config.image is None:
            stage = open_stage(config, "image_path")
            config = dataclasses.replace(config, image=dataclasses.asdict(stage.config))
        self.config = config
        image = config_from_dict(CanonicalConfig, dict(config.image))
        self.image_config = image
        self.frames_mode = config.output == "frames"
        self.canonical = None if self.frames_mode else build_canonical_generator(image)
        feature_channels = 0
        if self.canonical is not None and config.use_canonical_feature:
            feature_channels = self.canonical.synthesis.layer_shape(config.canonical_feature_layer)[0]
        motion = MotionCodes(config.motion_z_dim, config.motion_dim, config.motion_frequencies, config.motion_distance,
                             config.motion_kernel, config.min_period, config.max_period, config.max_frames)
        if config.use_multiplier and image.image_size < 8:
            raise ValueError("the multiplier needs G_d to have two blocks or more (image_size >= 8)")
        self.deformation = DeformationGenerator(
            image.image_size, config.z_dim, config.w_dim, config.mapping_layers, config.channel_base,
            config.channel_max, motion, feature_channels, image.channels if self.frames_mode else 2,
            config.use_multiplier)
        self.discriminator = StyleDiscriminator(
            image.channels, image.image_size, config.discriminator_channel_base, config.discriminator_channel_max,
            config.frames_per_video, config.fuse_resolution, config.time_frequencies)
        if stage is not None:
            self.canonical.load_state_dict(stage.generator.state_dict())
            self.discriminator.load_frame_blocks(stage.discriminator)
            record_sources(self, image_path=stage)
        if config.freeze_canonical and self.canonical is not None:
            self.canonical.requires_grad_(False)

    # ------------------------------------------------------------------ generation

    @property
    def device(self) -> torch.device:
        return self.deformation.const.device

    def sample_latents(self, num: int, max_time: float | None = None,
                       generator: torch.Generator | None = None) -> Latents:
        """Latents of ``num`` videos whose motion noise covers times [0, max_time] (default max_frames)."""
        cfg = self.config
        z_c = None if self.frames_mode else torch.randn(num, self.image_config.z_dim, generator=generator)
        z_d = torch.randn(num, cfg.z_dim, generator=generator)
        noise = self.deformation.motion.sample_noise(num, max_time, generator=generator)
        return Latents(None if z_c is None else z_c.to(self.device), z_d.to(self.device), noise.to(self.device))

    def canonical_image(self, z_c: torch.Tensor, noise_mode: str = "random"):
        """(x_c (b c h w), f_c (b D h' w') or None) for canonical codes z_c (b z)."""
        layer = self.config.canonical_feature_layer if self.config.use_canonical_feature else None
        out = self.canonical(z_c, noise_mode=noise_mode, feature_layer=layer)
        return out if layer is not None else (out, None)

    def to_pixels(self, fields: torch.Tensor) -> torch.Tensor:
        """Normalised (grid_sample) offsets -> pixels of the image: x (W-1)/2, y (H-1)/2."""
        size = self.image_config.image_size
        return fields * (size - 1) / 2.0

    def warp(self, canonical: torch.Tensor, fields: torch.Tensor) -> torch.Tensor:
        """Eq. (3): frames (b n c h w) = canonical (b c h w) sampled at m + Delta m_t, fields (b n 2 h w)."""
        b, n = fields.shape[:2]
        images = canonical.repeat_interleave(n, dim=0)
        # sampled in pixel coordinates, in float32 (an fp32 island): a zero field returns the
        # canonical image bit for bit (normalised grid_sample positions are off by ~1e-6 px)
        frames = backward_warp_exact(images, self.to_pixels(fields).flatten(0, 1))
        return frames.unflatten(0, (b, n))

    def synthesize(self, latents: Latents, times: torch.Tensor, noise_mode: str = "random") -> dict:
        """times (b n) -> {"frames" (b n c h w), and unless frames_mode "canonical" (b c h w),
        "fields" (b n 2 h w, normalised), "feature" f_c}."""
        if self.frames_mode:
            frames = self.deformation(latents.z_d, latents.motion_noise, times)
            return {"frames": frames}
        canonical, feature = self.canonical_image(latents.z_c, noise_mode)
        fields = self.deformation(latents.z_d, latents.motion_noise, times, feature)
        return {"frames": self.warp(canonical, fields), "canonical": canonical, "fields": fields, "feature": feature}

    @torch.no_grad()
    def render(self, latents: Latents, num_frames: int, chunk: int = 32, fps_scale: float = 1.0) -> dict:
        """Whole videos at t = 0, s, 2s, ... (s = 1 / fps_scale), G_d run ``chunk`` frames at a time
        (every frame's field depends on its own time only). Same keys as ``synthesize``, all clamped."""
        num = latents.z_d.shape[0]
        times = torch.arange(num_frames, device=self.device, dtype=torch.float32)[None].expand(num, -1) / fps_scale
        parts = [self.synthesize(latents, times[:, s:s + chunk], noise_mode="const")
                 for s in range(0, num_frames, chunk)]
        out = {"frames": torch.cat([p["frames"] for p in parts], dim=1).clamp(-1, 1)}
        if not self.frames_mode:
            out["canonical"] = parts[0]["canonical"].clamp(-1, 1)
            out["fields"] = torch.cat([p["fields"] for p in parts], dim=1)
        return out

    @torch.no_grad()
    def generate(self, num_videos: int, num_frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(b t c h w) videos in [-1, 1] (kinema.tasks.Generation)."""
        latents = self.sample_latents(num_videos, num_frames - 1, generator)
        return self.render(latents, num_frames)["frames"]

    # ------------------------------------------------------------------ training contract

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        generator = list(self.deformation.parameters())
        if self.canonical is not None and not self.config.freeze_canonical:
            generator += list(self.canonical.parameters())
        return {"discriminator": list(self.discriminator.parameters()), "generator": generator}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr, "betas": tuple(self.config.betas), "weight_decay": 0.0}

    def sparse_times(self, batch_size: int, clip_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse training (StyleGAN-V): k sorted distinct frame indices per real clip (b k), and
        the same spacing at a random offset in [0, max_frames - clip_frames] for the fakes, so the
        motion codes learn every time a long video reaches (D sees only the differences)."""
        k = self.config.frames_per_video
        if clip_frames < k:
            raise ValueError(f"clips of {clip_frames} frames are shorter than frames_per_video={k}")
        index = torch.rand(batch_size, clip_frames).argsort(dim=1)[:, :k].sort(dim=1).values
        offset = torch.randint(max(self.config.max_frames - clip_frames, 0) + 1, (batch_size, 1))
        return index.to(self.device), (index + offset).float().to(self.device)

    def regularizer(self, latents: Latents, out: dict) -> torch.Tensor:
        """L_reg on the fields of t-1, t, t+1 for one random t per video (appendix A)."""
        b = latents.z_d.shape[0]
        t = torch.randint(1, max(self.config.max_frames - 1, 2), (b, 1), device=self.device).float()
        triple = t + torch.tensor([-1.0, 0.0, 1.0], device=self.device)
        fields = self.deformation(latents.z_d, latents.motion_noise, triple, out["feature"])
        middle = self.warp(out["canonical"], fields[:, 1:2])[:, 0]
        return field_smoothness(fields, middle, self.config.reg_edge_sharpness)

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        video = batch["video"]                                               # (b t c h w)
        b = video.shape[0]
        index, times = self.sparse_times(b, video.shape[1])
        real = video[torch.arange(b, device=video.device)[:, None], index]     # (b k c h w)
        real_times = index.float()
        latents = self.sample_latents(b)
        if group == "discriminator":
            with torch.no_grad():
                fake = self.synthesize(latents, times)["frames"]
            real = real.detach().requires_grad_(True)
            real_logits = self.discriminator(real, real_times)
            adversarial = nonsaturating_discriminator_loss(real_logits, self.discriminator(fake, times))   # Eq. (5)
            r1 = r1_penalty(real_logits, real)
            return {"loss": adversarial + 0.5 * self.config.r1_gamma * r1, "adversarial": adversarial, "r1": r1}
        out = self.synthesize(latents, times)
        with frozen(self.discriminator):
            adversarial = nonsaturating_generator_loss(self.discriminator(out["frames"], times))
        losses = {"adversarial": adversarial}
        loss = adversarial
        if self.config.reg_weight > 0 and not self.frames_mode:
            reg = self.regularizer(latents, out)
            loss = loss + self.config.reg_weight * reg                     # Eq. (6)
            losses["reg"] = reg
        if not self.frames_mode:
            losses["field_px"] = self.to_pixels(out["fields"]).detach().abs().mean()
        return {"loss": loss, **losses}

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        """Generated clips as long as the training clips, (b t c h w)."""
        return self.generate(min(4, batch["video"].shape[0]), batch["video"].shape[1])
