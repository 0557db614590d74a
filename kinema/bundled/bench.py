"""``kinema bench bundled-models``: does each bundled model make the motion of its training data,
and more of it than doing nothing?

For every bundled model present (``kinema.bundled.names()``), on ``CLIPS`` held-out clips
(``CLIPS_OF`` for a costly sampler) of the data it was trained on (the test split of the
recipe's source, ``kinema.provenance``):

- ``motion_fd`` (``kinema.metrics.flow_statistics``): the Fréchet distance between the flow
  statistics of the model's videos and those of the real clips, for each of ``SEEDS``
  sampling seeds (reported as mean ± sample standard deviation over the seeds);
- the same distance for the model's trivial baseline on the same clips: image-to-video
  "repeat the input frame" (the picture held still), prediction "repeat the last context
  frame", generation "a real frame repeated" (each held-out clip's frame 0 held still). A
  baseline draws nothing at random, so it is measured once (its spread over seeds is 0);
- the mean flow speed of the model's videos over that of the real clips (``speed_mean``: 1 is
  as fast as the data; towards 0 the motion dies out).

Image-to-video models start from frame 0 of each clip (a controlled model is given the clip's
own control, its recorded direction) and make as many frames as the clip; prediction models
see the clip's first frames and are compared on the rest. Writes ``OUT/bundled-models.md`` +
``.json``, a strip of samples per model (``OUT/bundled/NAME.png``, frames upscaled at least
``UPSCALE`` times) and a looping gif of the dynamics model, then writes each model's numbers
from the same record into its card (``card.json``, ``card.md``: ``kinema.bundled.export``).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kinema.errors import KinemaError

CLIPS = 32                 # held-out clips per model, except:
# the dynamics model samples a spectral volume per video (20 DPM-Solver++ steps with CFG over 16
# frequency slices): ~13 s a video at 64 px on one thread of this shared 2-core machine while it
# trains (timed 2026-12-07), so 3 seeds x 32 clips would take ~20 min; 16 clips keep it under ~10
CLIPS_OF = {"dynamics": 16}
SEEDS = (0, 1, 2)          # sampling seeds
BATCH = 8                  # clips per model call
UPSCALE = 4                # the sample strips' nearest-neighbour factor, at least
STRIP_VIDEOS = 4
STRIP_FRAMES = 8           # columns of a strip: evenly spaced frames of each video
GIF_NAME = "dynamics"      # the bundled model shown as a looping gif
GIF_UPSCALE = 4
GIF_FRAME_STEP = 2         # every other frame: a 150-frame period in ~1 MB of gif
GIF_FPS = 12
SPEED = "speed_mean"
MIN_COMPARED = 3            # frames: flow_features needs two consecutive flows
BASELINES = {"ImageToVideo": "repeat the input frame",
             "Prediction": "repeat the last context frame",
             "Generation": "a real frame repeated"}


def say(message: str) -> None:
    from kinema.bundled.export import say as progress

    progress(message)


# ------------------------------------------------------------------------------ data and videos

def clip_length(pipe, options: dict) -> int:
    """Frames per clip: the model's own clip length (image-to-video, generation), else the
    training data's (prediction: context and the frames to predict); at least
    ``MIN_COMPARED`` compared frames (flow statistics compare two consecutive flows)."""
    frames = pipe.spec.get("num_frames") if pipe.task != "Prediction" else None
    frames = int(frames or options.get("num_frames") or 16)
    context = pipe.spec.get("context_frames", 1) if pipe.task == "Prediction" else 0
    return max(frames, context + MIN_COMPARED)


def held_out_clips(folder: Path, pipe, count: int) -> tuple[dict, str]:
    """({"video": (n t c h w) at the model's size and channels, "eta": (n) when the data
    records a control}, the data's label) for ``count`` test clips of the training data."""
    from kinema.bundled.export import held_out_data
    from kinema.provenance import data_label, read_recipe, training_data

    recipe = read_recipe(folder)
    found = training_data(recipe) if recipe else None
    if found is None:
        raise KinemaError(f"{folder}: no recipe.json naming its training data beside the model, "
                          f"so there are no held-out clips to compare with")
    name, options = found
    frames = clip_length(pipe, options)
    dataset = held_out_data(name, options, count, frames)
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    video = torch.stack([item["video"].float() for item in items])          # (n t c h w)
    video = fit_videos(video, pipe.spec["channels"], pipe.spec["size"]) if "size" in pipe.spec else video
    clips = {"video": video}
    if all("eta" in item for item in items):
        clips["eta"] = torch.as_tensor([int(item["eta"]) for item in items])
    return clips, data_label(name, options)


def fit_videos(video: torch.Tensor, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """(n t c h w) at ``size`` (area resize) and ``channels`` (grey mean or repeated)."""
    n, t = video.shape[:2]
    frames = video.flatten(0, 1)
    if tuple(frames.shape[-2:]) != tuple(size):
        frames = F.interpolate(frames, size=tuple(size), mode="area")
    if frames.shape[1] != channels:
        frames = frames.mean(1, keepdim=True).expand(-1, channels, -1, -1)
    return frames.reshape(n, t, *frames.shape[1:])


def model_videos(pipe, clips: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the model's videos, the real videos they are compared with), each (n t c h w), for one
    sampling seed; batch i draws from ``kinema.bench.harness.batch_generator(seed, i)``."""
    from kinema.bench.harness import batch_generator

    real = clips["video"]
    model, made = pipe.model, []
    context = pipe.spec.get("context_frames", 1)
    bins = getattr(getattr(model, "config", None), "control_bins", 0) or 0
    with torch.no_grad():
        for index, start in enumerate(range(0, len(real), BATCH)):
            video = real[start:start + BATCH]
            generator = batch_generator(seed, index)
            if pipe.task == "ImageToVideo":
                control = clips["eta"][start:start + BATCH] if bins else None
                made.append(model.sample(video[:, 0], video.shape[1], 1, control=control,
                                         generator=generator)[:, 0])
            elif pipe.task == "Prediction":
                made.append(model.predict(video[:, :context], video.shape[1] - context, 1,
                                          generator=generator)[:, 0])
            else:
                made.append(model.generate(video.shape[0], video.shape[1], generator=generator))
    fake = torch.cat(made).float().clamp(-1, 1)
    return fake, real[:, context:] if pipe.task == "Prediction" else real


def baseline_videos(pipe, clips: dict) -> torch.Tensor:
    """The trivial baseline's videos (n t c h w): a still frame as long as the compared clips."""
    real = clips["video"]
    if pipe.task == "Prediction":
        context = pipe.spec.get("context_frames", 1)
        return real[:, context - 1:context].expand(-1, real.shape[1] - context, -1, -1, -1)
    return real[:, :1].expand(-1, real.shape[1], -1, -1, -1)


# ------------------------------------------------------------------------------ measuring

def spread(values: list[float]) -> dict:
    """{"mean", "std" (sample standard deviation; 0 for one value), "values"}."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "values": [float(v) for v in array]}


def measure(name: str, folder: Path, count: int, seeds: tuple[int, ...], pictures: Path) -> dict:
    """One bundled model's record: its numbers against the real clips, its baseline's, and the
    sample strip (and gif) written under ``pictures``."""
    import kinema.pipelines as pipelines
    from kinema.metrics.flow_statistics import FEATURE_NAMES, flow_features, motion_fd

    started = time.time()
    pipe = pipelines.load(folder)
    clips, data = held_out_clips(folder, pipe, count)
    speed = FEATURE_NAMES.index(SPEED)
    distances, ratios, first, real_features = [], [], None, None
    for seed in seeds:
        say(f"{name}: {len(clips['video'])} clips, seed {seed}")
        fake, real = model_videos(pipe, clips, seed)
        if real_features is None:
            real_features = flow_features(real)
        features = flow_features(fake)
        distances.append(motion_fd(real_features, features))
        ratios.append(float(features[:, speed].mean() / max(real_features[:, speed].mean(), 1e-12)))
        first = fake if first is None else first
    still = flow_features(baseline_videos(pipe, clips))
    baseline_fd = motion_fd(real_features, still)
    strip = write_strip(pictures / f"{name}.png", first[:STRIP_VIDEOS], pipe, clips)
    written = [strip]
    if name == GIF_NAME:
        written.append(write_gif(pictures / f"{name}.gif", first[0]))
    return {"name": name, "task": pipe.task, "data": data, "clips": len(clips["video"]),
            "frames": int(first.shape[1]), "size": list(first.shape[-2:]), "seeds": list(seeds),
            "motion_fd": spread(distances), "speed_ratio": spread(ratios),
            "baseline": BASELINES[pipe.task],
            "baseline_motion_fd": spread([baseline_fd]),
            "baseline_speed_ratio": spread([float(still[:, speed].mean()
                                                  / max(real_features[:, speed].mean(), 1e-12))]),
            "real_speed_mean": float(real_features[:, speed].mean()),
            "pictures": [str(p) for p in written], "seconds": round(time.time() - started, 1)}


# ------------------------------------------------------------------------------ pictures

def strip_factor(height: int) -> int:
    """The nearest-neighbour factor of a strip: at least ``UPSCALE``, and 96 px frames or more."""
    return max(UPSCALE, -(-96 // height))


def write_strip(path: Path, videos: torch.Tensor, pipe, clips: dict) -> Path:
    """A picture of ``videos`` (n t c h w): a row per video, ``STRIP_FRAMES`` evenly spaced
    frames, the input (picture or last context frame) first where there is one."""
    from kinema.data.io import write_atomic
    from kinema.viz.grid import filmstrip
    from kinema.viz.report import encode_png

    t = videos.shape[1]
    columns = torch.linspace(0, t - 1, min(STRIP_FRAMES, t)).round().long()
    shown = videos[:, columns]
    if pipe.task == "Prediction":
        context = pipe.spec.get("context_frames", 1)
        shown = torch.cat([clips["video"][:len(videos), context - 1:context], shown], dim=1)
    picture = filmstrip(shown.float())                                            # (c H W)
    factor = strip_factor(videos.shape[-2])
    image = ((picture.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    image = image.expand(3, -1, -1).permute(1, 2, 0).numpy()
    image = image.repeat(factor, 0).repeat(factor, 1)
    return write_atomic(path, encode_png(np.ascontiguousarray(image)))


def write_gif(path: Path, video: torch.Tensor) -> Path:
    """``video`` (t c h w), every ``GIF_FRAME_STEP``-th frame upscaled ``GIF_UPSCALE`` times
    (nearest), as a looping gif."""
    from kinema.data.io import write_video

    frames = video[::GIF_FRAME_STEP].float()
    frames = frames.repeat_interleave(GIF_UPSCALE, -2).repeat_interleave(GIF_UPSCALE, -1)
    return write_video(path, frames, fps=GIF_FPS)


# ------------------------------------------------------------------------------ the page

def card_numbers(record: dict) -> dict:
    """The numbers a model card quotes, exactly as in the page's record."""
    keys = ("task", "data", "clips", "frames", "seeds", "motion_fd", "speed_ratio", "baseline",
            "baseline_motion_fd", "baseline_speed_ratio", "real_speed_mean")
    return {k: record[k] for k in keys}


def page_lines(records: list[dict], missing: list[str], seconds: float,
               failed: dict[str, str] | None = None) -> list[str]:
    from kinema.bundled import MAKE_TARGET

    lines = ["Each bundled model (`kinema bundle list`) on held-out clips of the data it was trained "
             "on (their test split): **motion-fd** (`kinema.metrics.flow_statistics`: the Fréchet "
             "distance between the optical-flow statistics of the model's videos and of the real "
             "clips; lower is closer; it does not see appearance) of the model beside its "
             "trivial baseline on the same clips, and the **speed ratio**: the mean flow speed of "
             "the model's videos over the real clips' (1: as fast as the data; towards 0 the motion "
             "dies out). Model numbers: mean ± sample standard deviation over "
             f"{len(records[0]['seeds']) if records else len(SEEDS)} sampling seeds; a baseline "
             "draws nothing at random and is measured once. Image-to-video models start from each "
             "clip's frame 0 (a controlled one gets the clip's recorded direction); prediction is "
             "compared on the frames after the context.", "",
             "| model | task | data | clips x frames | motion-fd | baseline | baseline motion-fd "
             "| speed ratio | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        fd, base, ratio = r["motion_fd"], r["baseline_motion_fd"], r["speed_ratio"]
        lines.append(f"| `{r['name']}` | {r['task']} | {r['data']} | {r['clips']} x {r['frames']} "
                     f"| {fd['mean']:.3f} ± {fd['std']:.3f} | {r['baseline']} | {base['mean']:.3f} "
                     f"| {ratio['mean']:.3f} ± {ratio['std']:.3f} | {r['seconds']:.0f} |")
    lines += ["", f"Measured in {seconds:.0f} s of wall-clock time (all models)."]
    if missing:
        lines += ["", f"Not present, so not measured: {', '.join(missing)} (make them with "
                      f"`{MAKE_TARGET}`)."]
    for name, reason in (failed or {}).items():
        lines += ["", f"`{name}` could not be measured: {reason}"]
    for r in records:
        rows = {"ImageToVideo": "one row per held-out clip's frame 0 (the first column)",
                "Prediction": "one row per held-out clip (its last context frame first)",
                "Generation": "one row per generated video"}[r["task"]]
        lines += ["", f"### `{r['name']}`", "",
                  f"Samples of seed {r['seeds'][0]}, {rows}, {min(STRIP_FRAMES, r['frames'])} "
                  f"evenly spaced frames of {r['frames']}, each pixel shown as "
                  f"{strip_factor(r['size'][0])}x{strip_factor(r['size'][0])}:", ""]
        for picture in r["pictures"]:
            lines.append(f"![{r['name']}](bundled/{Path(picture).name})")
    return lines


def bundled_models_benchmark(out_dir: Path, num_videos: int | None = None, **_) -> tuple[Path, Path]:
    """Measure every bundled model present; write the page, the pictures and the cards."""
    from kinema.bench.harness import write_benchmark
    from kinema.bundled import BUNDLED, folder, names, root
    from kinema.bundled.card import read_card, write_card

    started = time.time()
    present = names()
    records, failed = [], {}
    for name in present:
        try:
            records.append(measure(name, folder(name), num_videos or CLIPS_OF.get(name, CLIPS),
                                   SEEDS, Path(out_dir) / "bundled"))
        except KinemaError as err:      # one unreadable model must not cost the others' numbers
            failed[name] = str(err)
            say(f"{name}: not measured: {err}")
    missing = [b.name for b in BUNDLED if b.name not in present]
    seconds = time.time() - started
    record = {"models": {r["name"]: r for r in records}, "missing": missing, "failed": failed,
              "bundled_root": str(root()), "seconds": round(seconds, 1)}
    written = write_benchmark(out_dir, "bundled-models", "Bundled models against doing nothing",
                              page_lines(records, missing, seconds, failed), record)
    for r in records:
        card = read_card(folder(r["name"]))
        if card is None:
            say(f"{r['name']}: no card.json beside the model (export it with `kinema bundle "
                f"export {r['name']}`); its numbers are on the page only")
            continue
        card["benchmark"] = card_numbers(r)
        write_card(folder(r["name"]), card)
    return written
