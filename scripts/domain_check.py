"""How well each bundled model's domain check (``kinema.domain``, its ``domain.json``) separates
pictures of its own training source from scikit-image's photographs:

    .venv/bin/python scripts/domain_check.py [--pictures 256] [--seed 1] [--out PAGE.md]

For every bundled model that holds a ``domain.json``: the share of in-domain pictures it flags
(the false-positive rate), over ``--pictures`` first frames of its training source's test split
and as many of its train split, both drawn with ``--seed`` (the reference was measured on seed
0: these are pictures neither its statistics nor its threshold saw), and, for each of
``PHOTOS``, the picture's distance as a multiple of the threshold (above 1: flagged). Prints a
markdown page (and writes it to ``--out``). A source whose frame 0 does not depend on the clip
length (checked on its first item) is drawn two frames long, which gives the same pictures
minutes sooner (``swaying`` at 150 frames).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "coins", "camera", "moon", "horse", "page",
          "text", "brick", "grass", "gravel", "retina", "hubble_deep_field",
          "immunohistochemistry", "colorwheel", "logo", "clock")


def photo(name: str) -> np.ndarray:
    """A scikit-image picture as (h w 3) uint8 (grey and boolean pictures spread to RGB)."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = (image / max(float(image.max()), 1e-12) * 255).round().astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def source_pictures(name: str, options: dict, split: str, count: int, seed: int,
                    size: tuple, channels: int) -> torch.Tensor:
    """First frames of ``count`` items of dataset ``name`` (seed ``seed``), as the reference
    was measured (``kinema.domain.first_frames``): (n c h w) in [-1, 1]."""
    from kinema.data import DATASETS, load_dataset
    from kinema.domain import first_frames

    options = dict(options, seed=seed, **({"num_videos": count} if name in DATASETS else {}))
    short = dict(options, num_frames=2)
    if name in DATASETS and options.get("num_frames", 2) > 2 and torch.equal(
            load_dataset(name, split, **dict(short, num_videos=1))[0]["video"][0],
            load_dataset(name, split, **dict(options, num_videos=1))[0]["video"][0]):
        options = short
    return first_frames(load_dataset(name, split, **options), count, size, channels)


def check(folder: Path, count: int, seed: int) -> dict:
    from kinema.data.pictures import frames_to_model
    from kinema.domain import DOMAIN_FILE, DomainReference, picture_statistics

    reference = DomainReference.from_dict(json.loads((folder / DOMAIN_FILE).read_text()))
    name, options = json.loads(reference.source)
    row = {"model": folder.name, "source": name, "size": reference.size,
           "channels": reference.channels, "statistics": len(reference.names),
           "threshold": reference.threshold}
    for split in ("test", "train"):
        pictures = source_pictures(name, options, split, count, seed, reference.size, reference.channels)
        distances = reference.distance(picture_statistics(pictures))
        row[f"flagged_{split}"] = (int((distances > reference.threshold).sum()), len(distances))
    started = time.perf_counter()
    ratios = {}
    for picture in PHOTOS:
        x = frames_to_model([photo(picture)], reference.channels, reference.size)
        ratios[picture] = float(reference.distance(picture_statistics(x))[0]) / reference.threshold
    row["ms_per_photo"] = (time.perf_counter() - started) / len(PHOTOS) * 1000
    row["photo_ratio"] = ratios
    return row


def page(rows: list[dict], count: int, seed: int) -> str:
    lines = [f"# The bundled models' domain check\n",
             f"Made by `.venv/bin/python scripts/domain_check.py --pictures {count} --seed {seed}`. "
             f"In-domain pictures: first frames of {count} items of each split of the model's "
             f"training source, seed {seed} (the reference saw seed 0). A photo's number is its "
             f"distance over the threshold: above 1 it is flagged.\n",
             "| model | source | size | statistics | threshold | flagged, test split | "
             "flagged, train split | photos flagged |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        flagged = [p for p, v in r["photo_ratio"].items() if v > 1]
        rates = [f"{r[k][0]}/{r[k][1]} ({100 * r[k][0] / r[k][1]:.1f} %)" for k in ("flagged_test", "flagged_train")]
        lines.append(f"| {r['model']} | {r['source']} | {r['size'][0]}x{r['size'][1]}x{r['channels']} | "
                     f"{r['statistics']} | {r['threshold']:.2f} | {rates[0]} | {rates[1]} | "
                     f"{len(flagged)} of {len(PHOTOS)} |")
    lines += ["", "Distance over threshold of each photo:", "",
              "| photo | " + " | ".join(r["model"] for r in rows) + " |",
              "|---|" + "---|" * len(rows)]
    for picture in PHOTOS:
        lines.append(f"| {picture} | " + " | ".join(f"{r['photo_ratio'][picture]:.2f}" for r in rows) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from kinema.bundled import BUNDLED, root
    from kinema.domain import DOMAIN_FILE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for bundled in BUNDLED:
        folder = root() / bundled.name
        if (folder / DOMAIN_FILE).is_file():
            rows.append(check(folder, args.pictures, args.seed))
            print(f"{bundled.name}: done", file=sys.stderr, flush=True)
    text = page(rows, args.pictures, args.seed)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
