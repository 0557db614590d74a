"""The cINN's stage configs and presets. Every number that differs from the paper is here.

Three training stages (issue 5), each a registered method trained by ``kinema train``:

1. ``cinn-autoencoder``: the video autoencoder q_phi(z|X), p_psi(X|x0, z) with its two
   discriminators (Sec. 3.3, appendix B).
2. ``cinn-image-encoder``: an image autoencoder whose code represents x0 for the flow
   (appendix B.1, "a pretrained autoencoder optimized for reconstructing images").
3. ``cinn-flow``: the conditional INN T_theta(nu; x0, eta) on z ~ q_phi(z|X) (Sec. 3.1-3.4),
   which opens stages 1 and 2 from the run folders its config names (``kinema.stages``).

Preset names: ``BASE[-clouds][-no-x0|-no-adain][-control]`` with BASE in tiny / small / bench
/ paper. ``-clouds`` trains on the ``clouds`` dataset (default ``bouncing-digits``),
``-no-x0`` / ``-no-adain`` are the paper's ablations of the decoder (Tables 2 and 4; the
"without cINN" ablation needs no training: z is drawn from the autoencoder's prior, see
``model.PriorSampler``), ``-control`` makes the flow take the one-hot control eta.
``bench`` is a reduced preset for this CPU machine (smaller than ``small``; see benchmarks/).

The clip X holds the start frame: X = [x0, x1, ..., x_{T-1}] and the decoder reproduces x0 as
its first frame (the paper writes X = [x1..xT]; including x0 lets a sampled video be chained
from its own last frame with the same model). Sampled and transferred videos then replace that
reconstruction by the given x0 (``model.with_start_frame``), so their frame 0 is the input.
"""
from __future__ import annotations

from dataclasses import dataclass

from kinema.config import DataConfig, Recipe, TrainConfig
from kinema.pretrained import config_from_dict
from kinema.stages import stage_path

BASES = ("tiny", "small", "bench", "paper")
ABLATIONS = ("no-x0", "no-adain")
DATASETS = {"bouncing-digits": 16, "clouds": 36}   # dataset -> number of control bins of eta


@dataclass
class AutoencoderConfig:
    channels: int = 1
    image_size: int = 64
    num_frames: int = 16
    z_dim: int = 64                     # appendix B.2: d_z = 64
    encoder_widths: tuple = (64, 128, 256, 512)   # 3D ResNet-18 stages (appendix B.1)
    encoder_time_downsample: int = 2
    # The encoder's last map is average-pooled to this (t h w) grid and flattened before the
    # linear map to mu, log sigma^2 (the paper: two 4x4 convolutions to a 1-d code), so z can
    # say where things are and move. None: global average pooling, the first version of this
    # code, kept so runs saved without this field load; with it the bench encoder collapsed
    # (mu nearly the same for every clip, the decoder ignoring z).
    encoder_grid: tuple | None = None
    decoder_widths: tuple = (512, 256, 256, 128, 64, 64)   # n = 6 video residual blocks, chf = 64
    decoder_time_upsample: int = 4      # the first k upsamplings also double time
    spade_hidden: int = 64
    use_x0: bool = True                 # ablation "w/o x0": decoder not conditioned on x0
    use_adain: bool = True              # ablation "w/o AdaIN": z only through the bottleneck
    spectral_norm: bool = True          # appendix B.1: spectral norm in the decoder
    patch_widths: tuple = (64, 128, 256)          # D_S, a PatchGAN
    temporal_widths: tuple = (64, 128, 256, 256)  # D_T, a 3D ResNet
    reconstruction_weight: float = 10.0  # lambda of Eq. (10)
    feature_matching_weight: float = 10.0  # lambda_F of Eq. (10)
    adversarial_weight: float = 1.0
    kl_weight: float = 1e-5              # beta of Eq. (4), appendix B.2
    gradient_penalty: float = 10.0       # lambda_GP of Eq. (11)
    gan_start: int = 0                   # generator steps before the adversarial terms join
    vgg_weights: str | None = None       # the frame-wise perceptual term needs VGG-16 weights
    seed: int = 0
    # learning rates live in the train config (``_train``); saved models still hold ``lr``
    retired_fields = ("lr",)

    def __post_init__(self):
        ups = len(self.decoder_widths) - 1
        if self.image_size % (2 ** ups):
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**{ups} "
                             f"(one spatial upsampling after each decoder block but the last)")
        t_ups = min(self.decoder_time_upsample, ups)
        if self.num_frames % (2 ** t_ups):
            raise ValueError(f"num_frames {self.num_frames} must be divisible by 2**{t_ups}")

    @property
    def initial_shape(self) -> tuple[int, int]:
        """(t0, h0) of the decoder's first feature map."""
        ups = len(self.decoder_widths) - 1
        return (self.num_frames // 2 ** min(self.decoder_time_upsample, ups),
                self.image_size // 2 ** ups)


@dataclass
class ImageEncoderConfig:
    channels: int = 1
    image_size: int = 64
    code_dim: int = 64          # not given in the paper
    widths: tuple = (32, 64, 128, 256)
    seed: int = 0
    retired_fields = ("lr",)   # the rate moved to the train config


@dataclass
class FlowConfig:
    # The earlier stages' model folders (a run folder or the model/ inside it), opened by
    # kinema.stages.open_stage when the flow is first built; a preset names its own runs.
    autoencoder_path: str = stage_path("cinn-autoencoder", "runs/cinn-autoencoder-small")
    image_encoder_path: str = stage_path("cinn-image-encoder", "runs/cinn-image-encoder-small")
    control_bins: int = 0        # 0: T(nu; x0); k > 0: T(nu; x0, eta) with eta one-hot of k bins
    blocks: int = 20             # appendix B.1: n_f = 20 invertible blocks
    hidden: int = 512            # width of the couplings' fully connected subnets (not given)
    # The subnets' shape. The defaults are kinema's first shape (2 hidden ReLU layers, one net
    # giving [log s, t]), so saved flows without these fields load as they were trained; the
    # paper preset takes the official code's: separate s and t nets of 3 hidden LeakyReLU layers.
    subnet_layers: int = 2       # hidden layers per subnet
    activation: str = "relu"     # "relu" or "leaky_relu" (slope 0.01, torch's and the official)
    separate_scale_shift: bool = False   # True: an s net and a t net per coupling
    clamp: float = 2.0           # soft clamp of the coupling log-scales: clamp * tanh(raw / clamp)
    leaky_slope: float = 0.9     # invertible leaky ReLU in each block, as the official code
    seed: int = 0
    # Filled in when the stage is built from the paths above, so a saved flow rebuilds its
    # frozen autoencoder and image encoder without those folders:
    autoencoder: AutoencoderConfig | None = None
    image_encoder: ImageEncoderConfig | None = None
    retired_fields = ("lr",)   # the rate moved to the train config

    def __post_init__(self):
        # configs written by hand (or by code from before the embedded configs were typed)
        # may hold them as plain dicts
        if isinstance(self.autoencoder, dict):
            self.autoencoder = config_from_dict(AutoencoderConfig, self.autoencoder)
        if isinstance(self.image_encoder, dict):
            self.image_encoder = config_from_dict(ImageEncoderConfig, self.image_encoder)


# --------------------------------------------------------------------------- presets

def parse_preset(preset: str) -> dict:
    """``BASE[-clouds][-no-x0|-no-adain][-control]`` -> its parts (ValueError if malformed)."""
    rest = preset
    parts = {"base": None, "data": "bouncing-digits", "ablation": None, "control": False}
    for base in BASES:
        if rest == base or rest.startswith(base + "-"):
            parts["base"], rest = base, rest[len(base):]
            break
    if parts["base"] is None:
        raise ValueError(f"unknown cINN preset {preset!r}: start with one of {', '.join(BASES)}, "
                         f"then optional -clouds, -no-x0 or -no-adain, -control")
    if rest.startswith("-clouds"):
        parts["data"], rest = "clouds", rest[len("-clouds"):]
    for ablation in ABLATIONS:
        if rest.startswith("-" + ablation):
            parts["ablation"], rest = ablation, rest[len(ablation) + 1:]
    if rest == "-control":
        parts["control"], rest = True, ""
    if rest:
        raise ValueError(f"unknown cINN preset {preset!r}: cannot read {rest!r}")
    return parts


def _channels(data: str) -> int:
    return 3 if data == "clouds" else 1


SIZES = {   # image_size, num_frames; bench: reduced for this loaded 2-core CPU machine
    "tiny": (8, 4), "small": (32, 16), "bench": (16, 8), "paper": (64, 16)}


def autoencoder_config(preset: str) -> AutoencoderConfig:
    p = parse_preset(preset)
    size, frames = SIZES[p["base"]]
    common = dict(channels=_channels(p["data"]), image_size=size, num_frames=frames,
                  use_x0=p["ablation"] != "no-x0", use_adain=p["ablation"] != "no-adain")
    if p["base"] == "tiny":
        return AutoencoderConfig(**common, z_dim=8, encoder_widths=(8, 8), encoder_time_downsample=1,
                                 decoder_widths=(8, 8), decoder_time_upsample=1, spade_hidden=8,
                                 patch_widths=(8, 8), temporal_widths=(8, 8))
    if p["base"] == "bench":   # 16 px, 8 frames, narrow: ~0.7 s per step on one loaded core
        return AutoencoderConfig(
            **common, z_dim=64, encoder_widths=(16, 32), encoder_time_downsample=1, encoder_grid=(2, 4, 4),
            decoder_widths=(32, 16, 16), decoder_time_upsample=2, spade_hidden=16,
            patch_widths=(16, 32), temporal_widths=(16, 32), gan_start=100)
    if p["base"] == "small":   # 32 px, 16 frames; ~1.2 s per (D + G) step at batch 4 on one core:
        # thin full-resolution layers (8-16 channels), where 3D convolutions cost most on a CPU
        return AutoencoderConfig(
            **common, z_dim=64, encoder_widths=(8, 32, 64, 128), encoder_time_downsample=2,
            encoder_grid=(2, 4, 4),
            decoder_widths=(128, 64, 32, 16), decoder_time_upsample=3, spade_hidden=16,
            patch_widths=(32, 64, 128), temporal_widths=(8, 32, 64), gan_start=200)
    return AutoencoderConfig(**common, encoder_grid=(2, 4, 4))


def image_encoder_config(preset: str) -> ImageEncoderConfig:
    p = parse_preset(preset)
    size, _ = SIZES[p["base"]]
    widths = {"tiny": (8, 8), "small": (32, 64, 64), "bench": (16, 32),
              "paper": (32, 64, 128, 256)}[p["base"]]
    code = {"tiny": 8, "small": 64, "bench": 32, "paper": 64}[p["base"]]
    return ImageEncoderConfig(channels=_channels(p["data"]), image_size=size, code_dim=code,
                              widths=widths)


def _stem(p: dict, with_ablation: bool) -> str:
    name = p["base"] + ("-clouds" if p["data"] == "clouds" else "")
    return name + (f"-{p['ablation']}" if with_ablation and p["ablation"] else "")


def flow_config(preset: str) -> FlowConfig:
    p = parse_preset(preset)
    sizes = {"tiny": (2, 16), "small": (12, 256), "bench": (8, 128), "paper": (20, 512)}
    blocks, hidden = sizes[p["base"]]
    # paper: the official architecture (47.3 M parameters at d_z = 64 and a 64-d image code):
    # separate s and t nets, 3 hidden LeakyReLU layers of 512; log s = tanh(raw) is our soft
    # clamp at clamp = 1. Differences: the nets' last layers start at zero (each coupling starts
    # as the identity) and the leaky ReLU's log-determinant is the true one (the official 0).
    shape = dict(subnet_layers=3, activation="leaky_relu", separate_scale_shift=True,
                 clamp=1.0) if p["base"] == "paper" else {}
    return FlowConfig(**shape,
        autoencoder_path=f"runs/cinn-autoencoder-{_stem(p, True)}",
        image_encoder_path=f"runs/cinn-image-encoder-{_stem(p, False)}",
        control_bins=DATASETS[p["data"]] if p["control"] else 0,
        blocks=blocks, hidden=hidden)


def _data(preset: str, frames: int | None = None) -> DataConfig:
    p = parse_preset(preset)
    size, num_frames = SIZES[p["base"]]
    options = {"num_frames": frames or num_frames, "size": size}
    if p["data"] == "bouncing-digits" and p["base"] == "tiny":
        options["digit_size"] = 4
    if p["base"] in ("tiny", "bench"):
        options["num_videos"] = {"tiny": 16, "bench": 2000}[p["base"]]
    return DataConfig(name=p["data"], options=options)


# The learning rate of each stage (train.lr; the model configs hold none). Appendix B.2:
# Adam at 2e-4 for the autoencoder and 1e-5 for the flow (paper); the CPU presets train faster.
LEARNING_RATES = {("tiny", "autoencoder"): 1e-3, ("tiny", "image"): 1e-3, ("tiny", "flow"): 1e-3,
                  ("small", "autoencoder"): 2e-4, ("small", "image"): 2e-4, ("small", "flow"): 5e-4,
                  ("bench", "autoencoder"): 2e-4, ("bench", "image"): 2e-4, ("bench", "flow"): 5e-4,
                  ("paper", "autoencoder"): 2e-4, ("paper", "image"): 2e-4, ("paper", "flow"): 1e-5}


def _train(base: str, stage: str) -> TrainConfig:
    lr = LEARNING_RATES[(base, stage)]
    # appendix B.2: the autoencoder's Adam has betas (0.5, 0.9) and weight decay 1e-5
    betas = (0.5, 0.9) if stage == "autoencoder" else (0.9, 0.999)
    if base == "tiny":
        return TrainConfig(steps=5, batch_size=2, lr=lr, betas=betas,
                           weight_decay=1e-5 if stage == "autoencoder" else 0.0,
                           log_every=1, checkpoint_every=5, grad_clip=None, sample_every=5)
    steps = {("small", "autoencoder"): 1200, ("small", "image"): 1000, ("small", "flow"): 2000,
             ("bench", "autoencoder"): 400, ("bench", "image"): 300, ("bench", "flow"): 800,
             ("paper", "autoencoder"): 100_000, ("paper", "image"): 20_000,
             ("paper", "flow"): 100_000}[(base, stage)]
    batch = {"small": 4 if stage == "autoencoder" else 8, "bench": 8, "paper": 16}[base]
    # appendix B.2: linear learning-rate decay for the flow, exponential for the autoencoder
    # (rates not given; here to 0 and to 0.1 of the initial lr over the run). The small
    # autoencoder keeps a constant rate: its 1200 steps are far from converged.
    schedule = {"flow": "linear", "autoencoder": "exponential" if base == "paper" else "constant",
                "image": "constant"}[stage]
    # precision: bf16 on GPUs (paper) and for the small image encoder and flow, measured faster
    # with the same loss (benchmarks/precision.md); the small autoencoder stays fp32: torch's
    # CPU bf16 Conv3d weight gradient came out non-finite in some steps at its 4x4 decoder maps
    bf16 = base == "paper" or (base == "small" and stage != "autoencoder")
    return TrainConfig(steps=steps, batch_size=batch, lr=lr, betas=betas, weight_decay=1e-5,
                       grad_clip=10.0, lr_schedule=schedule,
                       lr_final_factor=0.0 if schedule == "linear" else 0.1,
                       log_every=20, checkpoint_every=max(steps // 5, 100),
                       checkpoint_minutes=30 if base == "paper" else None,
                       precision="auto" if bf16 else "fp32",
                       # every stage writes samples (reconstructions of x0 for the image
                       # encoder, sampled videos for the flow) 4 times and at the end
                       sample_every=max(steps // 4, 1))


def autoencoder_recipe(preset: str = "small") -> Recipe:
    """Stage 1 (`kinema train cinn-autoencoder --preset small`)."""
    p = parse_preset(preset)
    if p["control"]:
        raise ValueError("-control applies to the flow stage (cinn-flow) only")
    model = autoencoder_config(preset)
    return Recipe(method="cinn-autoencoder", preset=preset, model=model,
                  train=_train(p["base"], "autoencoder"), data=_data(preset))


def image_encoder_recipe(preset: str = "small") -> Recipe:
    """Stage 2 (`kinema train cinn-image-encoder --preset small`)."""
    p = parse_preset(preset)
    if p["control"] or p["ablation"]:
        raise ValueError("the image encoder has no ablation or control variants")
    return Recipe(method="cinn-image-encoder", preset=preset, model=image_encoder_config(preset),
                  train=_train(p["base"], "image"), data=_data(preset))


def flow_recipe(preset: str = "small") -> Recipe:
    """Stage 3 (`kinema train cinn-flow --preset small`); reads stages 1 and 2."""
    p = parse_preset(preset)
    return Recipe(method="cinn-flow", preset=preset, model=flow_config(preset),
                  train=_train(p["base"], "flow"), data=_data(preset))
