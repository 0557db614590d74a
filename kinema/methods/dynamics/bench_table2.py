"""``kinema bench dynamics-table2``: the paper's Table 2 re-made with measures that see motion
(``scores.py``), on held-out ``swaying`` pictures of a preset's motion data (``small150``: the
paper's regime, 16 of 76 bins), from trained runs (``--runs``):

- every motion model of the preset's base (``dynamics-attention-BASE*``: the full model and its
  K / normalisation ablations; ``dynamics-diffusion-BASE*``: "Independent pred." and "Volume
  pred.", not the ablations' own stage A: ``run_groups``), a run and its ``-seedK`` re-runs
  (``benchmarks/runs.mk``) making one row, mean ± standard deviation over the seeds;
- repeat-I0 (S = 0) and the oracle (``oracle.py``), with one sampling seed per model seed.

Scores, means over the pictures: the amplitude error (phase-invariant, px, over bins 1..K_eval-1
of the truth, K_eval the largest K of the Table 2 rows, ``evaluation_bins``: a model of fewer
bins counts the bins it drops),
the trajectory end-point error of one sample, the best of ``num_samples``' error, the motion-FD of
the pictures moved by the samples against them moved by the truth (``scores.motion_video_features``:
a video metric on motion), and the seam of one period played in a loop (position + velocity terms of Eq. (5), px; wrap speed / mean speed).
Samples: DPM-Solver++, 20 steps, CFG w = 1.75 (the applications' default for a plain video).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import torch

SCORES = ("amplitude_error", "trajectory_epe", "best_of_n_epe", "motion_fd", "seam", "wrap_speed_ratio")


def run_groups(runs: Path, base: str) -> dict[str, list[Path]]:
    """{row run name: [the run, its -seedK runs]} of every trained motion model of ``base``.
    Stage A of an ablation (``dynamics-diffusion-BASE-k4`` under ``dynamics-attention-BASE-k4``)
    is no row of Table 2 and is skipped, which saves sampling it (half an hour a seed on a CPU);
    stage A of the full model is "Independent pred.", and a stage A with no stage B on top (the
    volume baseline) is a row of its own."""
    groups: dict[str, list[Path]] = {}
    for stage in ("attention", "diffusion"):
        for run in sorted(Path(runs).glob(f"dynamics-{stage}-{base}*")):
            name = re.sub(r"-seed\d+$", "", run.name)
            if (run / "model" / "config.json").is_file() and re.fullmatch(rf"dynamics-{stage}-{base}(-.*)?", name):
                groups.setdefault(name, []).append(run)

    def is_row(name: str) -> bool:     # not a stage A with its own stage B, unless the full model's
        stage_b = name.replace("dynamics-diffusion-", "dynamics-attention-", 1)
        return stage_b == name or stage_b not in groups or name == f"dynamics-diffusion-{base}"

    return {name: group for name, group in groups.items() if is_row(name)}


def true_features(items: list[dict]):
    """Flow-statistics features (b d) of the items' pictures moved by their true trajectories."""
    from kinema.methods.dynamics.scores import motion_video_features

    pictures = torch.stack([item["image"] for item in items])
    return motion_video_features(pictures, torch.stack([item["trajectories"] for item in items])[:, None])


def scores_of(volumes: torch.Tensor, items: list[dict], period: int, k_eval: int, real_features) -> dict[str, float]:
    """Mean scores of spectral volumes (b n k 4 h w), sample n of picture b, against the items;
    ``real_features``: ``true_features(items)``, the reference of the motion video metric."""
    from kinema.data.spectral import spectral_volume
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.scores import amplitude_error, best_of_n_error, motion_video_features, seam_scores
    from kinema.metrics.flow_statistics import motion_fd

    volumes = volumes.double()
    trajectories = torch.stack([item["trajectories"] for item in items]).double()          # (b t 2 h w)
    truth = spectral_volume(trajectories, k_eval)                                          # (b K 4 h w)
    padded = volumes.new_zeros(*volumes.shape[:2], k_eval, *volumes.shape[3:])
    padded[:, :, :volumes.shape[2]] = volumes[:, :, :k_eval]
    motion = spectral_volume_to_motion(volumes, period, period=period)                     # (b n t 2 h w)
    seam = seam_scores(motion[:, 0])
    pictures = torch.stack([item["image"] for item in items])
    return {"motion_fd": motion_fd(real_features, motion_video_features(pictures, motion)),
            "amplitude_error": amplitude_error(padded, truth[:, None], period)["mean"],
            "trajectory_epe": float(best_of_n_error(motion[:, :1], trajectories).mean()),
            "best_of_n_epe": float(best_of_n_error(motion, trajectories).mean()),
            "seam": float((seam["position"] + seam["velocity"]).mean()),
            "wrap_speed_ratio": float(seam["wrap_speed_ratio"].mean())}


def model_volumes(model, pictures: torch.Tensor, num_samples: int, seed: int) -> torch.Tensor:
    """(b n k 4 h w): ``num_samples`` DPM-Solver++ samples per picture, 8 pictures per call."""
    from kinema.methods.dynamics.sampling import predict_spectral_volume

    return torch.cat([predict_spectral_volume(model, pictures[s:s + 8], num_samples=num_samples, seed=seed + 1000 * s,
                                              sampler="dpm", progress=False) for s in range(0, len(pictures), 8)])


# the paper's names of the rows (Table 2, Sec. 7.3), by the run's suffix after dynamics-; BASE is the preset's base
PAPER_ROWS = {"attention-BASE": "Full (K = 16)", "attention-BASE-k4": "K = 4", "attention-BASE-k8": "K = 8",
              "attention-BASE-k24": "K = 24", "attention-BASE-no-adaptive-norm": "w/o adaptive norm.",
              "diffusion-BASE": "Independent pred.", "diffusion-BASE-volume": "Volume pred.",
              "repeat I0": "Repeat I0"}
# the scores a verdict reads: the three that see motion (the single-sample trajectory error favours
# standing still under random phases, and the seam is its own study); lower is better for each
VERDICT_SCORES = ("amplitude_error", "best_of_n_epe", "motion_fd")


def paper_name(row: str, base: str) -> str:
    """The paper's name of a Table 2 row (``attention-small150-k4`` -> ``K = 4``), else ''."""
    return PAPER_ROWS.get(row.replace(base, "BASE"), "")


def verdict(full: dict, other: dict) -> dict:
    """The full model against another row on one score (``summary`` entries: mean, std, seeds),
    lower better. delta = other - full; spread = the larger of the two rows' seed standard
    deviations (a row of 1 seed has none); ``ahead`` when delta > spread, ``behind`` when
    delta < -spread, ``within spread`` between; ``undecided`` when neither row has a spread."""
    delta = other["mean"] - full["mean"]
    spreads = [s["std"] for s in (full, other) if s["std"] is not None]
    if not spreads:
        return {"delta": delta, "spread": None, "verdict": "undecided (1 seed each)"}
    spread = max(spreads)
    word = "ahead" if delta > spread else "behind" if delta < -spread else "within spread"
    return {"delta": delta, "spread": spread, "verdict": word}


def claim_lines(rows: list[dict], full: str, base: str) -> list[str]:
    """The page's verdicts: the full model against every other row on ``VERDICT_SCORES``, and
    the issue's goal (ahead of Repeat I0 and of Volume pred. by more than the seed spread)."""
    by_name = {r["row"]: r for r in rows}
    lines = ["## The paper's claim, measured", "",
             "The paper (Sec. 7.3): *all simpler or alternative configurations lead to worse performance "
             "compared with our full model.* Per score (lower is better), delta = row - full model and the "
             "full model is **ahead** when delta is larger than the spread (the larger of the two rows' "
             "standard deviations over seeds), behind when it is below minus the spread.", "",
             "| row (paper's name) | " + " | ".join(VERDICT_SCORES) + " |",
             "|---|" + "---|" * len(VERDICT_SCORES)]
    for r in rows:
        if r["row"] == full or r["row"].startswith("oracle"):
            continue
        cells = []
        for key in VERDICT_SCORES:
            v = verdict(by_name[full][key], r[key])
            spread = f" vs {v['spread']:.3f}" if v["spread"] is not None else ""
            cells.append(f"{v['verdict']} ({v['delta']:+.3f}{spread})")
        lines.append(f"| {r['row']} ({paper_name(r['row'], base) or '-'}) | " + " | ".join(cells) + " |")
    goal = []
    for target in ("repeat I0", f"diffusion-{base}-volume"):
        if target not in by_name:
            goal.append(f"{target}: not trained yet")
            continue
        ahead = [key for key in VERDICT_SCORES if verdict(by_name[full][key], by_name[target][key])["verdict"] == "ahead"]
        goal.append(f"{target}: ahead on {len(ahead)} of {len(VERDICT_SCORES)} ({', '.join(ahead) or 'none'})")
    return lines + ["", "Goal (the full model beats Repeat I0 and Volume pred. by more than the seed spread): "
                    + "; ".join(goal) + ".", "",
                    "The paper's *Baseline splat* row changes the renderer, not the motion, so every score here "
                    "would equal the full model's; it is measured on the rendered videos instead "
                    "(`benchmarks/dynamics-swaying.md`, `benchmarks/dynamics-render-real.md`).", ""]


SHOWN_PICTURES = 4     # held-out pictures in the page's amplitude maps
PICTURE_SCALE = 4      # nearest-neighbour upscale of 64-px pictures, so a person can see them


def amplitude_map(volume: torch.Tensor, period: int) -> torch.Tensor:
    """How far each pixel oscillates: (... k 4 h w) -> (... h w), the amplitudes of bins 1..k-1
    (``scores.oscillation_amplitude``, px) added up."""
    from kinema.methods.dynamics.scores import oscillation_amplitude

    return oscillation_amplitude(volume, period)[..., 1:, :, :].sum(dim=-3)


def amplitude_picture(pictures: torch.Tensor, truth: torch.Tensor, shown: dict[str, torch.Tensor],
                      period: int) -> torch.Tensor:
    """(c H W) grid in [-1, 1]: a row per picture (b 3 h w), its true amplitude map (from the true
    volumes, b k 4 h w), then each shown row's mean amplitude map over its samples (b n k 4 h w),
    black 0 px to white at the truth's largest amplitude in that picture (one scale per row)."""
    maps = [amplitude_map(truth, period)] + [amplitude_map(v, period).mean(dim=1) for v in shown.values()]
    top = maps[0].flatten(1).amax(dim=1).clamp_min(1e-6).view(-1, 1, 1)
    cells = [pictures.float()] + [(m.float() / top.float()).clamp(0, 1)[:, None].expand(-1, 3, -1, -1) * 2 - 1
                                  for m in maps]
    from kinema.viz.grid import image_grid

    return image_grid(torch.stack(cells, dim=1).flatten(0, 1), nrow=len(cells))


def write_pictures(out_dir: Path, items: list[dict], shown: dict[str, torch.Tensor], period: int) -> list[str]:
    """The page's pictures from the held-out items and each shown row's first-seed volumes
    (label -> (b n k 4 h w) of the first ``SHOWN_PICTURES`` pictures): amplitude maps, X-t
    slices of the first picture moved by the truth and by each row's first sample, and a
    looping gif of the truth beside the first shown row (the full model); markdown lines."""
    import torch.nn.functional as F

    from kinema.data.io import write_video
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.scores import motion_video
    from kinema.viz.grid import image_grid, video_grid
    from kinema.viz.report import encode_png
    from kinema.viz.slices import most_moving_row, xt_slice

    out_dir.mkdir(parents=True, exist_ok=True)
    b = min(SHOWN_PICTURES, len(items))
    pictures = torch.stack([item["image"] for item in items[:b]])
    truth = torch.stack([item["spectral_volume"] for item in items[:b]]).double()
    amplitude = out_dir / "dynamics-table2-amplitude.png"
    amplitude.write_bytes(encode_png(amplitude_picture(pictures, truth, shown, period), scale=PICTURE_SCALE))
    motions = {"truth": torch.stack([item["trajectories"] for item in items[:1]]).float()}
    motions.update({label: spectral_volume_to_motion(v[:1, 0].double(), period, period=period).float()
                    for label, v in shown.items()})
    videos = {label: motion_video(pictures[:1], m, stride=1)[0] for label, m in motions.items()}   # (t 3 h w)
    row = most_moving_row(videos["truth"])
    slices = out_dir / "dynamics-table2-xt.png"
    slices.write_bytes(encode_png(image_grid(torch.stack([xt_slice(v, row) for v in videos.values()]),
                                             nrow=len(videos)), scale=PICTURE_SCALE))
    full = next(iter(shown))
    loop = out_dir / "dynamics-table2-loop.gif"
    pair = video_grid(torch.stack([videos["truth"], videos[full]]), nrow=2)        # (t 3 H W)
    write_video(loop, F.interpolate(pair, scale_factor=PICTURE_SCALE, mode="nearest"), fps=25)
    labels = ", ".join(shown)
    return ["## Pictures", "",
            f"- How far each pixel oscillates (sum of bins 1..K-1 of the amplitude, px; black 0, white the "
            f"truth's largest in that picture), {b} held-out pictures: picture, truth, then {labels} (mean of "
            f"the first seed's samples): ![amplitude maps]({amplitude.name})",
            f"- X-t slices of the first picture (row {row}, time downwards, {period} frames; plain softmax splat): "
            f"truth, then the first sample of {labels}: ![X-t slices]({slices.name})",
            f"- The first picture's true motion (left) beside the first sample of {full} (right), one "
            f"period played as a loop, {PICTURE_SCALE}x: ![loop]({loop.name})", ""]


def summary(per_seed: list[dict[str, float]]) -> dict:
    values = {key: torch.tensor([s[key] for s in per_seed], dtype=torch.float64) for key in SCORES}
    return {key: {"mean": float(v.mean()), "std": float(v.std()) if len(v) > 1 else None, "seeds": len(v)}
            for key, v in values.items()}


def evaluation_bins(period: int) -> int:
    """K_eval: the largest K of the Table 2 rows (``config.FREQUENCY_CHOICES``) capped by the
    clip's rfft bins; fixed by the preset, not by which rows are trained yet, so a row's scores
    do not change when another row is added (and kept scores stay valid)."""
    from kinema.methods.dynamics.config import FREQUENCY_CHOICES

    return min(max(FREQUENCY_CHOICES), period // 2 + 1)


def progress_files(runs: Path, preset: str) -> tuple[Path, Path]:
    """Where a stopped benchmark's finished work is kept: (the scores of each model seed, JSON;
    the folder of the pictured rows' sample volumes)."""
    folder = Path(runs) / "bench-progress"
    return folder / f"dynamics-table2-{preset}.json", folder / f"dynamics-table2-{preset}-volumes"


def table2_benchmark(out_dir: Path = Path("benchmarks"), runs: Path = Path("runs"), preset: str = "small150",
                     num_videos: int = 32, num_samples: int = 4, **options) -> tuple[Path, Path]:
    """``kinema bench dynamics-table2 --runs runs --preset small150``; see the module docstring.
    Sampling every model seed takes hours on a CPU: each finished one is kept
    (``progress_files``, keyed by the model's weights, the pictures and the settings), so a
    stopped benchmark goes on where it was."""
    from safetensors.torch import load_file, save_file

    from kinema.bench.kept import KeptResults, content_key
    from kinema.bench.harness import write_benchmark
    from kinema.data.synthetic.swaying import Swaying
    from kinema.errors import KinemaError
    from kinema.methods.dynamics.config import motion_data, parse_preset
    from kinema.methods.dynamics.oracle import oracle_volumes
    from kinema.methods.dynamics.scores import MOTION_VIDEO_STRIDE
    from kinema.pretrained import load_pretrained

    started = time.perf_counter()
    p = parse_preset(preset)
    groups = run_groups(Path(runs), p["base"])
    full = f"dynamics-attention-{p['base']}"
    if full not in groups:
        raise KinemaError(f"dynamics-table2 needs the trained full model {Path(runs) / full}: "
                          f"make -f benchmarks/runs.mk dynamics-table2 trains every row")
    data = motion_data(preset, "test").options
    options_used = {**data["source_options"], "num_videos": num_videos}
    source = Swaying("test", num_frequencies=data["num_frequencies"], **options_used)
    items = [source[i] for i in range(len(source))]
    pictures = torch.stack([item["image"] for item in items])
    period = source.num_frames
    models = {name: [load_pretrained(run / "model").eval() for run in group] for name, group in groups.items()}
    k_eval = evaluation_bins(period)
    real = true_features(items)
    kept_file, volumes_folder = progress_files(runs, preset)
    kept = KeptResults(kept_file)
    # the pictures show the full model, stage A alone and the volume baseline, then the oracle
    pictured = [f"{stage}-{p['base']}{variant}" for stage, variant in
                (("attention", ""), ("diffusion", ""), ("diffusion", "-volume"))]
    rows, shown = [], {}
    for name, group in models.items():
        per_seed = []
        for seed, model in enumerate(group):
            key = f"{content_key(model, pictures)}|{num_samples}|{seed}|{k_eval}|{MOTION_VIDEO_STRIDE}"
            pictured_here = seed == 0 and name.removeprefix("dynamics-") in pictured
            volumes_file = volumes_folder / f"{key.replace('|', '-')}.safetensors"
            if key in kept and (not pictured_here or volumes_file.is_file()):
                per_seed.append(kept[key])
                if pictured_here:
                    shown[name.removeprefix("dynamics-")] = load_file(volumes_file)["volumes"]
                continue
            volumes = model_volumes(model, pictures, num_samples, seed)
            if pictured_here:
                shown[name.removeprefix("dynamics-")] = volumes[:SHOWN_PICTURES].clone()
                volumes_folder.mkdir(parents=True, exist_ok=True)
                save_file({"volumes": shown[name.removeprefix("dynamics-")].contiguous()}, volumes_file)
            kept[key] = scores_of(volumes, items, period, k_eval, real)
            per_seed.append(kept[key])
        rows.append({"row": name.removeprefix("dynamics-"), **summary(per_seed)})
    seeds = len(groups[full])
    zero = torch.zeros(len(items), 1, k_eval, 4, *pictures.shape[-2:])
    rows.append({"row": "repeat I0", **summary([scores_of(zero, items, period, k_eval, real)])})
    oracle = []
    for seed in range(seeds):
        volumes = torch.stack([oracle_volumes(source, item, num_samples, 1000 * seed + i) for i, item in enumerate(items)])
        oracle.append(scores_of(volumes, items, period, k_eval, real))
        if seed == 0:
            shown["oracle"] = volumes[:SHOWN_PICTURES]
    rows.append({"row": "oracle (the data's law, random phases)", **summary(oracle)})

    def cell(score: dict) -> str:
        return f"{score['mean']:.3f}" + (f" ± {score['std']:.3f}" if score["std"] is not None else " (1 seed)")

    lines = [f"Held-out `swaying` pictures ({num_videos}, {p['image_size'][0]} px, {period}-frame clips; "
             f"options {options_used}); {num_samples} DPM-Solver++ samples (20 steps, CFG 1.75) per picture; "
             f"mean ± standard deviation over a row's seeds (runs and their -seedK re-runs; the oracle: "
             f"{seeds} sampling seeds). Amplitude error over bins 1..{k_eval - 1} (phase-invariant, px); "
             f"seam of one period in a loop (position + velocity of Eq. (5), px). Motion-FD: Fréchet distance of "
             f"optical-flow statistics (kinema.metrics.flow_statistics) of the pictures moved by each sample's "
             f"motion (plain softmax splat, every {MOTION_VIDEO_STRIDE}th frame) against the same pictures moved "
             f"by their true motion: a video metric that sees motion, not appearance.", "",
             "| row | paper's name | amplitude error (px) | trajectory EPE (px) | best of n EPE (px) | motion-FD | "
             "seam (px) | wrap speed / mean speed |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['row']} | {paper_name(r['row'], p['base']) or '-'} | " + " | ".join(cell(r[key]) for key in SCORES)
              + " |" for r in rows]
    lines += [""] + claim_lines(rows, full.removeprefix("dynamics-"), p["base"])
    shown = {label: shown[label] for label in [*pictured, "oracle"] if label in shown}
    lines += [""] + write_pictures(Path(out_dir), items, shown, period)
    lines += [f"Wall time {time.perf_counter() - started:.0f} s ({torch.get_num_threads()} thread(s))."]
    return write_benchmark(out_dir, "dynamics-table2", "Generative Image Dynamics: Table 2 with motion scores",
                           lines, {"preset": preset, "num_videos": num_videos, "num_samples": num_samples,
                                   "k_eval": k_eval, "rows": rows})
