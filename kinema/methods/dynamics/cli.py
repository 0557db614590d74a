"""Commands of Generative Image Dynamics: the handler of the shared verb ``kinema animate``
(``--method dynamics``) and the method's own ``kinema poke``.

Both write into a staging folder that ``kinema.apps.write_staged`` places at ``--out`` only on
success (a folder, or ``video.mp4`` with the other files beside it as ``video-<name>``): the
video(s), ``preview.gif`` and ``spectral-volume.png`` (the amplitude of every frequency above
the flow colours of its coefficients). Everything is checked before the first file is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kinema.default_models import model_for, model_help
from kinema.devices import device_option, resolve_device
from kinema.errors import KinemaError


def write_outputs(folder: Path, name: str, videos, volume, fps: float, picture=None) -> list[Path]:
    """videos (n t 3 h w), volume (k 4 h w) -> ``name.mp4`` (or ``name-00.mp4``, ... for several
    videos; they sort before the gif, so the first is the main video of a file ``--out``),
    ``preview.gif`` of the first and ``spectral-volume.png`` in ``folder``; with ``picture``
    (1 3 h w), also ``samples.png``: a row per video, the input picture first, then up to 12
    frames spread over the video."""
    from kinema.data.io import write_video
    from kinema.methods.dynamics.apps import spectral_volume_picture
    from kinema.outputs import numbered
    from kinema.viz.report import encode_png

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [numbered(name, i, len(videos)) for i in range(len(videos))]
    written = [write_video(folder / n, video, fps=fps) for n, video in zip(names, videos)]
    written.append(write_video(folder / "preview.gif", videos[0], fps=fps))
    spectral = folder / "spectral-volume.png"
    spectral.write_bytes(encode_png(spectral_volume_picture(volume), min_size=128))
    written.append(spectral)
    if picture is not None:
        import torch

        from kinema.viz.grid import filmstrip

        shown = torch.linspace(0, videos.shape[1] - 1, min(12, videos.shape[1])).round().long()
        rows = torch.cat([picture.to(videos).expand(len(videos), -1, -1, -1)[:, None],
                          videos[:, shown]], dim=1)
        strip = folder / "samples.png"
        strip.write_bytes(encode_png(filmstrip(rows), min_size=256))
        written.append(strip)
    return written


def animate(image: Path, model: Path, out: Path, options) -> list[Path]:
    """``kinema animate IMAGE --method dynamics --model RUN [--loop] [--slowmo F] [--magnify F]
    [--frames N] [--num N] [--seed S] --out video.mp4``: IMAGE animated by sampled spectral
    volumes (DPM-Solver++), one video per sample, a gif, and the first sample's spectral volume.
    With ``--from-video`` IMAGE is a clip animated by its own motion (``animate_from_video``)."""
    from kinema.methods.dynamics.apps import animate as animate_picture, load_sampler, prepare_picture

    if options.from_video:
        return animate_from_video(image, model, out, options)
    options.refuse(unsupported=("control",), method="dynamics")
    options = options.with_defaults(num=1, seed=0, slowmo=1.0, magnify=1.0, fps=25.0)
    device = options.device or "cpu"
    renderer = load_sampler(model).to(device)
    check_animation_work(renderer, options)
    picture = prepare_picture(image, renderer)
    videos, volumes = animate_picture(renderer, picture.to(device), num_frames=options.frames,
                                      num_samples=options.num, seed=options.seed,
                                      loop=bool(options.loop), slowmo=options.slowmo,
                                      magnify=options.magnify)
    return write_outputs(out, "animation", videos.cpu(), volumes[0].cpu(), options.fps,
                         picture=picture)


def animate_from_video(clip: Path, model: Path | None, out: Path, options) -> list[Path]:
    """``kinema animate CLIP --method dynamics --from-video [--loop] [--frames N | --slowmo F]
    [--magnify F] [--model RUN]``: the clip's first frame at full resolution, moved by the clip's
    own spectral volume (``clip.animate_clip``; with ``--loop`` exactly one period of it, so it
    closes at any length), rendered by plain softmax splatting or by ``model``'s renderer; writes
    ``animation.mp4``, the gif, the clip's spectral volume and ``samples.png``."""
    import torch

    from kinema.methods.dynamics.apps import load_sampler
    from kinema.methods.dynamics.clip import animate_clip, read_clip_checked, splatting_renderer
    from kinema.validate import check_frame_count, check_work

    refused = [f"--{name}" for name in ("control", "num", "seed") if getattr(options, name) is not None]
    if refused:
        raise KinemaError(f"kinema animate --from-video takes no {', '.join(refused)}: a clip's own motion "
                          f"makes one video, nothing is sampled")
    if options.loop and options.frames is not None and options.slowmo is not None:
        raise KinemaError("kinema animate --loop --from-video takes --frames or --slowmo, not both: the loop "
                          "is one period of the clip's motion, so either fixes the other")
    options = options.with_defaults(slowmo=1.0, magnify=1.0, fps=25.0)
    frames = read_clip_checked(clip, "kinema animate --from-video")
    period, height, width = frames.shape[:3]
    count = options.frames if options.frames is not None else max(1, int(round(period * options.slowmo)))
    check_frame_count("--frames" if options.frames is not None else
                      f"--slowmo {options.slowmo:g} (x the clip's {period} frames)", count)
    check_work("kinema animate --from-video", height, width, count)
    renderer = load_sampler(model) if model is not None else splatting_renderer(height, width)
    renderer.check_picture(torch.zeros(1, 3, height, width))     # its scales divide the frame size, before the flow
    made = animate_clip(frames, renderer.to(options.device or "cpu"), num_frames=count,
                        slowmo=options.slowmo, magnify=options.magnify, loop=bool(options.loop))
    return write_outputs(out, "animation", made.video[None], made.volume, options.fps, picture=made.picture)


def check_animation_work(renderer, options) -> int:
    """The frames ``animate`` makes (``--frames``, else one period x ``--slowmo``) within
    KINEMA_MAX_FRAMES, and their pixels x frames x videos within KINEMA_MAX_WORK, before any
    sampling; returns the frame count."""
    from kinema.validate import check_frame_count, check_work

    period = renderer.motion.period
    frames = options.frames if options.frames is not None else int(round(period * options.slowmo))
    check_frame_count("--frames" if options.frames is not None else
                      f"--slowmo {options.slowmo:g} (x the {period}-frame period)", frames)
    h, w = renderer.motion.image_size
    check_work("kinema animate", h, w, frames, options.num)
    return frames


# What ``kinema poke`` takes: far beyond any use, bounded so the simulation stays a bounded
# amount of work (its substeps grow as sqrt(stiffness): at most 100 keeps them under ~63 per
# frame, modal.MAX_SUBSTEPS) and its numbers finite.
MAX_FORCE = 1000.0               # px (the largest swing it gives), each component
DAMPING_RANGE = (0.0, 10.0)      # the damping ratio zeta (1: critical)
MAX_STIFFNESS = 100.0
MAX_MODES = 64


def check_poke_options(force, damping, stiffness, frames, modes, seed, fps) -> None:
    """Every number of ``kinema poke`` (one KinemaError naming the option) before any model is
    read; ``--at`` is checked against the model's picture size once it is known."""
    from kinema.apps import FPS_RANGE
    from kinema.validate import check_frame_count, check_number, check_seed

    for component in force:
        check_number("--force", component, -MAX_FORCE, MAX_FORCE, unit=" px")
    check_number("--damping", damping, *DAMPING_RANGE)
    check_number("--stiffness", stiffness, 0.0, MAX_STIFFNESS, above=True)
    check_frame_count("--frames", frames)
    check_number("--modes", modes, 1, MAX_MODES, integer=True)
    check_seed("--seed", seed)
    check_number("--fps", fps, *FPS_RANGE)


def parse_pair(text: str, name: str) -> tuple[float, float]:
    """'3,4' -> (3.0, 4.0), both finite; anything else is a KinemaError naming the option."""
    import math

    from kinema.validate import short_repr

    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        pair = float(parts[0]), float(parts[1])
        if not all(map(math.isfinite, pair)):
            raise ValueError
        return pair
    except ValueError:
        raise KinemaError(f"--{name} must be two finite numbers 'A,B' (e.g. --{name} 12,30); "
                          f"got {short_repr(text)}") from None


def poke(image: Path, model: Path | None, out: Path, at: tuple[float, float], force: tuple[float, float],
         damping: float = 0.03, stiffness: float = 1.0, frames: int | None = None, seed: int = 0,
         fps: float = 25.0, modes: int = 4, device: str = "cpu", from_video: bool = False) -> list[Path]:
    """Interactive dynamics (Eq. (6)): the picture's spectral volume as a modal basis, poked at
    ``at`` (x, y pixels of the picture as the model sees it) with an impulse ``force`` (dx, dy
    px: the most a poked pixel swings, ``modal.modal_basis``), simulated and rendered frame by frame.
    ``from_video``: ``image`` is a clip, poked at its first frame at full resolution with the
    clip's own spectral volume (``clip.py``); ``model`` (optional) then only renders."""
    import torch

    from kinema.methods.dynamics.apps import load_sampler, prepare_picture
    from kinema.methods.dynamics.modal import poke_frames
    from kinema.methods.dynamics.sampling import predict_spectral_volume

    from kinema.validate import check_work

    check_poke_options(force, damping, stiffness, frames, modes, seed, fps)
    if from_video:
        renderer, picture, volume, period = clip_poke_inputs(image, model, device)
        h, w = picture.shape[-2:]
    else:
        if model is None:
            raise KinemaError("kinema poke needs --model (a trained dynamics-render model), or --from-video "
                              "to poke a clip with its own motion")
        renderer = load_sampler(model).to(device)
        h, w = renderer.motion.image_size
        period = renderer.motion.period
    check_work("kinema poke", h, w, frames or 2 * period)
    if not (0 <= at[0] <= w - 1 and 0 <= at[1] <= h - 1):
        raise KinemaError(f"--at {at[0]:g},{at[1]:g} is outside the picture: x must be in 0..{w - 1} and "
                          f"y in 0..{h - 1} (pixels of the {w}x{h} picture the model sees)")
    if not from_video:
        picture = prepare_picture(image, renderer).to(device)
        with torch.no_grad():
            volume = predict_spectral_volume(renderer.motion, picture, seed=seed, sampler="dpm")[0, 0]
    stream = poke_frames(renderer, picture, volume, period, at, force, frames or 2 * period,
                         stiffness=stiffness, damping=damping, num_modes=modes)
    video = torch.stack([frame.cpu() for frame in stream])
    return write_outputs(out, "poke", video[None], volume.cpu(), fps)


def clip_poke_inputs(path: Path, model: Path | None, device: str):
    """(renderer, first frame (1 3 h w), the clip's spectral volume (k 4 h w), its period) of a
    clip: the trained renderer of ``model`` when given (its scales must divide the frame size),
    else plain softmax splatting."""
    from kinema.methods.dynamics.apps import load_sampler
    from kinema.methods.dynamics.clip import clip_motion, read_clip_checked, splatting_renderer

    picture, volume, period = clip_motion(read_clip_checked(path, "kinema poke --from-video"))
    renderer = load_sampler(model) if model is not None else splatting_renderer(*picture.shape[-2:])
    renderer.check_picture(picture)
    return renderer.to(device), picture.to(device), volume.to(device), period


def poke_to(out: Path, image: Path, model: Path | None, at, force, **options) -> list[Path]:
    """``poke`` written through a staging folder placed at ``out`` only when it succeeds."""
    from kinema.apps import write_staged

    return write_staged(out, lambda staging: poke(image, model, staging, at, force, **options))


def register(app: typer.Typer) -> None:
    """``kinema poke`` (``kinema animate`` is the shared verb of ``kinema.apps``)."""
    @app.command("poke")
    def poke_command(
        image: Path = typer.Argument(..., help="the picture to poke (png, jpg, ...), or with --from-video a clip"),
        model: Optional[Path] = typer.Option(None, help=model_help("poke", "a trained dynamics-render model "
                                             "(or its run folder)") + "; with --from-video it only renders "
                                             "(default there: plain splatting)"),
        from_video: bool = typer.Option(False, "--from-video", help="IMAGE is a video: poke its first frame "
                                        "at full resolution with the clip's own motion spectrum (DIS flow)"),
        at: str = typer.Option(..., help="X,Y: the poked pixel of the picture as the model sees it"),
        force: str = typer.Option(..., help="DX,DY: the impulse, in px: the most a poked pixel swings "
                                  "(where the picture moves most)"),
        damping: float = typer.Option(0.03, help="damping ratio zeta of every mode"),
        stiffness: float = typer.Option(1.0, help="scales the modes' spring constants (frequency^2)"),
        frames: Optional[int] = typer.Option(None, help="frames to simulate (default: two periods)"),
        modes: int = typer.Option(4, help="how many of the strongest frequencies form the modal basis"),
        seed: int = typer.Option(0, help="seed of the spectral volume"),
        fps: float = typer.Option(25.0, help="frame rate of the written videos"),
        out: Path = typer.Option(Path("poke"), help="output folder, or a file: .mp4, .gif or .png"),
        device: Optional[str] = device_option(),
    ) -> None:
        """Poke IMAGE and watch it respond: modal dynamics from its predicted spectral volume
        (default model: the bundled one)."""
        if model is not None or not from_video:     # a clip alone is poked by plain splatting
            model = model_for("poke", model)
        written = poke_to(out, image, model, parse_pair(at, "at"), parse_pair(force, "force"), damping=damping,
                          stiffness=stiffness, frames=frames, seed=seed, fps=fps, modes=modes,
                          device=str(resolve_device(device)), from_video=from_video)
        for path in written:
            typer.echo(path)
        if model is not None:   # a clip's first frame is not checked against the training pictures
            from kinema.provenance import caption_for

            typer.echo(f"about: {caption_for(model, None if from_video else image)}", err=True)
