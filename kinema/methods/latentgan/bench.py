"""``kinema bench latentgan-actors`` / ``latentgan-carphone``: StyleVideoGAN's evaluation
(Sec. 4, Table 1, the looping count and the cost claim) on kinema's stand-ins.

Rows, for the model trained with L_GAP ("Ours") and without ("Ours \\ L_GAP"):
- Fréchet distances against the W+ embedding (what the model is trained on) and against the
  original frames, for "short" samples (one training window, 25 steps) and 25-step slices of
  "long" ones (250 steps), per frame and per clip (the paper's FID and FVD; Inception and I3D
  need weights this machine does not have, so:
  W+ frame: the 32 PCA coordinates of each w (the offset trick's basis);
  W+ clip: the PCA coordinates at steps 0, 6, 12, 18, 24 of a window, concatenated;
  original frame / clip: the domain extractor trained on ``actors`` identities
  (``runs/extractors/actors``, trained here if missing): its frame features / clip features);
- motion (what the W+ and identity features do not see): the Fréchet distance of optical-flow
  statistics (``kinema.metrics.flow_statistics``, motion-FD) of the rendered 25-step windows
  against the original videos' 25-frame windows, for any data; on actors also the clip
  features of the extractor trained on motion labels (``runs/extractors/actors-motion``:
  identity, action, tempo, travel; its held-out accuracy quoted first); beside each model the
  trivial baseline of its own still video (each rendered window's first frame repeated: the same
  appearance, no motion, so the extractor's clip FD compares motion at equal looks) and a real
  still (each original window's first frame repeated);
- identity consistency ACD (Sec. 4): the mean L2 distance between the extractor's frame
  features of all pairs of frames of a long video (every 5th frame), averaged over videos: real
  videos, the training actor, random new actors by the offset trick;
- looping (``looping.detect_loop``) over models trained from ``seeds`` seeds with and without
  L_GAP (the study runs, trained here if missing: see ``study_recipe``); a model loops when at
  least half of its long samples do; also the gradient angle phi of each model. The paper records
  this study once, on one short training sequence (Sec. 4, "Evaluation of the Gradient Angle
  Penalty"); kinema runs it once too, on ``LOOPING_STUDY_DATA`` (its 40 models cost ~4.5 CPU hours
  here); the other data's page points to it and judges its own seeds' models the same way;
- the cost of one training iteration in W+ against the same temporal networks trained on
  frames rendered through the image generator (``bench_cost``).

Models are ``runs/latentgan-temporal-PRESET[-carphone][-no-gap]`` (default preset ``small``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from kinema.bench.seeds import mean_spread, seed_runs, summarise
from kinema.errors import KinemaError

LONG = 250
LOOPING_STUDY_DATA = "actors"     # the one data the looping study runs on (see the module docstring)
CLIP_POINTS = 5     # steps of a window whose PCA coordinates make a W+ clip feature
ACD_EVERY = 5
STUDY_SEEDS = 20      # per arm (the paper: 20 models with L_GAP, 20 without)
STUDY_SAMPLES = 8
SUFFIX = {"actors": "", "carphone": "-carphone"}
# data with motion labels -> the domain-extractor recipe trained on them (carphone, real footage, has none)
MOTION_EXTRACTORS = {"actors": "actors-motion"}


def _commands(stem: str) -> str:
    return "; ".join(f"kinema train latentgan-{stage} --preset {stem}{extra} --out "
                     f"runs/latentgan-{stage}-{stem}{extra}"
                     for stage, extra in (("image", ""), ("embed", ""), ("temporal", ""),
                                          ("temporal", "-no-gap")))


# --------------------------------------------------------------------------- features

def slices(ws: torch.Tensor, window: int = 25) -> torch.Tensor:
    """Non-overlapping windows of trajectories (b t ...) -> ((b t//window) window ...)."""
    b, t = ws.shape[:2]
    usable = t // window * window
    return ws[:, :usable].reshape(b * (t // window), window, *ws.shape[2:])


def clip_steps(window: int) -> list[int]:
    """CLIP_POINTS evenly spaced steps of a window: 25 -> 0, 6, 12, 18, 24."""
    return torch.linspace(0, window - 1, CLIP_POINTS).round().long().tolist()


def wplus_features(model, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(frame features (n k), clip features (b 5k)) of windows (b t num_ws w_dim)."""
    coordinates = model.basis.coordinates(windows)                    # (b t k)
    return coordinates.flatten(0, 1), coordinates[:, clip_steps(windows.shape[1])].flatten(1)


def frame_features(extractor, videos: torch.Tensor, every: int = 1) -> torch.Tensor:
    """Extractor frame features of videos (b t c h w), every ``every``-th frame: (b t' d)."""
    from einops import rearrange

    picked = videos[:, ::every]
    feats = extractor.frame_features(rearrange(picked, "b t c h w -> (b t) c h w"))
    return rearrange(feats, "(b t) d -> b t d", b=videos.shape[0])


def average_content_distance(features: torch.Tensor) -> float:
    """ACD: mean over videos of the mean L2 distance between all pairs of their frames'
    features (b t d); pairs (a, b) with a != b."""
    distances = torch.cdist(features.double(), features.double())           # (b t t)
    t = features.shape[1]
    return float((distances.sum((1, 2)) / (t * (t - 1))).mean())


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    from kinema.metrics.frechet import frechet_distance

    return frechet_distance(a.double(), b.double())


# --------------------------------------------------------------------------- data

def original_videos(embed_folder: Path) -> torch.Tensor:
    """The training videos the embedding was made from (its run's recipe.json), (b t c h w)."""
    from kinema.data import load_dataset

    recipe_file = embed_folder.parent / "recipe.json"
    if not recipe_file.is_file():
        raise KinemaError(f"{recipe_file} is missing: the benchmark reads which videos the "
                          f"embedding {embed_folder} was made from")
    data = json.loads(recipe_file.read_text())["data"]
    dataset = load_dataset(data["name"], data.get("split", "train"), **data["options"])
    return torch.stack([dataset[i]["video"] for i in range(len(dataset))])


def identity_extractor(runs: Path, extractor: str | None):
    from kinema.metrics.features.domain import load_domain_extractor
    from kinema.metrics.features.domain_train import train_extractor

    folder = Path(extractor) if extractor else runs / "extractors" / "actors"
    if not (folder / "config.json").is_file():
        print(f"latentgan bench: training the actors identity extractor into {folder}")
        train_extractor("actors", folder)
    return load_domain_extractor(folder), folder


def motion_references(real_frames: torch.Tensor, window: int, motion_extractor=None) -> dict:
    """The motion features of the original videos' non-overlapping ``window``-frame slices:
    flow statistics ("flow", n d) and, given one, the motion extractor's clip features."""
    from kinema.metrics.flow_statistics import flow_features

    clips = slices(real_frames, window)
    return {"flow": flow_features(clips),
            "extractor": motion_extractor.clip_features(clips) if motion_extractor is not None else None}


def motion_distances(video: torch.Tensor, references: dict, motion_extractor=None) -> dict:
    """{"motion FD": flow-statistics Fréchet distance, "motion clip": the motion extractor's
    clip FD (given one)} of videos (b t c h w) against ``motion_references``."""
    from kinema.metrics.flow_statistics import flow_features, motion_fd

    out = {"motion FD": motion_fd(references["flow"], flow_features(video))}
    if motion_extractor is not None:
        out["motion clip"] = frechet(motion_extractor.clip_features(video), references["extractor"])
    return out


def still_baseline(real_frames: torch.Tensor, window: int, references: dict, motion_extractor=None) -> dict:
    """The trivial baseline's ``motion_distances``: each real window's first frame repeated."""
    clips = slices(real_frames, window)
    return motion_distances(clips[:, :1].expand_as(clips).contiguous(), references, motion_extractor)


# --------------------------------------------------------------------------- the benchmark

def distances(model, real_windows, real_frames, extractor, count_short, count_long, seed=0,
              motion: dict | None = None, motion_extractor=None):
    """Rows of Fréchet distances of one model (see the module docstring); ``motion``: the
    ``motion_references`` of the originals, for the motion columns."""
    g = torch.Generator().manual_seed(seed)
    short = model.config.window
    real_w_frame, real_w_clip = wplus_features(model, real_windows)
    real_x_frame = extractor.frame_features(real_frames.flatten(0, 1))
    real_x_clip = extractor.clip_features(slices(real_frames, short))
    rows = {}
    for name, count, length in (("short", count_short, short), ("long", count_long, LONG)):
        ws, _ = model.trajectory(count, length, g)
        windows = slices(ws, short)
        fake_w_frame, fake_w_clip = wplus_features(model, windows)
        video = model.render(windows)
        rows[name] = {"W+ frame": frechet(fake_w_frame, real_w_frame),
                      "W+ clip": frechet(fake_w_clip, real_w_clip),
                      "original frame": frechet(extractor.frame_features(video.flatten(0, 1)), real_x_frame),
                      "original clip": frechet(extractor.clip_features(video), real_x_clip),
                      "windows": int(windows.shape[0])}
        if motion is not None:
            still = video[:, :1].expand_as(video).contiguous()      # the same frames, standing still
            rows[name].update(motion_distances(video, motion, motion_extractor))
            rows[name].update({f"still {k}": v for k, v in motion_distances(still, motion, motion_extractor).items()})
    return rows


def identity_consistency(model, real_videos, extractor, count: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ws, _ = model.trajectory(count, LONG, g)
    moved = model.transfer(ws, model.random_identity(count, g))
    real = real_videos[:, :LONG]
    every = max(1, ACD_EVERY * real.shape[1] // LONG)
    return {"real videos": average_content_distance(frame_features(extractor, real, every)),
            "training actor": average_content_distance(frame_features(extractor, model.render(ws), ACD_EVERY)),
            "random actors (offset trick)": average_content_distance(
                frame_features(extractor, model.render(moved), ACD_EVERY)),
            "real frames per video": int(real[:, ::every].shape[1])}


def latentgan_benchmark(data: str, out_dir: Path, runs=None, num_videos: int | None = None,
                        preset: str | None = None, extractor: str | None = None, **_) -> tuple[Path, Path]:
    from kinema.bench.harness import write_benchmark
    from kinema.methods.latentgan.apps import load_model
    from kinema.methods.latentgan.bench_cost import compare_step_costs
    from kinema.methods.latentgan.bench_loop import judge, looping_study
    from kinema.methods.latentgan.embed import EmbeddingWindows

    preset = preset or "small"
    stem = preset + SUFFIX[data]
    runs = Path(runs or "runs")
    out_dir = Path(out_dir)
    folders = {"Ours": runs / f"latentgan-temporal-{stem}",
               "Ours \\ L_GAP": runs / f"latentgan-temporal-{stem}-no-gap"}
    missing = [str(f) for f in folders.values() if not (f / "model" / "config.json").is_file()]
    if missing:
        raise KinemaError(f"latentgan-{data} compares trained runs; missing: {', '.join(missing)}. "
                          f"Train them: {_commands(stem)}")
    seeded = {label: seed_runs(folder) for label, folder in folders.items()}
    models = {label: load_model(folder) for label, folder in folders.items()}
    embed_folder = Path(models["Ours"].built_from["embed_path"]["path"])
    short = models["Ours"].config.window
    windows = EmbeddingWindows(path=str(embed_folder), window=short)
    real_windows = torch.stack([windows[i]["ws"] for i in range(len(windows))])
    real_videos = original_videos(embed_folder)
    ident, ident_folder = identity_extractor(runs, extractor)
    motion_net, motion_training = None, None
    if data in MOTION_EXTRACTORS:
        from kinema.metrics.features.domain_train import trained_extractor

        motion_net, motion_training = trained_extractor(
            data, runs / "extractors" / MOTION_EXTRACTORS[data], MOTION_EXTRACTORS[data])
    references = motion_references(real_videos, short, motion_net)
    still = still_baseline(real_videos, short, references, motion_net)
    count_short = num_videos or 256
    count_long = max(2, count_short // 8)
    table, acd, judged = {}, {}, {}
    for label, folders_of_label in seeded.items():      # every seed of a row: mean ± std
        seed_models = [models[label]] + [load_model(f) for f in folders_of_label[1:]]
        if data != LOOPING_STUDY_DATA:                   # the study runs elsewhere: judge these models
            judged["gap" if label == "Ours" else "no-gap"] = [judge(m, STUDY_SAMPLES) for m in seed_models]
        found = [distances(m, real_windows, real_videos, ident, count_short, count_long,
                           motion=references, motion_extractor=motion_net)
                 for m in seed_models]
        table[label] = {length: summarise([f[length] for f in found]) for length in ("short", "long")}
        acd[label] = summarise([identity_consistency(m, real_videos, ident, min(count_long, 16))
                                for m in seed_models])
    study = looping_study(data, preset, runs, STUDY_SEEDS, STUDY_SAMPLES) if data == LOOPING_STUDY_DATA else \
        {"study_data": LOOPING_STUDY_DATA, "samples_per_model": STUDY_SAMPLES, **judged}
    cost = compare_step_costs(models["Ours"], real_windows[:16])
    pictures = write_pictures(models, out_dir, f"latentgan-{data}")
    motion = {"still": still, "training": motion_training,
              "extractor": str(runs / "extractors" / MOTION_EXTRACTORS[data]) if motion_net is not None else None}
    body = _body(data, stem, table, acd, study, cost, pictures, len(real_windows),
                 tuple(real_videos.shape), ident_folder, count_short, count_long, motion)
    record = {"data": data, "preset": preset,
              "runs": {k: [str(f) for f in v] for k, v in seeded.items()},
              "frechet": table, "acd": acd, "looping": study, "cost": cost, "motion": motion,
              "reference": {"embedding_windows": len(real_windows),
                            "original_videos": list(real_videos.shape)},
              "extractor": str(ident_folder), "pictures": [str(p) for _, p in pictures]}
    return write_benchmark(out_dir, f"latentgan-{data}", f"StyleVideoGAN on {data} ({preset} runs)",
                           body, record)


def write_pictures(models: dict, out_dir: Path, name: str, frames: int = LONG) -> list[tuple[str, Path]]:
    """A frame strip of a long sample (training actor, then a random actor by the offset
    trick) and the trajectory plot, per model."""
    from kinema.data.io import write_atomic
    from kinema.methods.latentgan.apps import strip_frames, trajectory_plot
    from kinema.viz.grid import filmstrip
    from kinema.viz.report import encode_png

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for label, model in models.items():
        tag = "no-gap" if "GAP" in label else "gap"
        g = torch.Generator().manual_seed(0)
        ws, _ = model.trajectory(1, frames, g)
        moved = model.transfer(ws, model.random_identity(1, g))
        videos = model.render(torch.cat([ws, moved]))
        strip = filmstrip(torch.stack([strip_frames(v) for v in videos]))
        path = write_atomic(out_dir / f"{name}-{tag}-strip.png", encode_png(strip, min_size=256))
        written.append((f"{label}: every {frames // 10}th frame of a {frames}-frame sample "
                        f"(top: training actor, bottom: a random actor)", path))
        svg = trajectory_plot(model, ws[0], title=label)
        written.append((f"{label}: first PCA coordinates of that trajectory",
                        write_atomic(out_dir / f"{name}-{tag}-trajectory.svg", svg.encode())))
    return written


def motion_lines(table: dict, motion: dict, window: int) -> list[str]:
    """The page's motion section: the motion extractor's held-out accuracy first (when the data
    has one), the motion columns of every row beside its own still video (``still KEY`` of the
    ``distances`` rows) and a real still, and per row whether its mean is below its own still
    video's by more than the seed spread (the larger of the two standard deviations)."""
    from kinema.bench.seeds import mean_spread
    from kinema.metrics.features.domain_train import accuracy_sentence

    keys = ["motion FD"] + (["motion clip"] if motion["extractor"] else [])
    lines = ["## Motion (measures that see motion, not appearance)", ""]
    if motion["training"]:
        lines += [f"`{motion['extractor']}`, trained on motion labels too. " + accuracy_sentence(motion["training"]), ""]
    else:
        lines += ["Real footage records no motion labels, so only the flow statistics measure motion here.", ""]
    lines += [f"motion-FD: Fréchet distance of optical-flow statistics (`kinema.metrics.flow_statistics`, DIS) of "
              f"the rendered {window}-step windows against the original videos' {window}-frame windows"
              + ("; motion clip FD: the same windows in the clip features of the motion extractor" if
                 motion["extractor"] else "") + ". The trivial baseline of each model is its own still video "
              "(each rendered window's first frame repeated: the same looks, no motion); a real still (each "
              "original window's first frame repeated) is shown too, but it also has the real looks, which "
              "the extractor's features see. Smaller is better.", "",
              "| model | " + " | ".join(f"{k} {length}" for k in keys for length in ("short", "long")) + " |",
              "|---|" + "---|" * (2 * len(keys))]
    for label, rows in table.items():
        for name, prefix in ((label, ""), (f"{label}, still (its own first frame repeated)", "still ")):
            lines.append(f"| {name} | " + " | ".join(mean_spread(rows[length].get(prefix + k), 4)
                                                    for k in keys for length in ("short", "long")) + " |")
    lines.append("| still (an original frame repeated) | "
                 + " | ".join(f"{motion['still'][k]:.4g}" for k in keys for _ in range(2)) + " |")
    verdicts = []
    for label, rows in table.items():
        ahead = []
        for k in keys:
            for length in ("short", "long"):
                model, still = rows[length][k], rows[length][f"still {k}"]
                if still["mean"] - model["mean"] > max(model["std"], still["std"]):
                    ahead.append(f"{k} {length}")
        verdicts.append(f"{label} below its own still video by more than the seed spread on {len(ahead)} of "
                        f"{2 * len(keys)} ({', '.join(ahead) or 'none'})")
    return lines + ["", "; ".join(verdicts) + ".", ""]


def _body(data, stem, table, acd, study, cost, pictures, n_windows, real_shape, ident, short, long, motion=None):
    from kinema.methods.latentgan.bench_loop import study_lines

    window = cost["window"]
    seeds = {label: rows["short"]["W+ frame"]["n"] for label, rows in table.items()}
    lines = [f"Runs: `runs/latentgan-temporal-{stem}` (with L_GAP) and `...-no-gap`, each with its "
             f"`-seedK` runs ({', '.join(f'{k}: {n} seed(s)' for k, n in seeds.items())}; cells are "
             f"mean ± sample std over them, the paper's 5 models per row). References: "
             f"the W+ embedding ({n_windows} windows of {window} steps) and the original videos "
             f"(b t c h w = {real_shape}). Short: {short} samples of {window} steps (the training "
             f"window); long: {long} samples of {LONG} steps cut into {LONG // window} windows each. Frame/clip features of "
             f"the originals: the identity extractor `{ident}` (not Inception/I3D). Smaller is "
             f"better; these are not comparable to the paper's numbers.", "",
             "| model | reference | frame FD short | frame FD long | clip FD short | clip FD long |",
             "|---|---|---|---|---|---|"]
    for label, rows in table.items():
        for ref, key in (("W+", "W+"), ("original", "original")):
            cells = [mean_spread(rows[length][f"{key} {kind}"], 4)
                     for kind in ("frame", "clip") for length in ("short", "long")]
            lines.append(f"| {label} | {ref} | " + " | ".join(cells) + " |")
    if motion is not None:
        lines += [""] + motion_lines(table, motion, window)
    lines += ["", "## Identity consistency (ACD, lower = more consistent)", "",
              "| model | real videos | training actor | random actors (offset trick) |", "|---|---|---|---|"]
    for label, row in acd.items():
        lines.append(f"| {label} | " + " | ".join(mean_spread(row[key], 4) for key in (
            "real videos", "training actor", "random actors (offset trick)")) + " |")
    lines += ["", *study_lines(study), "", "## Cost of one training iteration (critic + generator step)", "",
              f"W+: {cost['w_plus_seconds']:.3f} s; image space (frames rendered through the "
              f"generator at {cost['resolution']} px, a frame-encoder critic): "
              f"{cost['image_space_seconds']:.3f} s; ratio {cost['ratio']:.1f}x (batch {cost['batch']}, "
              f"{cost['window']} steps). The paper's 160x compares whole trainings (40 GPU days "
              f"against 6 GPU hours) at 1024 px; the ratio grows with the resolution.", "",
              "## Pictures", ""]
    for caption, path in pictures:
        lines.append(f"![{caption}]({path.name})  ")
        lines.append(f"*{caption}*")
        lines.append("")
    return lines


def actors_benchmark(out_dir: Path, **options):
    return latentgan_benchmark("actors", out_dir, **options)


def carphone_benchmark(out_dir: Path, **options):
    return latentgan_benchmark("carphone", out_dir, **options)
