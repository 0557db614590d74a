"""GenDeF's commands: the handler of the shared ``kinema sample`` verb, and the method's own
``kinema edit`` (propagate an edited canonical image) and ``kinema track`` (points chosen on the
canonical image, tracked through the video).

Video i of ``kinema sample RUN --seed S`` is the video of seed S + i; ``kinema edit`` and
``kinema track`` with ``--seed S + i`` work on that same video (its canonical image is
``canonical-i.png`` in the sample folder, at the model's resolution, ready to be edited).
Every command writes into a temporary folder beside OUT and moves the files into OUT at the
end, so a failed command leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import typer

from kinema.default_models import model_for, model_help
from kinema.devices import device_option, resolve_device
from kinema.errors import KinemaError
from kinema.outputs import numbered
from kinema.provenance import caption_for

DEFAULT_FRAMES = 128


def load_video_model(run: Path, device: str = "cpu"):
    """The trained ``gendef-video`` model in RUN (a model folder or its run folder), in eval mode,
    on ``device``."""
    from kinema.pretrained import load_pretrained, model_folder, read_model_class

    folder = model_folder(Path(run))
    target = read_model_class(folder)
    if target != "kinema.methods.gendef.model:GenDeF":
        raise KinemaError(f"{folder} holds a {target} model, not a trained gendef-video model "
                          f"(`kinema train gendef-video --preset small`)")
    return load_pretrained(folder).eval().to(device)


@contextlib.contextmanager
def staged_output(out: Path):
    """A temporary folder beside ``out`` whose files are moved into ``out`` on success, all or
    nothing: every destination is checked before the first is replaced
    (``kinema.outputs.check_destinations``)."""
    from kinema.outputs import check_destinations, check_target

    out = Path(out)
    check_target(out)
    if out.suffix.lower() in (".mp4", ".gif", ".png"):
        raise KinemaError(f"--out {out}: this command writes several files: name a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    written: list[Path] = []
    try:
        yield staging, written
        check_destinations(out, [out / path.name for path in written])
        out.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(written):
            target = out / path.name
            os.replace(path, target)
            written[i] = target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_png(path: Path, image, min_size: int = 0) -> Path:
    from kinema.viz.report import encode_png

    path.write_bytes(encode_png(image, min_size=min_size))
    return path


def field_strip(model, fields, columns: int = 8):
    """Flow-colour pictures of ``columns`` evenly spaced frames' fields (n 2 h w), one shared
    scale, side by side with 2-px white gaps: (h W 3) uint8."""
    import numpy as np

    from kinema.viz.flow_colors import flow_to_color

    pixels = model.to_pixels(fields).cpu()
    picks = np.linspace(0, len(pixels) - 1, min(columns, len(pixels))).round().astype(int)
    largest = float(pixels[picks].norm(dim=1).max())
    tiles = [flow_to_color(pixels[i], max_magnitude=max(largest, 1e-6)) for i in picks]
    gap = np.full((tiles[0].shape[0], 2, 3), 255, dtype=np.uint8)
    return np.concatenate([x for tile in tiles for x in (tile, gap)][:-1], axis=1)


def sample(model: Path, out: Path, options) -> list[Path]:
    """``kinema sample RUN`` for GenDeF: NUM videos (mp4 and gif) of FRAMES frames, each with
    its canonical image (canonical-i.png, model resolution) and its deformation fields
    (fields-i.png, flow colours of 8 frames), and samples.png (a row per video)."""
    from kinema.data.io import write_video
    from kinema.viz.grid import filmstrip

    from kinema.validate import check_work

    from .apps import render_seed

    if options.identity not in (None, "random"):
        raise KinemaError("gendef draws its canonical images from G_c: --identity must be 'random' "
                          "(edit a sampled canonical image with `kinema edit` instead)")
    options = options.with_defaults(num=8, frames=DEFAULT_FRAMES, seed=0, fps=8.0)
    net = load_video_model(model, options.device or "cpu")
    size = net.image_config.image_size
    check_work("kinema sample", size, size, options.frames, options.num)
    with staged_output(out) as (tmp, written):
        videos = []
        for i in range(options.num):
            result = render_seed(net, options.seed + i, options.frames)
            video = result["frames"][0]
            videos.append(video)
            n = options.num
            written.append(write_video(tmp / numbered("sample", i, n), video, fps=options.fps))
            written.append(write_video(tmp / numbered("sample", i, n, ".gif"), video, fps=options.fps))
            if not net.frames_mode:
                written.append(write_png(tmp / numbered("canonical", i, n, ".png"), result["canonical"][0]))
                written.append(write_png(tmp / numbered("fields", i, n, ".png"), field_strip(net, result["fields"][0]),
                                         min_size=128))
        import torch

        picks = torch.linspace(0, options.frames - 1, min(options.frames, 8)).round().long()
        written.append(write_png(tmp / "samples.png", filmstrip(torch.stack(videos)[:, picks]), min_size=256))
    return written


def edit(run: Path, seed: int, canonical_edit: Path, out: Path, frames: int = DEFAULT_FRAMES,
         fps: float = 8.0, device: str = "cpu") -> list[Path]:
    """The video of SEED with its canonical image replaced by CANONICAL_EDIT (any picture,
    centre-cropped and resized to the model's resolution): edited.mp4, original.mp4,
    side_by_side.mp4 (original | edited) and edit.png (canonical, edited canonical, frames)."""
    import torch

    from kinema.data.io import write_video
    from kinema.data.pictures import picture_to_model
    from kinema.viz.grid import filmstrip

    from kinema.validate import check_work

    from .apps import propagate, render_seed

    net = load_video_model(run, device)
    if net.frames_mode:
        raise KinemaError(f"{run} is the frames baseline (no canonical image to edit)")
    cfg = net.image_config
    check_work("kinema edit", cfg.image_size, 2 * cfg.image_size, frames)    # side by side
    edited = picture_to_model(canonical_edit, cfg.channels, cfg.image_size).to(device)  # (1 c h w)
    result = render_seed(net, seed, frames)
    video = propagate(net, edited, result["fields"])[0]
    original = result["frames"][0]
    with staged_output(out) as (tmp, written):
        written.append(write_video(tmp / "edited.mp4", video, fps=fps))
        written.append(write_video(tmp / "original.mp4", original, fps=fps))
        written.append(write_video(tmp / "side_by_side.mp4", torch.cat([original, video], dim=-1), fps=fps))
        picks = torch.linspace(0, frames - 1, min(frames, 6)).round().long()
        rows = torch.stack([torch.cat([result["canonical"], original[picks]]),
                            torch.cat([edited, video[picks]])])                     # (2 1+k c h w)
        written.append(write_png(tmp / "edit.png", filmstrip(rows), min_size=256))
    return written


def track(run: Path, seed: int, points: str, out: Path, frames: int = DEFAULT_FRAMES, fps: float = 8.0,
          device: str = "cpu") -> list[Path]:
    """Points "x,y;x,y" on the canonical image of SEED, tracked through its video: tracks.mp4
    (the video with the tracks drawn), tracks.json (per frame, per point, x and y in pixels)
    and tracks.png (the canonical image with the points, and frames)."""
    from kinema.data.io import write_video

    from kinema.validate import check_work

    from .apps import draw_tracks, parse_points, render_seed, track_points

    net = load_video_model(run, device)
    if net.frames_mode:
        raise KinemaError(f"{run} is the frames baseline (no deformation field to track through)")
    size = net.image_config.image_size
    check_work("kinema track", size, size, frames)
    chosen = parse_points(points, size, size)
    result = {k: getattr(v, "cpu", lambda: v)() for k, v in render_seed(net, seed, frames).items()}
    tracks = track_points(net.to_pixels(result["fields"][0]), chosen)                # (n p 2)
    drawn = draw_tracks(result["frames"][0], tracks)
    record = {"seed": seed, "frames": frames, "image_size": size, "points": chosen.tolist(),
              "tracks": [[[round(v, 3) for v in point] for point in frame] for frame in tracks.tolist()],
              "convention": "pixel (x, y) with pixel centres at integers; tracks[t][i] is point i in frame t"}
    with staged_output(out) as (tmp, written):
        written.append(write_video(tmp / "tracks.mp4", drawn, fps=fps))
        (tmp / "tracks.json").write_text(json.dumps(record, indent=1))
        written.append(tmp / "tracks.json")
        canonical = draw_tracks(result["canonical"], chosen[None], trail=0)[0]
        import numpy as np

        picks = np.linspace(0, frames - 1, min(frames, 6)).round().astype(int)
        gap = np.full((canonical.shape[0], 4, 3), 255, dtype=np.uint8)
        strip = np.concatenate([x for image in [canonical, *drawn[picks]] for x in (image, gap)][:-1], axis=1)
        written.append(write_png(tmp / "tracks.png", strip))
    return written


def register(app: typer.Typer) -> None:
    """GenDeF's own commands (``kinema sample`` is the shared verb of ``kinema.apps``)."""

    @app.command("edit")
    def edit_command(
        run: Optional[Path] = typer.Argument(None, show_default=False, help=model_help(
            "edit", "a trained gendef-video model (or its run folder)")),
        seed: int = typer.Option(0, help="the video (video i of `kinema sample --seed S` is seed S+i)"),
        canonical_edit: Path = typer.Option(..., help="the edited canonical image (e.g. canonical-00.png "
                                                      "of `kinema sample`, painted over)"),
        frames: int = typer.Option(DEFAULT_FRAMES, help="frames of the video"),
        fps: float = typer.Option(8.0, help="frame rate of the written videos"),
        out: Path = typer.Option(Path("edit"), help="output folder"),
        device: Optional[str] = device_option(),
    ) -> None:
        """Propagate an edit of a GenDeF video's canonical image to the whole video (default model:
        the bundled one)."""
        check_numbers(seed=seed, frames=frames, fps=fps)
        run = model_for("edit", run)
        for path in edit(run, seed, canonical_edit, out, frames, fps, str(resolve_device(device))):
            typer.echo(path)
        typer.echo(f"about: {caption_for(run)}", err=True)

    @app.command("track")
    def track_command(
        run: Optional[Path] = typer.Argument(None, show_default=False, help=model_help(
            "track", "a trained gendef-video model (or its run folder)")),
        seed: int = typer.Option(0, help="the video (video i of `kinema sample --seed S` is seed S+i)"),
        points: str = typer.Option(..., help="points on the canonical image, 'x,y;x,y' in pixels"),
        frames: int = typer.Option(DEFAULT_FRAMES, help="frames of the video"),
        fps: float = typer.Option(8.0, help="frame rate of the written video"),
        out: Path = typer.Option(Path("tracks"), help="output folder"),
        device: Optional[str] = device_option(),
    ) -> None:
        """Track points chosen on a GenDeF video's canonical image through its deformation fields
        (default model: the bundled one)."""
        check_numbers(seed=seed, frames=frames, fps=fps)
        run = model_for("track", run)
        for path in track(run, seed, points, out, frames, fps, str(resolve_device(device))):
            typer.echo(path)
        typer.echo(f"about: {caption_for(run)}", err=True)


def check_numbers(seed: int, frames: int, fps: float) -> None:
    """``kinema edit`` / ``kinema track``'s numbers, as the shared verbs check theirs: the seed
    in torch's range, frames within KINEMA_MAX_FRAMES, a finite bounded frame rate."""
    from kinema.apps import FPS_RANGE
    from kinema.validate import check_frame_count, check_number, check_seed

    check_seed("--seed", seed)
    check_frame_count("--frames", frames)
    check_number("--fps", fps, *FPS_RANGE)
