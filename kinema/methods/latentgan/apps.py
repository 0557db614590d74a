"""StyleVideoGAN's applications on a trained ``StyleVideoGAN`` (a latentgan-temporal run):

- ``sample_videos``: long videos of the training actor, or with the offset trick (Sec. 3) of a
  random new actor (z through the image generator, embedded by the encoder) or of the actor in
  a user's picture;
- ``sample``: the handler of the shared ``kinema sample RUN --frames 250 [--identity
  random|IMAGE] [--seed S] --out DIR`` verb (``kinema.apps``): an mp4 and a gif per video, a
  frame strip, the first PCA components of the latent trajectory over time (how looping shows:
  the same curve over and over) and the looping detector's verdict per video.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from kinema.data.io import write_atomic
from kinema.errors import KinemaError
from kinema.validate import short_repr

SHOWN_COMPONENTS = 3
STRIP_COLUMNS = 10


def load_model(path: Path):
    from kinema.methods.latentgan.model import StyleVideoGAN
    from kinema.pretrained import model_folder, read_model_class

    folder = model_folder(Path(path))
    found = read_model_class(folder)
    expected = f"{StyleVideoGAN.__module__}:{StyleVideoGAN.__qualname__}"
    if found != expected:
        raise KinemaError(f"{folder} holds a {found} model, not a trained latentgan-temporal "
                          f"model ({expected})")
    return StyleVideoGAN.from_pretrained(folder).eval()


@torch.no_grad()
def sample_videos(model, num: int, frames: int, seed: int = 0,
                  identity: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(videos (b t c h w), ws (b t num_ws w_dim)): ``identity`` None = the training actor,
    "random" = random new actors, else the path of a picture of the actor to animate."""
    generator = torch.Generator().manual_seed(seed)
    ws, _ = model.trajectory(num, frames, generator)
    if identity == "random":
        ws = model.transfer(ws, model.random_identity(num, generator))
    elif identity is not None:
        from kinema.data.pictures import picture_to_model

        picture = Path(identity)
        if not picture.is_file():
            raise KinemaError(f"--identity {short_repr(identity)}: expected 'random' or a picture file")
        image = picture_to_model(picture, model.image.channels, model.image.resolution)
        w_new = model.identity_of(image.to(ws.device)).expand(num, -1, -1)
        ws = model.transfer(ws, w_new)
    return model.render(ws), ws


def trajectory_plot(model, ws: torch.Tensor, title: str = "") -> str:
    """SVG of the first PCA coordinates of one trajectory ws (t num_ws w_dim) over time."""
    from kinema.viz.plots import line_plot_svg

    coordinates = model.basis.coordinates(ws)                      # (t k)
    k = min(SHOWN_COMPONENTS, model.basis.rank)
    series = {f"PC {j + 1}": coordinates[:, j].tolist() for j in range(k)}
    return line_plot_svg(series, x=list(range(ws.shape[0])), x_label="frame",
                         y_label="PCA coordinate of w", title=title)


def loop_summary(model, ws: torch.Tensor) -> dict:
    """The looping detector (kinema.methods.latentgan.looping) on one trajectory, with how far
    a training video moves as sigma (``model.motion_spread``); {} when it is too short to test."""
    from dataclasses import asdict

    from kinema.methods.latentgan.looping import detect_loop
    from kinema.methods.latentgan.model import motion_spread

    sigma = motion_spread(model)
    try:
        report = detect_loop(model.basis.coordinates(ws), sigma=sigma)
    except KinemaError:
        return {}
    summary = asdict(report)
    summary.pop("lags"), summary.pop("coverages")
    return summary


def strip_frames(video: torch.Tensor, columns: int = STRIP_COLUMNS) -> torch.Tensor:
    """Every (t // columns)-th frame of video (t c h w), at most ``columns`` of them."""
    step = max(1, video.shape[0] // columns)
    return video[::step][:columns]


def sample(model: Path, out: Path, options) -> list[Path]:
    """``kinema sample RUN`` for StyleVideoGAN (see the module docstring)."""
    from kinema.data.io import write_video
    from kinema.viz.grid import filmstrip
    from kinema.outputs import numbered
    from kinema.validate import check_work
    from kinema.viz.report import encode_png

    options = options.with_defaults(num=1, frames=250, seed=0, fps=10.0)
    net = load_model(model).to(options.device or "cpu")
    check_work("kinema sample", net.image.resolution, net.image.resolution, options.frames, options.num)
    videos, ws = sample_videos(net, options.num, options.frames, options.seed, options.identity)
    videos = videos.cpu()
    plot = trajectory_plot(net, ws[0], title=f"latent trajectory, seed {options.seed}")
    strip = encode_png(filmstrip(torch.stack([strip_frames(v) for v in videos])), min_size=256)
    loops = [loop_summary(net, w) for w in ws]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, video in enumerate(videos):
        written.append(write_video(out / numbered("sample", index, len(videos)), video, fps=options.fps))
        written.append(write_video(out / numbered("sample", index, len(videos), ".gif"), video,
                                   fps=options.fps))
    written.append(write_atomic(out / "frames.png", strip))
    written.append(write_atomic(out / "trajectory.svg", plot.encode()))
    record = {"model": str(model), "num": options.num, "frames": options.frames,
              "seed": options.seed, "identity": options.identity or "training actor",
              "looping": loops}
    written.append(write_atomic(out / "sample.json", json.dumps(record, indent=2).encode()))
    return written
