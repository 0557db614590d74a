"""Stage ``latentgan-temporal`` and the video generator users load: ``StyleVideoGAN``.

It holds the temporal WGAN of Sec. 3 (generator G = H, P, T and the critic C), trained on
windows of the W+ embedding only — no frame is rendered during training — and, frozen, what it
needs at test time: the image pair (to render w_0 .. w_{t-1} and to embed new identities) and
the offset trick's PCA basis of the embedding. A saved model therefore loads without the
image and embedding folders it was built from (their sha256 are kept under ``built_from``).

Training (Sec. 3, "Loss Terms & Training"): per iteration one critic step on
L_C = E[C(G(i, s))] - E[C(w)] + lambda_GP L_GP, then one generator step on
L_G = -E[C(G(i, s))] + lambda_GAP L_GAP; Adam for both; the trainer keeps the exponential
average of the weights (train.ema_decay = 0.997, the supplement's value; see config.py) and
saves it.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.latentgan.config import ImageConfig, TemporalConfig
from kinema.methods.latentgan.image import ImagePair, render
from kinema.methods.latentgan.losses import (RunningNormalizer, distance_gradient_norms,
                                             end_difference, gradient_angle_penalty,
                                             normalized_distance, wasserstein_critic_loss,
                                             wasserstein_generator_loss, wgan_gradient_penalty)
from kinema.methods.latentgan.offset import OffsetBasis
from kinema.methods.latentgan.temporal import LatentCritic, TemporalGenerator
from kinema.nn.gan import frozen
from kinema.nn.sync_batchnorm import synchronize_batch_norms
from kinema.pretrained import Pretrained, config_from_dict, config_to_dict
from kinema.stages import open_stage, record_sources


@contextlib.contextmanager
def evaluating(module: nn.Module):
    """``module`` in eval mode inside the block (batch norms use their running statistics, so a
    seed fixes the video), its previous mode restored afterwards."""
    was = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was)


class StyleVideoGAN(nn.Module, Pretrained):
    """The temporal GAN in W+ and the video generator (``kinema.tasks.Generation``)."""

    config_class = TemporalConfig

    def __init__(self, config: TemporalConfig):
        super().__init__()
        image = embed = None
        if config.image is None or config.embed is None:
            image, embed = self._open_stages(config)
        self.config = cfg = config
        self.image = ImagePair(config_from_dict(ImageConfig, config.image))
        n, c = self.image.num_ws, self.image.w_dim
        cfg.num_ws, cfg.w_dim = n, c
        self.generator = TemporalGenerator(cfg.motion_dim, cfg.cells, cfg.hallucinator_layers,
                                           cfg.width, cfg.mapper_layers, n, c)
        self.critic = LatentCritic(n, c, cfg.window, cfg.critic_width, cfg.critic_features,
                                   cfg.critic_channels)
        self.d_norm = RunningNormalizer(cfg.motion_dim, cfg.gap_momentum)
        self.basis = OffsetBasis(n * c, cfg.pca_components)
        self.register_buffer("code_mean", torch.zeros(n, c))
        self.register_buffer("code_std", torch.ones(n, c))
        if image is not None:
            self.image.load_state_dict(image.state_dict())
            codes = embed.codes
            self.basis.fit(codes)
            self.code_mean.copy_(codes.mean(0))
            self.code_std.copy_(codes.std(0).clamp_min(1e-6))
            self.generator.mapper.match_statistics(self.code_mean, self.code_std)
            cfg.motion_spread = video_motion_spread(self.basis, embed.videos())
            record_sources(self, image_path=image, embed_path=embed)
        self.image.requires_grad_(False).eval()

    @staticmethod
    def _open_stages(config: TemporalConfig):
        image = open_stage(config, "image_path")
        embed = open_stage(config, "embed_path")
        made_with = (getattr(embed, "built_from", None) or {}).get("image_path", {}).get("sha256")
        if made_with is not None and made_with != image.stage_source["sha256"]:
            raise KinemaError(f"the embedding {embed.stage_source['path']} was made with another "
                              f"image model than {image.stage_source['path']} (weights differ): "
                              f"embed again with `kinema train latentgan-embed --set "
                              f"model.image_path={config.image_path}`")
        config.image = config_to_dict(image.config)
        config.embed = config_to_dict(embed.config)
        return image, embed

    def on_train_start(self, batch: dict) -> None:
        """Under torchrun (two or more ranks) the temporal generator's batch norms (H, T) use
        the global batch's statistics, as one process would (``kinema.nn.sync_batchnorm``)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            synchronize_batch_norms(self.generator)

    def train(self, mode: bool = True) -> "StyleVideoGAN":
        super().train(mode)
        self.image.eval()        # frozen: its running w_avg must not move
        return self

    # ------------------------------------------------------------------ generation

    @torch.no_grad()
    def trajectory(self, num_videos: int, num_frames: int,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(ws (b t num_ws w_dim), motion codes l (b t motion_dim)) of the training actor."""
        if num_frames < 1 or num_videos < 1:
            raise KinemaError(f"num_videos and num_frames must be >= 1, got {num_videos}, {num_frames}")
        device = self.code_mean.device
        with evaluating(self.generator):
            i, s = self.generator.noise(num_videos, num_frames, generator, device)
            return self.generator(i, s)

    @torch.no_grad()
    def render(self, ws: torch.Tensor) -> torch.Tensor:
        """ws (b t num_ws w_dim) -> video (b t c h w) in [-1, 1] through the image generator."""
        return render(self.image, ws)

    @torch.no_grad()
    def generate(self, num_videos: int, num_frames: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """(b t c h w) videos of the training actor (the Generation task)."""
        return self.render(self.trajectory(num_videos, num_frames, generator)[0])

    @torch.no_grad()
    def random_identity(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """w_new (b num_ws w_dim) of random new actors: z ~ N(0, I) rendered by the image
        generator, then embedded by the encoder (Sec. 3, as the paper does with pSp)."""
        return self.image.encoder(self.image.generator(self.image.random_ws(num, generator)))

    @torch.no_grad()
    def identity_of(self, images: torch.Tensor) -> torch.Tensor:
        """w_new (b num_ws w_dim) of pictures (b c h w) in [-1, 1]."""
        return self.image.encoder(images)

    def transfer(self, ws: torch.Tensor, w_new: torch.Tensor) -> torch.Tensor:
        """The offset trick: ws (b t n c) of the training actor moved onto w_new (b n c)."""
        return self.basis.transfer(ws, w_new)

    # ------------------------------------------------------------------ training contract

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"critic": list(self.critic.parameters()),
                "generator": list(self.generator.parameters())}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr, "betas": tuple(self.config.betas), "weight_decay": 0.0}

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        real = batch["ws"]                                        # (b t num_ws w_dim)
        cfg = self.config
        if real.shape[1] != cfg.window:
            raise KinemaError(f"the windows hold {real.shape[1]} steps; the critic reads "
                              f"{cfg.window} (data.options.window must equal model.window)")
        b = real.shape[0]
        i, s = self.generator.noise(b, cfg.window, device=real.device)
        if group == "critic":
            with torch.no_grad():
                fake, _ = self.generator(i, s)
            wasserstein = wasserstein_critic_loss(self.critic(real), self.critic(fake))
            gp = wgan_gradient_penalty(self.critic, real, fake)
            return {"loss": wasserstein + cfg.gp_weight * gp,
                    "wasserstein_distance": -wasserstein.detach(), "gp": gp.detach()}
        fake, motion = self.generator(i, s)
        with frozen(self.critic):
            adversarial = wasserstein_generator_loss(self.critic(fake))
        out = {"adversarial": adversarial.detach()}
        loss = adversarial
        # norm()'s running statistics follow d in both arms of the ablation (with and without
        # L_GAP), so the two kinds of saved model normalise d alike
        self.d_norm.update(end_difference(motion).detach())
        if cfg.gap_weight > 0:
            gap, phi = self.angle_penalty(i, s)
            loss = loss + cfg.gap_weight * gap
            out.update(gap=gap.detach(), angle=phi.mean().detach())
        return {"loss": loss, **out}

    def angle_penalty(self, i: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L_GAP and phi (b) at noise (i, s) (``generator_gap`` with this model's norm())."""
        return generator_gap(self.generator, self.d_norm, i, s)

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        """Two videos of twice the training window."""
        return self.generate(2, 2 * self.config.window)


def video_motion_spread(basis: OffsetBasis, videos: list[torch.Tensor]) -> float:
    """sqrt(mean over videos of the squared RMS distance between two of its frames), in the
    PCA coordinates of ``basis``: how far a training video moves (not how far apart videos are)."""
    from kinema.methods.latentgan.looping import rms_pairwise_distance

    squares = [rms_pairwise_distance(basis.coordinates(v)) ** 2 for v in videos if len(v) > 1]
    return float(sum(squares) / len(squares)) ** 0.5 if squares else 0.0


def motion_spread(model: "StyleVideoGAN") -> float:
    """The looping detector's sigma for ``model``: its recorded ``motion_spread``; for a model
    saved before it was recorded, computed from its embedding folder (``built_from``) if that
    is still there, else the whole embedding's spread sqrt(2 * sum of the PCA variances)."""
    if model.config.motion_spread > 0:
        return model.config.motion_spread
    from pathlib import Path

    folder = Path((getattr(model, "built_from", None) or {}).get("embed_path", {}).get("path", ""))
    if (folder / "model.safetensors").is_file():
        from kinema.methods.latentgan.embed import LatentEmbedding

        return video_motion_spread(model.basis, LatentEmbedding.from_pretrained(folder).videos())
    return float((2 * model.basis.variances.sum()).sqrt())


def generator_gap(generator: TemporalGenerator, normalizer: RunningNormalizer, i: torch.Tensor,
                  s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L_GAP and phi (b) at noise (i (b d), s (b t-1 d)): d = ||norm(l_{t-1} - l_1)|| at the
    normaliser's running statistics (losses.py states this reading of the GAP equation), its
    gradients per sample, with H's batch norm at this batch's statistics (train mode) or its
    running ones (eval mode) as constants."""
    statistics = generator.hallucinator.batch_statistics(i) if generator.training else None

    def distance(s_: torch.Tensor, i_: torch.Tensor) -> torch.Tensor:
        return normalizer.distance(end_difference(generator.motion(i_, s_, statistics)))

    norm_s, norm_i = distance_gradient_norms(distance, (s, i))
    return gradient_angle_penalty(norm_s, norm_i)


def gradient_angles(model: StyleVideoGAN, num_videos: int = 64, num_frames: int | None = None,
                    seed: int = 0) -> torch.Tensor:
    """phi per sample (b) of a trained model (``generator_angles`` at ``num_videos`` seeded
    noise draws of ``num_frames`` steps, default the training window)."""
    steps = num_frames or model.config.window
    g = torch.Generator().manual_seed(seed)
    with evaluating(model.generator):
        i, s = model.generator.noise(num_videos, steps, g, model.code_mean.device)
        return generator_angles(model.generator, i, s)


def generator_angles(generator: nn.Module, i: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The angle phi (b) of the GAP equation at noise (i, s) as a diagnostic: d is normalised by
    the mean and variance of these samples' own differences l_{t-1} - l_1, not by a model's
    running statistics, so every model is measured the same way whether or not it trained with
    L_GAP (and whatever its normaliser saw). Use ``generator`` in eval mode (per-sample H)."""
    with torch.no_grad():
        differences = end_difference(generator.motion(i, s))
    mean, var = differences.mean(0), differences.var(0)

    def distance(s_: torch.Tensor, i_: torch.Tensor) -> torch.Tensor:
        return normalized_distance(end_difference(generator.motion(i_, s_)), mean, var)

    norm_s, norm_i = distance_gradient_norms(distance, (s, i))
    return torch.atan2(norm_s, norm_i).detach()
