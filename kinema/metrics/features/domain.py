"""Domain feature extractors: small video classifiers trained on a dataset's own labels.

The cINN paper's DTFVD (Sec. 4.2, appendix C.3) replaces FVD's Kinetics I3D by an I3D trained
to classify dynamic textures, so that the distance sees the dynamics that matter for the
data. kinema does the same at CPU scale and with no download: a (2+1)-D network is trained
on the labels the synthetic suite records (cloud drift direction η, digit identity and motion
direction, oscillation amplitude and frequency), and its features define "domain" FVD/FID/KID and
diversity.

Architecture (input resized to ``size``², grey/colour matched to ``channels``), two branches:
  appearance, per frame: 3 × [Conv2d 3×3 stride 2 → GroupNorm → ReLU], mean over (h w)
      -> frame features (4·width), the frame features of domain FID/KID
  motion, per clip: 3 × [Conv3d 3×3×3 → GroupNorm → ReLU] with strides (1 2 2), 2, 2, mean
      over (t h w) -> motion features (``feature_dim``)
  clip features = [appearance averaged over time ‖ motion] (domain FVD/KVD, diversity)
      → dropout (p = 0.5, as the cINN paper's DTFVD network) → one linear head per label.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.pretrained import Pretrained


@dataclass
class DomainExtractorConfig:
    labels: tuple[str, ...] = ("eta",)    # label names (see kinema.metrics.features.labels)
    num_classes: tuple[int, ...] = (36,)  # classes of each label
    channels: int = 3
    size: int = 32
    width: int = 16
    feature_dim: int = 64
    dropout: float = 0.5
    dataset: str = ""                     # what it was trained on, for the record
    num_frames: int = 16                  # clip length it was trained on


def _block2d(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    norm_layer = nn.GroupNorm(8, cout) if norm else nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), norm_layer, nn.ReLU())


def _block3d(cin: int, cout: int, stride, norm: bool = True) -> nn.Sequential:
    norm_layer = nn.GroupNorm(8, cout) if norm else nn.Identity()
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1), norm_layer, nn.ReLU())


class DomainExtractor(nn.Module, Pretrained):
    config_class = DomainExtractorConfig

    def __init__(self, config: DomainExtractorConfig):
        super().__init__()
        self.config = config
        w, c, d = config.width, config.channels, config.feature_dim
        # The last block of each branch has no GroupNorm: normalising right before the global
        # mean would normalise away the per-group means the pooled features are made of.
        self.frame_encoder = nn.Sequential(_block2d(c, w), _block2d(w, 2 * w),
                                           _block2d(2 * w, 4 * w, norm=False))
        # Motion is seen at full resolution: the first 3-D convolution spans adjacent frames
        # before any spatial downsampling (sub-pixel drifts vanish in coarse maps).
        self.motion_encoder = nn.Sequential(_block3d(c, w, (1, 2, 2)), _block3d(w, 2 * w, 2),
                                            _block3d(2 * w, d, 2, norm=False))
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleList(nn.Linear(self.clip_dim, k) for k in config.num_classes)

    @property
    def clip_dim(self) -> int:
        return 4 * self.config.width + self.config.feature_dim

    def prepare(self, video: torch.Tensor) -> torch.Tensor:
        """(b t c h w) in [-1, 1] -> (b t c' size size) with the extractor's channels."""
        c = self.config.channels
        if video.shape[2] != c:
            video = video.mean(2, keepdim=True) if c == 1 else video.expand(-1, -1, c, -1, -1)
        if video.shape[-2:] != (self.config.size, self.config.size):
            b = video.shape[0]
            frames = F.interpolate(rearrange(video, "b t c h w -> (b t) c h w"),
                                   size=(self.config.size,) * 2, mode="bilinear",
                                   align_corners=False, antialias=True)
            video = rearrange(frames, "(b t) c h w -> b t c h w", b=b)
        return video.float()

    def _frame_features(self, video: torch.Tensor) -> torch.Tensor:
        """prepared (b t c h w) -> (b t 4·width)."""
        b = video.shape[0]
        maps = self.frame_encoder(rearrange(video, "b t c h w -> (b t) c h w"))
        return rearrange(maps.mean(dim=(2, 3)), "(b t) d -> b t d", b=b)

    def _clip_features(self, video: torch.Tensor) -> torch.Tensor:
        """prepared (b t c h w) -> (b 4·width + feature_dim): appearance mean ‖ motion."""
        appearance = self._frame_features(video).mean(1)
        motion = self.motion_encoder(rearrange(video, "b t c h w -> b c t h w")).mean(dim=(2, 3, 4))
        return torch.cat([appearance, motion], dim=1)

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """video (b t c h w) -> clip features (b clip_dim), logits of each label [(b k)]."""
        clip = self._clip_features(self.prepare(video))
        return clip, [head(self.dropout(clip)) for head in self.heads]

    # the Trainer's contract (kinema.train.method): one group, the labels' summed cross-entropy
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"model": list(self.parameters())}

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        """batch: ``video`` (b t c h w), ``labels`` (b len(labels)) class indices."""
        _, logits = self(batch["video"])
        losses = [F.cross_entropy(lg, batch["labels"][:, j]) for j, lg in enumerate(logits)]
        return {"loss": sum(losses),
                **{f"{name}_cross_entropy": loss for name, loss in zip(self.config.labels, losses)}}

    @torch.no_grad()
    def clip_features(self, video: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._clip_features(self.prepare(v)) for v in video.split(32)])

    @torch.no_grad()
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (b c h w) -> (b 4·width)."""
        out = [self._frame_features(self.prepare(f.unsqueeze(1)))[:, 0] for f in frames.split(256)]
        return torch.cat(out)


def load_domain_extractor(path) -> DomainExtractor:
    from pathlib import Path

    from kinema.errors import KinemaError

    if not (Path(path) / "config.json").is_file():
        raise KinemaError(f"{path} is not a domain extractor folder (no config.json); train one "
                          f"with `kinema metrics train-extractor --data NAME --out {path}`")
    return DomainExtractor.from_pretrained(path).eval()
