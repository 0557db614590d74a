"""What every synthetic dataset shares: per-item seeding, option checks, the [-1, 1] video format."""
from __future__ import annotations

import inspect
import zlib
from abc import ABC, abstractmethod

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset

from kinema.data.options import check_int
from kinema.errors import KinemaError

SPLIT_CODES = {"train": 0, "test": 1}


class SyntheticVideos(Dataset, ABC):
    """Base class: ``num_videos`` items, item ``i`` generated on the fly from its own generator.

    The generator of item i is seeded from (seed, split, dataset name, i) through numpy's
    ``SeedSequence``, so an item is the same on every access, in any order, in any worker
    process, and train and test never share a seed.
    """

    def __init__(self, split: str, num_videos: int, num_frames: int, size: int, seed: int,
                 min_size: int = 8, unknown: dict | None = None):
        if unknown:
            accepted = [p for p in inspect.signature(type(self).__init__).parameters
                        if p not in ("self", "split", "unknown")]
            raise KinemaError(f"{type(self).__name__} has no option {', '.join(map(repr, unknown))}; "
                              f"options: {', '.join(accepted)}")
        if split not in SPLIT_CODES:
            raise KinemaError(f"split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.num_videos = check_int("num_videos", num_videos, 1)
        self.num_frames = check_int("num_frames", num_frames, 1)
        self.size = check_int("size", size, min_size)
        self.seed = check_int("seed", seed, 0)

    def __len__(self) -> int:
        return self.num_videos

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = int(index)
        if not 0 <= index < self.num_videos:
            raise IndexError(f"{type(self).__name__} has {self.num_videos} videos; index {index} is out of range")
        return self.generate(self.item_rng(index), index)

    def item_rng(self, index: int) -> np.random.Generator:
        dataset_code = zlib.crc32(type(self).__name__.encode())
        entropy = [self.seed, SPLIT_CODES[self.split], dataset_code, index]
        return np.random.default_rng(np.random.SeedSequence(entropy))

    @abstractmethod
    def generate(self, rng: np.random.Generator, index: int) -> dict[str, torch.Tensor]:
        """One item from its generator; implemented by each dataset."""


def video_tensor(frames: np.ndarray, layout: str = "t h w c") -> torch.Tensor:
    """Frames in [0, 1] (any layout string naming t h w c) -> float32 (t c h w) in [-1, 1]."""
    video = rearrange(np.asarray(frames, dtype=np.float32), f"{layout} -> t c h w")
    return torch.from_numpy(np.ascontiguousarray(np.clip(video, 0.0, 1.0) * 2.0 - 1.0))


def one_hot(index: int, num_classes: int) -> torch.Tensor:
    vector = torch.zeros(num_classes, dtype=torch.float32)
    vector[index] = 1.0
    return vector
