"""What a pipeline needs to know about a model's input, and the conversion of a user's picture
into it (through ``kinema.data.pictures``, the one conversion every command uses)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kinema.errors import KinemaError


def model_input(model) -> dict:
    """The input a model reads: ``channels``, ``size`` (h, w), and where known ``num_frames``
    (its clip length) and ``context_frames``. A method states them with
    ``evaluation_defaults()`` or ``expected_input()``; else they come from its config's
    ``channels`` / ``image_size`` (or ``height``, ``width``) / ``num_frames`` /
    ``context_frames`` fields."""
    spec: dict = {}
    config = getattr(model, "config", None)
    for source in (config, getattr(model, "video_config", None)):
        if source is None:
            continue
        for name in ("channels", "num_frames", "context_frames"):
            if isinstance(getattr(source, name, None), int):
                spec.setdefault(name, getattr(source, name))
        size = getattr(source, "image_size", None)
        if size is None and isinstance(getattr(source, "height", None), int):
            size = (source.height, source.width)
        if size is not None:
            spec.setdefault("image_size", size)
    for stated in ("expected_input", "evaluation_defaults"):
        if hasattr(model, stated):
            spec.update({k: v for k, v in getattr(model, stated)().items() if v is not None})
    if "channels" not in spec or "image_size" not in spec:
        raise KinemaError(f"{type(model).__name__} does not say its input size and channels "
                          f"(an expected_input() method or config.channels/image_size)")
    size = spec.pop("image_size")
    spec["size"] = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    return spec


@dataclass(frozen=True)
class Fitted:
    """What was done to a picture: its size, the centred crop taken of it (top, left, height,
    width in its pixels) and the size it was resized to."""
    original_size: tuple[int, int]          # (h, w)
    crop: tuple[int, int, int, int]         # (top, left, h, w)
    size: tuple[int, int]                   # (h, w) the model reads
    channels: int

    def describe(self) -> str:
        (h, w), (top, left, ch, cw), (th, tw) = self.original_size, self.crop, self.size
        cropped = (f"centre crop {ch}x{cw} at (top {top}, left {left})" if (ch, cw) != (h, w)
                   else "no crop")
        grey = ", RGB averaged to grey" if self.channels == 1 else ""
        return f"{h}x{w} picture: {cropped}, area-resized to {th}x{tw}{grey}"


def centre_crop(h: int, w: int, th: int, tw: int) -> tuple[int, int, int, int]:
    """The crop ``kinema.data.folders.fit_frame`` takes: the centred box of aspect th:tw."""
    if h * tw > w * th:
        ch = max(1, round(w * th / tw))
        return (h - ch) // 2, 0, ch, w
    if h * tw < w * th:
        cw = max(1, round(h * tw / th))
        return 0, (w - cw) // 2, h, cw
    return 0, 0, h, w


def as_rgb8(image) -> np.ndarray:
    """A path, PIL image, (h w 3) / (h w) uint8 array or (c h w) tensor in [-1, 1] ->
    (h w 3) uint8."""
    if isinstance(image, (str, Path)):
        from kinema.data.io import read_image

        return read_image(image)
    if hasattr(image, "convert") and hasattr(image, "size"):          # a PIL image
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3) or not t.is_floating_point():
            raise KinemaError(f"an image tensor must be float (c h w) in [-1, 1] with 1 or 3 "
                              f"channels, got {t.dtype} {tuple(t.shape)}")
        t = ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).expand(3, -1, -1)
        return np.ascontiguousarray(t.permute(1, 2, 0).numpy())
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise KinemaError(f"an image array must be uint8 (h w 3) or (h w), got {array.dtype} "
                          f"{tuple(array.shape)}")
    if min(array.shape[:2]) < 4:
        raise KinemaError(f"the image is {array.shape[0]}x{array.shape[1]}; at least 4x4 is needed")
    return array


def picture_for(image, channels: int, size: tuple[int, int]) -> tuple[torch.Tensor, Fitted]:
    """(1 c H W) in [-1, 1] and what was done to the picture."""
    from kinema.data.pictures import frames_to_model

    rgb = as_rgb8(image)
    h, w = rgb.shape[:2]
    fitted = Fitted((h, w), centre_crop(h, w, *size), tuple(size), channels)
    return frames_to_model([rgb], channels, size), fitted


def frames_for(frames, channels: int, size: tuple[int, int]) -> tuple[torch.Tensor, Fitted]:
    """Context frames -> (1 k c H W): a video/frame-folder path, a list of pictures, a
    (k h w 3) uint8 array or a (k c h w) tensor (already at any size, in [-1, 1])."""
    from kinema.data.pictures import frames_to_model

    if isinstance(frames, (str, Path)):
        from kinema.data.io import read_video

        rgb = list(read_video(frames))
    elif isinstance(frames, torch.Tensor):
        t = frames[0] if frames.ndim == 5 and frames.shape[0] == 1 else frames
        if t.ndim != 4:
            raise KinemaError(f"context frames as a tensor must be (k c h w), got {tuple(frames.shape)}")
        rgb = [as_rgb8(f) for f in t]
    elif isinstance(frames, np.ndarray):
        rgb = [as_rgb8(f) for f in frames]
    else:
        rgb = [as_rgb8(f) for f in frames]
    if not rgb:
        raise KinemaError("no context frames were given")
    h, w = rgb[0].shape[:2]
    fitted = Fitted((h, w), centre_crop(h, w, *size), tuple(size), channels)
    return frames_to_model(rgb, channels, size)[None], fitted
