"""The assembled image-to-video model (stage 3 of the cINN and the sampler users load).

``CINN`` holds the frozen video encoder q_phi and decoder p_psi (stage 1), the frozen image
encoder of x0 (stage 2) and the trainable conditional INN T_theta (this stage). It trains by
the exact negative log-likelihood of Eq. (8) on z ~ q_phi(z|X), and samples (Sec. 3.2):

    nu ~ N(0, I),   z = T_theta(nu; x0, eta),   X = p_psi(x0, z)

and every video it returns starts at the given x0 itself (frame 0 of p_psi's output is its
reconstruction of x0 and is replaced, see ``with_start_frame``). Longer videos are chained from the last generated frame (Sec. 4.1, Landscape).
``PriorSampler`` is the "without cINN" ablation: z ~ N(0, I), the autoencoder's prior.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import torch
from einops import rearrange, repeat
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.cinn.autoencoder import VideoDecoder, VideoEncoder
from kinema.methods.cinn.config import AutoencoderConfig, FlowConfig, ImageEncoderConfig
from kinema.methods.cinn.flow import ConditionalINN
from kinema.methods.cinn.image_encoder import ImageAutoencoder
from kinema.methods.cinn.losses import flow_nll
from kinema.pretrained import Pretrained
from kinema.stages import open_stage, record_sources


def load_flow(path) -> "CINN":
    """A trained cinn-flow model from its run folder (or the model/ inside it), or one
    KinemaError naming the folder and the command that trains it."""
    from kinema.pretrained import model_folder

    path = Path(path)
    try:
        folder = model_folder(path)
    except KinemaError:
        run = path.parent if path.name == "model" else path
        preset = run.name.removeprefix("cinn-flow-") if run.name.startswith("cinn-flow-") else "PRESET"
        raise KinemaError(f"the trained cinn-flow model is needed at {path}, which holds no "
                          f"model: train it first with `kinema train cinn-flow --preset {preset} "
                          f"--out {run}`") from None
    return CINN.from_pretrained(folder)


def control_vector(control, bins: int, batch: int, device) -> torch.Tensor | None:
    """eta as one-hot (b bins) from None, an int, int indices (b) or one-hot rows (b bins)."""
    if bins == 0:
        return None   # a model without eta ignores one (evaluation passes the data's eta to all)
    if control is None:
        raise KinemaError(f"this cINN was trained with a control eta of {bins} bins: pass one")
    control = torch.as_tensor(control, device=device)
    if control.ndim == 2:
        return control.float()
    index = control.long().reshape(-1).expand(batch) if control.numel() == 1 else control.long()
    if (index < 0).any() or (index >= bins).any():
        raise KinemaError(f"control bins must be in 0..{bins - 1}, got {index.tolist()}")
    return torch.nn.functional.one_hot(index, bins).float()


def with_start_frame(x0: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """The decoded clip (b t c h w) with its frame 0 replaced by the given x0 (b c h w).

    The decoder p_psi(X|x0, z) was trained on clips X = [x0, x1, ..., x_{T-1}] that hold the
    start frame, so its frame 0 is only a reconstruction of x0; the paper models X = [x1..xT]
    given x0, whose first frame is the given image. We overwrite frame 0 rather than decode
    only the T-1 new frames: the decoder's length T (divisible by its time upsamplings) and
    every trained run stay as they are, and frames 1.. are exactly what the decoder made.
    Chaining is unchanged: the next segment starts at this segment's last frame and drops its
    own frame 0 (``chain_segments``)."""
    return torch.cat([x0[:, None].to(video.dtype), video[:, 1:]], dim=1)


def chain_segments(decode_segment: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor,
                   num_frames: int, num_samples: int = 1) -> torch.Tensor:
    """``num_samples`` videos of ``num_frames`` per start frame, x0 (b c h w) -> (b n t c h w),
    made of segments that each start at the previous segment's last frame.
    decode_segment(starts (m c h w)) -> (m t c h w) draws one segment per start."""
    video = decode_segment(repeat(x0, "b c h w -> (b n) c h w", n=num_samples))
    if video.shape[1] < min(num_frames, 2):
        raise ValueError(f"segments of {video.shape[1]} frame(s) cannot be chained to {num_frames}")
    while video.shape[1] < num_frames:
        video = torch.cat([video, decode_segment(video[:, -1])[:, 1:]], dim=1)
    return rearrange(video[:, :num_frames], "(b n) t c h w -> b n t c h w", n=num_samples)


def check_stages_agree(video: AutoencoderConfig, image: ImageEncoderConfig) -> None:
    """The image encoder reads the autoencoder's x0: the same channels and image size."""
    clash = [f"{name} {getattr(video, name)} (autoencoder) vs {getattr(image, name)} (image encoder)"
             for name in ("channels", "image_size") if getattr(video, name) != getattr(image, name)]
    if clash:
        raise KinemaError("the flow's two earlier stages were trained on different frames: "
                          + "; ".join(clash) + " (model.autoencoder_path and "
                          "model.image_encoder_path must name runs of the same preset size)")


class CINN(nn.Module, Pretrained):
    """Stage 3 and the image-to-video sampler (``kinema.tasks.ImageToVideo``)."""

    config_class = FlowConfig

    def __init__(self, config: FlowConfig):
        super().__init__()
        ae = image = None          # the earlier stages, when opened from their folders
        if config.autoencoder is None:
            ae = open_stage(config, "autoencoder_path")
            # the flow never trains the decoder: it needs no perceptual network
            config = dataclasses.replace(config, autoencoder=dataclasses.replace(ae.config, vgg_weights=None))
        if config.image_encoder is None:
            image = open_stage(config, "image_encoder_path")
            config = dataclasses.replace(config, image_encoder=image.config)
        check_stages_agree(config.autoencoder, config.image_encoder)
        self.config = config
        self.video_config: AutoencoderConfig = config.autoencoder
        self.video_encoder = ae.encoder if ae else VideoEncoder(self.video_config)
        self.video_decoder = ae.decoder if ae else VideoDecoder(self.video_config)
        self.image_encoder = image or ImageAutoencoder(config.image_encoder)
        record_sources(self, autoencoder_path=ae, image_encoder_path=image)
        for module in (self.video_encoder, self.video_decoder, self.image_encoder):
            module.requires_grad_(False)
        cond_dim = config.image_encoder.code_dim + config.control_bins
        self.flow = ConditionalINN(self.video_config.z_dim, cond_dim, config.blocks, config.hidden,
                                   config.clamp, config.leaky_slope, config.seed,
                                   subnet_layers=config.subnet_layers, activation=config.activation,
                                   separate_scale_shift=config.separate_scale_shift)
        self.train()   # frozen stages in eval mode (spectral norm's power iteration stays still)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in (self.video_encoder, self.video_decoder, self.image_encoder):
            module.eval()   # the earlier stages stay frozen
        return self

    def condition(self, x0: torch.Tensor, control=None) -> torch.Tensor:
        """The flow's condition: [image code of x0, one-hot eta] (b k)."""
        code = self.image_encoder.encode(x0)
        eta = control_vector(control, self.config.control_bins, x0.shape[0], x0.device)
        return code if eta is None else torch.cat([code, eta], dim=1)

    # ------------------------------------------------------------------ training contract

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"flow": list(self.flow.parameters())}

    def expected_input(self) -> dict:
        c = self.video_config   # the frozen autoencoder's clips
        return {"num_frames": c.num_frames, "channels": c.channels, "image_size": c.image_size}

    def _codes(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        video = batch["video"]
        with torch.no_grad():
            mu, logvar = self.video_encoder(video)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)     # z ~ q_phi(z|X)
            control = batch.get("eta") if self.config.control_bins else None
            cond = self.condition(video[:, 0], control)
        return z, cond

    def on_train_start(self, batch: dict) -> None:
        z, cond = self._codes(batch)
        with torch.no_grad():
            self.flow.to_residual(z, cond)   # data-dependent ActNorm initialisation

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        z, cond = self._codes(batch)
        nu, logdet = self.flow.to_residual(z, cond)
        loss = flow_nll(nu, logdet)                               # Eq. (8)
        return {"loss": loss, "logdet": logdet.mean() / nu.shape[1],
                "nu_sq": nu.pow(2).mean()}

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        video = batch["video"][:4]
        control = batch.get("eta", None)
        control = control[:4] if (control is not None and self.config.control_bins) else None
        return self.sample(video[:, 0], video.shape[1], 1, control)[:, 0]

    # ------------------------------------------------------------------ ImageToVideo

    def encode_residual(self, video: torch.Tensor, control=None) -> torch.Tensor:
        """nu~ = T^-1(q_phi(X~); x~0) (appendix A.5, motion transfer): video (b t c h w) -> (b d).
        The encoder's mean is used as the code of X~."""
        mu, _ = self.video_encoder(video)
        return self.flow.to_residual(mu, self.condition(video[:, 0], control))[0]

    def decode_residual(self, x0: torch.Tensor, nu: torch.Tensor, control=None) -> torch.Tensor:
        """X = p_psi(x0, T(nu; x0, eta)): x0 (b c h w), nu (b d) -> video (b t c h w) whose
        frame 0 is x0 itself (``with_start_frame``)."""
        z = self.flow.to_code(nu, self.condition(x0, control))[0]
        return with_start_frame(x0, self.video_decoder(x0, z))

    @torch.no_grad()
    def sample(self, x0: torch.Tensor, num_frames: int, num_samples: int = 1, control=None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """x0 (b c h w) in [-1, 1] -> videos (b n t c h w) whose frame 0 is x0 exactly."""
        eta = control_vector(control, self.config.control_bins, x0.shape[0], x0.device)
        eta = repeat(eta, "b k -> (b n) k", n=num_samples) if eta is not None else None
        d = self.video_config.z_dim

        def segment(start: torch.Tensor) -> torch.Tensor:
            nu = torch.randn(start.shape[0], d, generator=generator, device="cpu").to(start)
            return self.decode_residual(start, nu, eta)

        return chain_segments(segment, x0, num_frames, num_samples)


class PriorSampler(nn.Module):
    """The "without cINN" ablation (Tables 2, 4): z ~ N(0, I) decoded by p_psi(X|x0, z)."""

    def __init__(self, decoder: VideoDecoder, config: AutoencoderConfig):
        super().__init__()
        self.decoder, self.config = decoder, config

    @classmethod
    def from_autoencoder(cls, path: str) -> "PriorSampler":
        """From a cinn-autoencoder run folder (or its model/), by the flow's own stage loader."""
        ae = open_stage(FlowConfig(autoencoder_path=str(path)), "autoencoder_path")
        return cls(ae.decoder, ae.config).eval()

    @torch.no_grad()
    def sample(self, x0: torch.Tensor, num_frames: int, num_samples: int = 1, control=None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        # control: ignored, the prior has no eta
        def segment(start: torch.Tensor) -> torch.Tensor:
            z = torch.randn(start.shape[0], self.config.z_dim, generator=generator).to(start)
            return with_start_frame(start, self.decoder(start, z))

        return chain_segments(segment, x0, num_frames, num_samples)
