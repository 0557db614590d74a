"""The best a motion model can do on ``swaying``: an oracle that knows the law of the data.

A ``swaying`` picture decides how each region moves (brightness -> frequency, texture ->
amplitude, the region masks -> where; ``kinema.data.synthetic.swaying``) but not the phases nor
the directions, which the data draws at random. The oracle reads the held-out item's region
masks, brightness and texture and draws the rest as the data does, with its own random
generator: a perfect model of the distribution, scored by the same measures as the trained
models (``bench_oracle``). Where it does not beat standing still (repeat-I0), the measure or
the data cannot show that a model learned the motion.
"""
from __future__ import annotations

import numpy as np
import torch

from kinema.errors import KinemaError


def oracle_volumes(source, item: dict, num_samples: int, seed: int = 0) -> torch.Tensor:
    """Spectral volumes (n k 4 h w) of ``num_samples`` motions of ``item``'s picture drawn by the
    law of ``source`` (the ``Swaying`` dataset the item came from, or one with the same options):
    the item's regions, brightness and texture, fresh phases and directions (sample i: generator
    (seed, i)). K is the source's ``num_frequencies``."""
    from kinema.data.spectral import spectral_volume

    missing = [key for key in ("region_labels", "region_brightness", "region_texture") if key not in item]
    if missing:
        raise KinemaError(f"the oracle reads a swaying item's {', '.join(missing)}; this item has "
                          f"{', '.join(sorted(item))}")
    labels = item["region_labels"].numpy()
    brightness = item["region_brightness"].double().numpy()
    texture = item["region_texture"].double().numpy()
    volumes = []
    for i in range(num_samples):
        motion = source.motion(np.random.default_rng([int(seed), i]), labels, brightness, texture)
        volumes.append(spectral_volume(motion["trajectories"], source.num_frequencies))
    return torch.stack(volumes)
