"""Repeat the last frame: the reference every predictor must beat (the ILE paper's
"Last Input" row).

- ``predict``: every future frame is the last context frame.
- ``sample``: every frame is the start image x0.
- ``generate``: has no image to repeat, so ``fit`` first stores a bank of frames drawn from a
  dataset; a generated video repeats one frame of the bank chosen at random. It is a still
  video by construction — the honest "no motion" generator.
"""
from __future__ import annotations

import torch
from einops import repeat
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.baselines.clips import check_count, check_frames, collect_clips
from kinema.methods.baselines.config import RepeatLastConfig
from kinema.pretrained import Pretrained


class RepeatLastFrame(nn.Module, Pretrained):
    config_class = RepeatLastConfig

    def __init__(self, config: RepeatLastConfig | None = None):
        super().__init__()
        self.config = config = config or RepeatLastConfig()
        # (m c h w) frames for ``generate``; filled by ``fit``
        self.register_buffer("bank", torch.zeros(config.bank_size, config.channels,
                                                 config.height, config.width))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def predict(self, context: torch.Tensor, num_frames: int, num_samples: int = 1,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """context: (b k c h w). Returns (b n t c h w), every frame the last context frame."""
        check_frames(context, "context", 5)
        return self._repeat(context[:, -1], num_frames, num_samples)

    @torch.no_grad()
    def sample(self, x0: torch.Tensor, num_frames: int, num_samples: int = 1,
               control: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """x0: (b c h w). Returns (b n t c h w), every frame x0 (``control`` has no effect)."""
        check_frames(x0, "x0", 4)
        return self._repeat(x0, num_frames, num_samples)

    @torch.no_grad()
    def generate(self, num_videos: int, num_frames: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Returns (b t c h w): each video a random frame of the fitted bank, held still."""
        check_count(num_videos, "num_videos")
        check_count(num_frames, "num_frames")
        if not bool(self.fitted):
            raise KinemaError("RepeatLastFrame.generate needs a bank of frames: call "
                              "fit(dataset) first (or load a fitted model folder)")
        index = torch.randint(len(self.bank), (num_videos,), generator=generator)
        frames = self.bank[index.to(self.bank.device)]                   # (b c h w)
        return repeat(frames, "b c h w -> b t c h w", t=num_frames).clone()

    @torch.no_grad()
    def fit(self, dataset, max_clips: int | None = None, progress: bool = True
            ) -> "RepeatLastFrame":
        """Fill the bank with ``bank_size`` frames drawn at random (seeded by ``config.seed``)
        from the first ``max_clips`` (default ``bank_size``) clips of ``dataset`` (a dataset
        of ``video`` items or a tensor (n t c h w))."""
        cfg = self.config
        clips = collect_clips(dataset, max_clips or cfg.bank_size, progress)  # (n t c h w)
        check_frames(clips, "dataset videos", 5, (cfg.channels, cfg.height, cfg.width))
        g = torch.Generator().manual_seed(cfg.seed)
        n, t = clips.shape[:2]
        clip_index = torch.randint(n, (cfg.bank_size,), generator=g)
        frame_index = torch.randint(t, (cfg.bank_size,), generator=g)
        self.bank.copy_(clips[clip_index, frame_index].clamp(-1, 1))
        self.fitted.fill_(True)
        return self

    @staticmethod
    def _repeat(frame: torch.Tensor, num_frames: int, num_samples: int) -> torch.Tensor:
        check_count(num_frames, "num_frames")
        check_count(num_samples, "num_samples")
        # (b c h w) -> (b n t c h w); clone so callers may write into the result
        return repeat(frame, "b c h w -> b n t c h w", n=num_samples, t=num_frames).clone()
