"""The cINN's command line: the handler of the shared ``kinema animate`` verb and its own
``kinema transfer SOURCE_VIDEO IMAGE --model RUN``, for a trained cINN (the saved model of a
``cinn-flow`` run)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kinema.default_models import model_for, model_help
from kinema.devices import device_option, resolve_device
from kinema.errors import KinemaError


def _load(model_dir: Path, device: str = "cpu"):
    """The cINN flow (the image-to-video sampler) in a model or run folder; a folder that
    holds another model is named with what it holds."""
    from kinema.methods.cinn.model import CINN
    from kinema.pretrained import load_pretrained, read_model_class, model_folder

    folder = model_folder(model_dir)             # a model folder, or a run folder's model/
    model = load_pretrained(folder)
    if not isinstance(model, CINN):
        raise KinemaError(f"{folder} holds a {read_model_class(folder)} model, not a cINN flow "
                          f"(the cinn-flow stage, `kinema train cinn-flow`)")
    return model.eval().to(device)


def write_filmstrip(path: Path, videos) -> Path:
    """One picture of several videos (n t c h w): a row per video, a column per frame, 2-px
    white gaps, upscaled (nearest) so a 32-px model's frames are visible."""
    from kinema.viz.grid import filmstrip
    from kinema.viz.report import encode_png

    path.write_bytes(encode_png(filmstrip(videos), min_size=256))
    return path


def animate(image: Path, model: Path, out: Path, options) -> list[Path]:
    """``kinema animate IMAGE --model RUN`` for a cINN (the handler of the shared verb, see
    ``kinema.apps``): NUM different videos (mp4) that start at IMAGE, and samples.png (a row
    per video, the input picture in its first column). Frames default to the model's clip length; longer videos are chained."""
    import torch

    from kinema.data.io import write_video
    from kinema.methods.cinn.apps import animate as animate_videos, prepare_image
    from kinema.outputs import numbered
    from kinema.validate import check_work

    options.refuse(unsupported=("loop", "slowmo", "magnify", "from_video"), method="cinn")
    options = options.with_defaults(num=4, seed=0, fps=8.0)
    net = _load(model, options.device or "cpu")
    control = options.control
    if control is not None and not net.config.control_bins:
        raise KinemaError(f"{model} was trained without a control eta: --control cannot be used")
    if control is None and net.config.control_bins:
        raise KinemaError(f"{model} takes a control eta: pass --control 0..{net.config.control_bins - 1}")
    cfg = net.video_config
    check_work("kinema animate", cfg.image_size, cfg.image_size, options.frames or cfg.num_frames, options.num)
    x0 = prepare_image(image, cfg.channels, cfg.image_size)
    videos = animate_videos(net, x0.to(options.device or "cpu"), options.frames or cfg.num_frames,
                            options.num, control=None if control is None else [control],
                            seed=options.seed)[0].cpu()
    out.mkdir(parents=True, exist_ok=True)
    written = [write_video(out / numbered("animation", i, len(videos)), video, fps=options.fps)
               for i, video in enumerate(videos)]
    # samples.png: each row starts with the input picture, then the video's frames
    beside = torch.cat([x0.expand(videos.shape[0], -1, -1, -1)[:, None].to(videos), videos], 1)
    return written + [write_filmstrip(out / "samples.png", beside)]


MOTION_SIZE = 32     # frames eta is read from are at least this size


def trained_data(model_dir: Path, bins: int) -> tuple[str | None, dict]:
    """The dataset (name, options) the flow was trained on: the run folder's recipe.json;
    without one, the data whose eta has ``bins`` bins (36: clouds' directions)."""
    import json

    from kinema.pretrained import model_folder

    folder = model_folder(model_dir)
    for recipe in (folder / "recipe.json", folder.parent / "recipe.json"):
        try:
            data = json.loads(recipe.read_text())["data"]
            return str(data["name"]), dict(data.get("options") or {})
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return ("clouds" if bins == 36 else None), {}


def register(app: typer.Typer) -> None:
    """The cINN's own command (``kinema animate`` is the shared verb of ``kinema.apps``)."""
    @app.command("transfer")
    def transfer_command(
        source_video: Path = typer.Argument(..., help="video whose motion is transferred"),
        image: Path = typer.Argument(..., help="new start frame"),
        model: Optional[Path] = typer.Option(None, help=model_help("transfer", "a trained cinn-flow model "
                                                                     "(or its run folder)")),
        control: Optional[int] = typer.Option(None, help="eta of the source (models with "
                                              "control; default: read from the source's motion "
                                              "where the training data defines eta, else 0)"),
        out: Path = typer.Option(Path("transfer"), help="output folder, or a file (.mp4, .gif, "
                                                         ".png) for the transferred video"),
        device: Optional[str] = device_option(),
    ) -> None:
        """Motion transfer: animate IMAGE with the residual nu of SOURCE_VIDEO; writes
        transfer.mp4, source.mp4, side_by_side.mp4 (source | transfer) and transfer.png
        (source frames above the transferred ones), all at once or not at all. A model with
        a control eta reads the source's eta from its motion when --control is not given
        (clouds: drift direction; bouncing-digits: the digit's final cell; else 0) and says
        which it used.

        Example: kinema transfer source.mp4 photo.png --out transfer/ (the
        bundled cinn-control model; --model runs/cinn-flow-small-clouds-control:
        a model of one's own)"""
        import torch

        from kinema.data.io import write_video
        from kinema.methods.cinn.apps import prepare_image, prepare_video, transfer_motion
        from kinema.outputs import check_target, write_staged

        check_target(out)
        from kinema.apps import MAX_CONTROL
        from kinema.validate import check_number

        check_number("--control", control, 0, MAX_CONTROL, integer=True)
        model = model_for("transfer", model)
        where = resolve_device(device)
        net = _load(model, where)
        cfg = net.video_config
        source = prepare_video(source_video, cfg.channels, cfg.image_size, cfg.num_frames)
        if control is None and net.config.control_bins:
            from kinema.methods.cinn.apps import infer_control

            data, options = trained_data(model, net.config.control_bins)
            # read at >= 32 px: optical flow needs frames of 12 px or more
            seen = (source if cfg.image_size >= MOTION_SIZE else
                    prepare_video(source_video, cfg.channels, MOTION_SIZE, cfg.num_frames))
            options = {k: v for k, v in options.items() if k != "digit_size"} \
                if seen is not source else options
            control, how = infer_control(seen, data, net.config.control_bins, options)
            typer.echo(f"eta = {control} ({how})", err=True)
        elif control is not None and (not net.config.control_bins
                                      or control >= net.config.control_bins):
            raise KinemaError(f"--control must be in 0..{net.config.control_bins - 1}, got {control}"
                              if net.config.control_bins else
                              f"{model} was trained without a control eta: --control cannot be used")
        x0 = prepare_image(image, cfg.channels, cfg.image_size)
        video = transfer_motion(net, source.to(where), x0.to(where),
                                None if control is None else [control]).cpu()

        def write(folder: Path) -> None:
            write_video(folder / "transfer.mp4", video[0])
            write_video(folder / "source.mp4", source[0])
            gap = torch.ones(*video.shape[1:-1], 2)        # a white 2-px column between them
            write_video(folder / "side_by_side.mp4", torch.cat([source[0], gap, video[0]], dim=-1))
            write_filmstrip(folder / "transfer.png", torch.stack([source[0], video[0]]))

        for path in write_staged(out, write):
            typer.echo(path)
        from kinema.provenance import caption_for

        typer.echo(f"about: {caption_for(model, image)}", err=True)
