"""``bouncing-digits``: handwritten digits bouncing elastically in a square frame.

Moving Symbols rules (Szeto et al. 2018; the ILE paper's benchmark): each digit keeps a constant
speed, starts at a uniform position inside the frame with a uniform direction, and reflects
elastically off the borders (a step that would leave the frame is mirrored back into it and the
velocity component flips). Digits are scikit-learn's bundled ``load_digits`` images (1797 real
8x8 handwritten digits) upscaled bicubically; train and test draw from disjoint fixed subsets
(1437 / 360 images), so test digits are never seen in training, whatever the seed.

Ground truth of an item (``n`` = the maximum number of digits; absent digits are padded):
- ``positions`` (t n 2) float: (x, y) of each digit's **top-left corner** in pixels, sub-pixel;
  the digit occupies [x, x + digit_size) x [y, y + digit_size) and is rendered there with
  bilinear sub-pixel placement (its mass centre moves exactly with the position).
- ``velocity`` (t n 2): the velocity in px/frame each digit has at frame t, so
  ``positions[t + 1] = reflect(positions[t] + velocity[t])``; its norm is the digit's speed.
- ``digits`` (n) int labels 0..9 (-1 for an absent digit), ``digit_mask`` (n) bool,
  ``num_digits`` () int, ``colours`` (n 3) the RGB colour of each digit (white for 1 channel).
- ``eta`` () int: digit 0's final position on a ``grid`` x ``grid`` grid over the range of
  top-left positions [0, size - digit_size]^2, ``eta = row * grid + column``; ``eta_onehot``.
Overlapping digits combine by maximum.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from kinema.data.options import check_int, check_range
from kinema.data.synthetic._base import SyntheticVideos, one_hot, video_tensor
from kinema.errors import KinemaError

NUM_TEST_DIGITS = 360
SPLIT_PERMUTATION_SEED = 20180501  # fixed: the train/test digit subsets never depend on `seed`


@lru_cache(maxsize=1)
def digit_bank() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(images (1797 8 8) in [0, 1], labels (1797), {"train": indices, "test": indices}).

    Reads ``load_digits``' own file (``sklearn/datasets/data/digits.csv.gz``: 64 pixel columns
    then the label) the way ``load_digits`` does, located without importing scikit-learn, whose
    import costs seconds; a test checks it equals ``load_digits()``.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise KinemaError("bouncing-digits needs scikit-learn (pip install scikit-learn)")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise KinemaError(f"scikit-learn's digits file is missing: {path}")
    table = np.loadtxt(path, delimiter=",")
    images = table[:, :-1].reshape(-1, 8, 8).astype(np.float32) / 16.0
    labels = table[:, -1].astype(np.int64)
    order = np.random.default_rng(SPLIT_PERMUTATION_SEED).permutation(len(images))
    subsets = {"test": np.sort(order[:NUM_TEST_DIGITS]), "train": np.sort(order[NUM_TEST_DIGITS:])}
    return images, labels, subsets


@lru_cache(maxsize=8)
def upscaled_digits(split: str, digit_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The split's digits upscaled to (n digit_size digit_size) in [0, 1], and their labels."""
    import cv2

    images, labels, subsets = digit_bank()
    chosen = images[subsets[split]]
    # One blank pixel around the 8x8 image keeps the bicubic overshoot from clipping the ink.
    padded = np.pad(chosen, ((0, 0), (1, 1), (1, 1)))
    sprites = np.stack([cv2.resize(p, (digit_size, digit_size), interpolation=cv2.INTER_CUBIC) for p in padded])
    return np.clip(sprites, 0.0, 1.0), labels[subsets[split]]


def bounce(start: np.ndarray, velocity: np.ndarray, limit: float, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Elastic motion in [0, limit]^2. start, velocity: (n 2). Returns positions, velocities (t n 2)."""
    positions = np.empty((num_frames, *start.shape))
    velocities = np.empty((num_frames, *start.shape))
    position, speed = start.astype(np.float64), velocity.astype(np.float64)
    for t in range(num_frames):
        positions[t], velocities[t] = position, speed
        position = position + speed
        low, high = position < 0.0, position > limit
        position = np.where(low, -position, np.where(high, 2.0 * limit - position, position))
        speed = np.where(low | high, -speed, speed)
    return positions, velocities


def place(sprite: np.ndarray, positions: np.ndarray, size: int) -> np.ndarray:
    """Render one sprite (d d) at sub-pixel top-left positions (t 2) -> layers (t size size).

    Bilinear splatting: the sprite is spread over the four integer offsets around its position
    with weights (1-fx)(1-fy), fx(1-fy), (1-fx)fy, fx fy, which moves its mass centre exactly.
    """
    d = sprite.shape[0]
    layers = np.zeros((len(positions), size + 1, size + 1), np.float32)
    corners = np.floor(positions).astype(int)
    fractions = (positions - corners).astype(np.float32)
    for t, ((x, y), (fx, fy)) in enumerate(zip(corners, fractions)):
        layers[t, y:y + d, x:x + d] += (1 - fx) * (1 - fy) * sprite
        layers[t, y:y + d, x + 1:x + 1 + d] += fx * (1 - fy) * sprite
        layers[t, y + 1:y + 1 + d, x:x + d] += (1 - fx) * fy * sprite
        layers[t, y + 1:y + 1 + d, x + 1:x + 1 + d] += fx * fy * sprite
    return layers[:, :size, :size]


class BouncingDigits(SyntheticVideos):
    """Handwritten digits bouncing in a ``size`` x ``size`` frame; see the module docstring.

    Options: ``num_videos`` (default 10000 train / 1000 test), ``num_frames`` (16), ``size`` (64;
    32 and 64 are the benchmark sizes), ``seed``, ``num_digits`` (an int or an inclusive
    (min, max) range; default 1), ``digit_size`` (default 7/16 of ``size``: 14 px at 32, 28 at 64),
    ``min_speed``/``max_speed`` in px/frame (1, 3), ``channels`` (1; 3 gives each digit a colour),
    ``grid`` for the control ``eta`` (4).
    """

    def __init__(self, split: str = "train", num_videos: int | None = None, num_frames: int = 16,
                 size: int = 64, seed: int = 0, num_digits: int | tuple[int, int] = 1,
                 digit_size: int | None = None, min_speed: float = 1.0, max_speed: float = 3.0,
                 channels: int = 1, grid: int = 4, **unknown):
        num_videos = num_videos if num_videos is not None else (10_000 if split == "train" else 1_000)
        super().__init__(split, num_videos, num_frames, size, seed, unknown=unknown)
        counts = (num_digits, num_digits) if isinstance(num_digits, (int, np.integer)) else tuple(num_digits)
        if len(counts) != 2:
            raise KinemaError(f"num_digits must be an int or a (min, max) pair, got {num_digits!r}")
        low, high = counts
        self.min_digits, self.max_digits = check_int("num_digits", low, 1), check_int("num_digits", high, 1)
        if self.min_digits > self.max_digits:
            raise KinemaError(f"num_digits range must be (min, max) with min <= max, got {num_digits!r}")
        self.digit_size = check_int("digit_size", digit_size if digit_size is not None else round(size * 7 / 16), 4)
        if self.digit_size >= self.size:
            raise KinemaError(f"digit_size ({self.digit_size}) must be smaller than size ({self.size})")
        self.limit = float(self.size - self.digit_size)  # largest top-left coordinate
        self.min_speed, self.max_speed = check_range("speed", min_speed, max_speed)
        if self.max_speed > self.limit:
            raise KinemaError(f"max_speed ({max_speed}) must not exceed size - digit_size ({self.limit:g})")
        if channels not in (1, 3):
            raise KinemaError(f"channels must be 1 or 3, got {channels!r}")
        self.channels = channels
        self.grid = check_int("grid", grid, 1)

    def generate(self, rng: np.random.Generator, index: int) -> dict[str, torch.Tensor]:
        sprites, labels = upscaled_digits(self.split, self.digit_size)
        count = int(rng.integers(self.min_digits, self.max_digits + 1))
        chosen = rng.integers(0, len(sprites), size=count)
        start = rng.uniform(0.0, self.limit, size=(count, 2))
        angle = rng.uniform(0.0, 2.0 * np.pi, size=count)
        speed = rng.uniform(self.min_speed, self.max_speed, size=count)
        velocity = speed[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (n 2)
        positions, velocities = bounce(start, velocity, self.limit, self.num_frames)   # (t n 2)
        if self.channels == 3:
            colours = rng.uniform(0.25, 1.0, size=(count, 3))
            colours /= colours.max(axis=1, keepdims=True)  # saturated, brightest channel = 1
        else:
            colours = np.ones((count, 3))

        frames = np.zeros((self.num_frames, self.size, self.size, self.channels), np.float32)
        for n in range(count):
            layer = place(sprites[chosen[n]], positions[:, n], self.size)               # (t h w)
            tint = colours[n, : self.channels] if self.channels == 3 else colours[n, :1]
            frames = np.maximum(frames, layer[..., None] * tint.astype(np.float32))

        final_x, final_y = positions[-1, 0]
        eta = self.grid_bin(final_y) * self.grid + self.grid_bin(final_x)
        pad = self.max_digits - count
        return {
            "video": video_tensor(frames),
            "positions": torch.from_numpy(np.pad(positions, ((0, 0), (0, pad), (0, 0)))).float(),
            "velocity": torch.from_numpy(np.pad(velocities, ((0, 0), (0, pad), (0, 0)))).float(),
            "digits": torch.from_numpy(np.pad(labels[chosen], (0, pad), constant_values=-1)),
            "digit_mask": torch.arange(self.max_digits) < count,
            "num_digits": torch.tensor(count),
            "colours": torch.from_numpy(np.pad(colours, ((0, pad), (0, 0)))).float(),
            "eta": torch.tensor(eta),
            "eta_onehot": one_hot(eta, self.grid * self.grid),
        }

    def grid_bin(self, coordinate: float) -> int:
        """Bin of a top-left coordinate in [0, size - digit_size] on ``grid`` equal cells."""
        if self.limit == 0.0:
            return 0
        return min(int(coordinate / self.limit * self.grid), self.grid - 1)
