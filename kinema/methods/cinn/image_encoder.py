"""Stage 2: the image autoencoder whose code represents the start frame x0 for the flow
(appendix B.1: "the feature representation for the starting frame x0 is obtained by a
pretrained autoencoder optimized for reconstructing images").

A strided-convolution encoder to a code vector and a mirrored upsampling decoder, trained by
L1 reconstruction of single frames drawn from the training clips. Only the encoder is used
afterwards (frozen, inside the flow stage).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.methods.cinn.config import ImageEncoderConfig
from kinema.nn.norms import group_count
from kinema.pretrained import Pretrained


def _conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
                         nn.GroupNorm(group_count(out_channels), out_channels), nn.LeakyReLU(0.2))


class ImageAutoencoder(nn.Module, Pretrained):
    """``encode(x) -> code``: x (b c h w) in [-1, 1] -> (b code_dim); ``decode(code) -> x``."""

    config_class = ImageEncoderConfig

    def __init__(self, config: ImageEncoderConfig):
        super().__init__()
        self.config = config
        widths = tuple(config.widths)
        downs = len(widths)
        if config.image_size % (2 ** downs):
            raise ValueError(f"image_size {config.image_size} must be divisible by 2**{downs}")
        self.bottom = config.image_size // 2 ** downs
        layers, previous = [], config.channels
        for width in widths:
            layers.append(_conv_block(previous, width, stride=2))
            previous = width
        self.encoder = nn.Sequential(*layers)
        flat = widths[-1] * self.bottom * self.bottom
        self.to_code = nn.Linear(flat, config.code_dim)
        self.from_code = nn.Linear(config.code_dim, flat)
        ups = []
        for width, out in zip(widths[::-1], (*widths[::-1][1:], widths[0])):
            ups += [nn.Upsample(scale_factor=2, mode="nearest"), _conv_block(width, out, stride=1)]
        self.decoder = nn.Sequential(*ups, nn.Conv2d(widths[0], config.channels, 3, padding=1), nn.Tanh())

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.encoder(image).flatten(1))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        h = rearrange(self.from_code(code), "b (c h w) -> b c h w", h=self.bottom, w=self.bottom)
        return self.decoder(h)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"model": list(self.parameters())}

    def expected_input(self) -> dict:
        return {"channels": self.config.channels, "image_size": self.config.image_size}

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        video = batch["video"]                                     # (b t c h w)
        frames = rearrange(video, "b t c h w -> (b t) c h w")
        # the start frame of every clip plus as many frames drawn at random
        pick = torch.randint(0, frames.shape[0], (video.shape[0],), device=video.device)
        images = torch.cat([video[:, 0], frames[pick]])
        loss = F.l1_loss(self.decode(self.encode(images)), images)
        return {"loss": loss}

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        x0 = batch["video"][:4, 0]
        return torch.stack([x0, self.decode(self.encode(x0))], dim=1)   # (b 2 c h w)
