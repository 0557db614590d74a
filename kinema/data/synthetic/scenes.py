"""Still images for the synthetic suite: scikit-image's bundled photographs and procedural meadows.

Photos are split by picture, so test crops come from pictures never seen in training. A
procedural meadow is drawn with OpenCV from a generator and comes with its own label map of
what is drawn where (``MEADOW_KINDS``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

PHOTOS = {
    "train": ("astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
              "camera", "grass", "moon"),
    "test": ("chelsea", "coins", "gravel", "retina"),
}
MEADOW_KINDS = ("sky", "ground", "grass", "tree", "flower")
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601, as OpenCV's RGB -> grey


@lru_cache(maxsize=32)
def photo(name: str, short_side: int) -> np.ndarray:
    """A bundled scikit-image photo as float32 RGB (h w 3) in [0, 1], short side ``short_side``."""
    import cv2
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3].astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    scale = short_side / min(image.shape[:2])
    width, height = round(image.shape[1] * scale), round(image.shape[0] * scale)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def photo_crop(rng: np.random.Generator, split: str, size: int) -> tuple[np.ndarray, int]:
    """A random square crop (1x to 2x the frame, resized to ``size``) of a random photo of the
    split, randomly mirrored. Returns (size size 3) in [0, 1] and the photo's index in PHOTOS[split]."""
    import cv2

    which = int(rng.integers(len(PHOTOS[split])))
    source = photo(PHOTOS[split][which], 2 * size)
    side = int(rng.integers(size, 2 * size + 1))
    top = int(rng.integers(0, source.shape[0] - side + 1))
    left = int(rng.integers(0, source.shape[1] - side + 1))
    crop = cv2.resize(source[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(np.clip(crop, 0.0, 1.0)), which


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1] (size size): a cells x cells random grid, bicubically upscaled."""
    import cv2

    grid = rng.random((cells, cells)).astype(np.float32)
    return np.clip(cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def meadow(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A procedural meadow: sky, hills, trees, grass blades and flowers.

    Returns the image (size size 3) float32 in [0, 1] and labels (size size) int64 indexing
    MEADOW_KINDS. Sky and ground are smooth (no texture), grass blades and flowers are thin and
    high-contrast, tree crowns are dark and mottled: what makes them sway differently.
    """
    import cv2

    rows = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    top_colour = np.array([0.25, 0.45, 0.85]) + rng.uniform(-0.1, 0.1, 3)
    bottom_colour = np.array([0.7, 0.82, 0.95]) + rng.uniform(-0.05, 0.05, 3)
    image = np.broadcast_to((1 - rows) * top_colour + rows * bottom_colour, (size, size, 3)).astype(np.float32).copy()
    labels = np.zeros((size, size), np.int32)  # OpenCV draws on int32, not int64

    # Hills: a smooth horizon; the ground below shades gently from its top down.
    columns = np.arange(size)
    horizon = size * rng.uniform(0.4, 0.6) + size * 0.06 * np.sin(
        2 * np.pi * (columns / size * rng.uniform(0.5, 1.5) + rng.random()))
    ground = np.arange(size)[:, None] >= horizon[None, :]
    ground_colour = np.array([0.35, 0.55, 0.2]) + rng.uniform(-0.08, 0.08, 3)
    shade = (0.85 + 0.15 * rows[..., 0]) * np.ones((1, size), np.float32)
    image[ground] = (shade[..., None] * ground_colour)[ground]
    labels[ground] = MEADOW_KINDS.index("ground")

    canvas = np.ascontiguousarray(image)
    scale = size / 64.0
    for _ in range(int(rng.integers(0, 3))):                     # trees: trunk (static) and crown
        x = int(rng.integers(size // 8, size - size // 8))
        base = int(horizon[x] + size * rng.uniform(0.05, 0.2))
        height = int(size * rng.uniform(0.3, 0.5))
        trunk = max(1, round(2 * scale))
        cv2.rectangle(canvas, (x - trunk, base - height // 2), (x + trunk, base), (0.35, 0.22, 0.1), -1)
        cv2.rectangle(labels, (x - trunk, base - height // 2), (x + trunk, base), MEADOW_KINDS.index("ground"), -1)
        crown = np.zeros((size, size), np.uint8)
        for _ in range(5):
            centre = (x + int(rng.normal(0, 4 * scale)), base - height // 2 - int(rng.uniform(0, height / 2)))
            cv2.circle(crown, centre, max(2, int(rng.uniform(5, 9) * scale)), 1, -1)
        mottle = 0.6 + 0.8 * smooth_noise(rng, size, max(4, size // 4))
        leaf = np.array([0.12, 0.35, 0.1]) + rng.uniform(-0.05, 0.05, 3)
        inside = crown.astype(bool)
        canvas[inside] = np.clip(mottle[..., None] * leaf, 0, 1)[inside]
        labels[inside] = MEADOW_KINDS.index("tree")

    count = int(size * rng.uniform(1.0, 2.0))                    # grass blades rooted below the horizon
    roots_x = rng.integers(0, size, count)
    roots_y = rng.uniform(horizon[roots_x] + 2, size + 2).astype(int)
    lengths, leans = size * rng.uniform(0.08, 0.22, count), rng.normal(0, 0.3, count)
    tips = np.stack([roots_x + lengths * np.sin(leans), roots_y - lengths * np.cos(leans)], 1).astype(int)
    colours = np.array([0.2, 0.6, 0.15]) * rng.uniform(0.6, 1.3, (count, 1)) + rng.uniform(-0.05, 0.05, (count, 3))
    width = max(1, round(scale))
    for x, y, tip, colour in zip(roots_x.tolist(), roots_y.tolist(), tips.tolist(), np.clip(colours, 0, 1).tolist()):
        cv2.line(canvas, (x, y), tip, colour, width)
        cv2.line(labels, (x, y), tip, MEADOW_KINDS.index("grass"), width)
    palette = np.array([[0.95, 0.2, 0.2], [1.0, 0.85, 0.1], [0.98, 0.98, 0.98], [0.7, 0.3, 0.9]])
    for index in rng.permutation(len(tips))[: int(rng.integers(3, 12))]:  # flowers on some blade tips
        radius = max(1, round(rng.uniform(1.0, 2.5) * scale))
        colour = tuple(float(c) for c in palette[rng.integers(len(palette))])
        cv2.circle(canvas, tuple(tips[index].tolist()), radius, colour, -1)
        cv2.circle(labels, tuple(tips[index].tolist()), radius, MEADOW_KINDS.index("flower"), -1)
    return np.clip(canvas, 0.0, 1.0), labels.astype(np.int64)
