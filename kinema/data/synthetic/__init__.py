"""Procedural video datasets with exact ground truth, generated on the fly and deterministic by seed.

- ``BouncingDigits`` (``bouncing-digits``): handwritten digits bouncing elastically (Moving Symbols).
- ``Swaying`` (``swaying``): still images whose regions oscillate as damped harmonic modes.
- ``Clouds`` (``clouds``): a tileable noise texture drifting over a static ground.
- ``Actors`` (``actors``): one articulated sprite actor per video, moving through poses.

Every item is a dict with ``video`` (t c h w) float32 in [-1, 1] plus the ground truth that
each module's docstring lists. Item i of a split is generated from its own generator seeded
from (seed, split, dataset, i): the same on every access, and train and test never coincide.
"""
from kinema.data.synthetic.actors import Actors
from kinema.data.synthetic.clouds import Clouds
from kinema.data.synthetic.digits import BouncingDigits
from kinema.data.synthetic.swaying import Swaying

__all__ = ["Actors", "BouncingDigits", "Clouds", "Swaying"]
