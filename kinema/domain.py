"""Is a picture inside what a model was trained on? Measured against the training data, not guessed.

A picture (at the model's resolution and channels, ``(c h w)`` in [-1, 1]) is summarised by
``picture_statistics``: its colour (each channel's mean and standard deviation) and its texture
(the mean and spread of the grey gradient magnitude, and the mean absolute Laplacian). Over
``REFERENCE_PICTURES`` first frames of the training split their mean and covariance are measured;
a picture's distance to the training pictures is the Mahalanobis distance under them. The
threshold is the ``PERCENTILE``-th percentile of that distance over ``HELD_OUT_PICTURES`` first
frames of the test split (seeded apart from train), so about one in-domain picture in a hundred
is flagged, and a picture beyond it is one the training data rarely or never looks like.

The reference is computed once from the dataset a run's recipe names and kept as ``domain.json``
in the model folder (``reference_for``), so a model folder carries it when it is copied.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

VERSION = 1
DOMAIN_FILE = "domain.json"
REFERENCE_PICTURES = 256     # first frames of the training split the statistics are measured over
HELD_OUT_PICTURES = 128      # first frames of the test split the threshold is calibrated on
PERCENTILE = 99.0
STATISTIC_NAMES = ("mean", "std")   # per channel; then the texture statistics below
TEXTURE_NAMES = ("gradient mean", "gradient std", "laplacian mean")


def picture_statistics(pictures: torch.Tensor) -> np.ndarray:
    """(n c h w) in [-1, 1] -> (n 2c+3) float64: every channel's mean and standard deviation in
    [0, 1] units, then the grey picture's gradient magnitude (mean, std) and mean |Laplacian|."""
    x = (pictures.detach().double().cpu() + 1.0) / 2.0
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    grey = x.mean(1)                                                      # (n h w)
    dy = grey[:, 1:, :-1] - grey[:, :-1, :-1]                             # forward differences
    dx = grey[:, :-1, 1:] - grey[:, :-1, :-1]
    magnitude = torch.sqrt(dx * dx + dy * dy).reshape(n, -1)
    laplacian = (grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1] + grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:]
                 - 4.0 * grey[:, 1:-1, 1:-1]).reshape(n, -1)
    columns = [flat.mean(-1), flat.std(-1, unbiased=False), magnitude.mean(-1, keepdim=True),
               magnitude.std(-1, unbiased=False, keepdim=True), laplacian.abs().mean(-1, keepdim=True)]
    return torch.cat(columns, dim=1).numpy()


@dataclass
class DomainReference:
    """The training pictures' statistics (``mean``, ``covariance``) and the calibrated
    ``threshold`` on the Mahalanobis distance; ``source`` names the data they were measured on."""
    source: str
    size: tuple
    channels: int
    mean: list
    covariance: list
    threshold: float
    pictures: int
    held_out: int
    percentile: float = PERCENTILE
    version: int = VERSION

    def distance(self, statistics: np.ndarray) -> np.ndarray:
        """(n d) statistics -> (n,) Mahalanobis distances to the training pictures."""
        diff = np.atleast_2d(statistics) - np.asarray(self.mean)
        precision = np.linalg.inv(np.asarray(self.covariance))
        return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", diff, precision, diff), 0.0))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DomainReference":
        data = dict(data)
        data["size"] = tuple(data["size"])
        return cls(**data)


def regularised_covariance(statistics: np.ndarray) -> np.ndarray:
    """Covariance of (n d) statistics plus a ridge of 1e-3 of its mean variance: a statistic the
    training data never varies (a grey dataset's equal channel means) must not divide by zero."""
    covariance = np.cov(statistics, rowvar=False)
    ridge = 1e-3 * float(np.mean(np.diag(covariance))) + 1e-12
    return covariance + ridge * np.eye(covariance.shape[0])


def measure_reference(reference: torch.Tensor, held_out: torch.Tensor, source: str
                      ) -> DomainReference:
    """The reference of in-domain pictures ``reference`` (n c h w), its threshold calibrated at
    the ``PERCENTILE``-th percentile of the distances of ``held_out`` (m c h w), pictures the
    statistics were not measured on."""
    stats = picture_statistics(reference)
    found = DomainReference(source=source, size=tuple(reference.shape[-2:]),
                            channels=int(reference.shape[1]), mean=stats.mean(0).tolist(),
                            covariance=regularised_covariance(stats).tolist(), threshold=0.0,
                            pictures=len(reference), held_out=len(held_out))
    distances = found.distance(picture_statistics(held_out))
    found.threshold = float(np.percentile(distances, PERCENTILE))
    return found


def first_frames(dataset, count: int, size: tuple[int, int], channels: int,
                 offset: int = 0, step: int = 1) -> torch.Tensor:
    """Frame 0 of up to ``count`` items of ``dataset`` among ``offset``, ``offset + step``, ...,
    evenly spread over them (a folder's clips follow each other video by video), at ``size`` and
    ``channels``: (n c h w) in [-1, 1]."""
    candidates = range(offset, len(dataset), step)
    indices = [candidates[i * len(candidates) // count] for i in range(count)] \
        if len(candidates) > count else list(candidates)
    frames = torch.stack([dataset[i]["video"][0].float() for i in indices])   # (n c h w)
    if tuple(frames.shape[-2:]) != tuple(size):
        frames = F.interpolate(frames, size=tuple(size), mode="area")
    if frames.shape[1] != channels:
        frames = frames.mean(1, keepdim=True).expand(-1, channels, -1, -1)
    return frames


def measure_dataset(name: str, options: dict, size: tuple[int, int], channels: int
                    ) -> DomainReference:
    """The reference of dataset ``name`` (``kinema.data.load_dataset`` with ``options``): the
    train split's first frames against the test split's. A synthetic dataset is drawn with
    enough videos for both samples; a source whose test split is empty is split in two, even
    items for the statistics and odd ones held out."""
    from kinema.data import DATASETS, load_dataset
    from kinema.errors import KinemaError

    options = {k: v for k, v in options.items() if k != "num_videos"} if name in DATASETS else dict(options)
    train = load_dataset(name, "train", **({"num_videos": REFERENCE_PICTURES} if name in DATASETS else {}),
                         **options)
    try:
        test = load_dataset(name, "test", **({"num_videos": HELD_OUT_PICTURES} if name in DATASETS else {}),
                            **options)
    except KinemaError:
        test = None
    if test is not None and len(test) >= 2:
        reference = first_frames(train, REFERENCE_PICTURES, size, channels)
        held_out = first_frames(test, HELD_OUT_PICTURES, size, channels)
    else:
        reference = first_frames(train, REFERENCE_PICTURES, size, channels, 0, 2)
        held_out = first_frames(train, HELD_OUT_PICTURES, size, channels, 1, 2)
    if len(reference) < 3 or len(held_out) < 1:
        raise KinemaError(f"dataset {name} has too few videos ({len(train)}) to measure its domain")
    return measure_reference(reference, held_out, source=json.dumps([name, options], sort_keys=True))


_cache: dict[tuple, DomainReference] = {}


def reference_for(folder: Path, name: str, options: dict, size: tuple[int, int], channels: int
                  ) -> DomainReference:
    """The model folder's ``domain.json`` when it was measured on this data at this size and
    channels; otherwise measured now (``measure_dataset``) and written there (kept in memory
    when the folder is read-only)."""
    from kinema.data.io import write_atomic

    source = json.dumps([name, {k: v for k, v in options.items() if k != "num_videos"}
                         if _synthetic(name) else options], sort_keys=True)
    key = (str(Path(folder).resolve()), source, tuple(size), channels)
    if key in _cache:
        return _cache[key]
    file = Path(folder) / DOMAIN_FILE
    try:
        stored = DomainReference.from_dict(json.loads(file.read_text()))
        if (stored.source, stored.size, stored.channels, stored.version) == (
                source, tuple(size), channels, VERSION):
            _cache[key] = stored
            return stored
    except (OSError, ValueError, TypeError, KeyError):
        pass
    found = measure_dataset(name, options, tuple(size), channels)
    try:
        write_atomic(file, json.dumps(found.to_dict()))
    except OSError:
        pass
    _cache[key] = found
    return found


def _synthetic(name: str) -> bool:
    from kinema.data import DATASETS

    return name in DATASETS
