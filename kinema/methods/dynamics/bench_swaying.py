"""``kinema bench dynamics-swaying``: the paper's motion claims on held-out ``swaying`` pictures,
whose spectral volumes are known exactly, from trained runs (``--runs``, default ``runs``):

- every motion model found (``dynamics-attention-BASE*``: the full model and its K / normalisation
  ablations; ``dynamics-diffusion-BASE*``: "Independent pred." and "Volume pred."), and the
  repeat-I0 baseline (no motion: S = 0): spectral-volume error (mean |S - S_gt| in px over the
  K bins and 4 channels) and trajectory end-point error (mean ||F_t - F_t^gt|| over the clip's
  frames) of one sample per picture;
- for the full model: the loop seam error (``motion.seam_error``, Eq. (5)) with and without
  motion self-guidance over ``num_seeds`` seeds (>= 16); sampler cost: the spectral error of
  DDIM with 250 steps against DPM-Solver++ at increasing steps, and the fewest network
  evaluations (2 per step: CFG) within 5 % of DDIM-250's error; the poke's energy behaviour
  on a predicted modal basis (undamped drift over 1000 steps, damped decay).

With the trained renderer (``dynamics-render-BASE``, and ``-baseline-splat`` for Table 2's
"baseline splat"): rendered-video domain FID/KID, FVD on 16 frames and on the period, and the
sliding-window FID over time (Fig. 6), with a sample grid, X-t slices and the FID curves
(``bench_videos``).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from kinema.errors import KinemaError
from kinema.methods.dynamics.sampling import DEFAULT_STEPS, LOOP_SAMPLER, LOOP_STEPS


def _runs(root: Path, base: str) -> dict[str, Path]:
    found = {}
    for stage in ("attention", "diffusion"):
        for run in sorted(root.glob(f"dynamics-{stage}-{base}*")):
            if (run / "model" / "config.json").is_file():
                found[run.name] = run
    return found


# both motion tables: what their spectral-error column can and cannot compare
SPECTRAL_ERROR_NOTE = ("The spectral-volume error is the mean over a model's own K bins (the lowest bins move the "
                       "most, so fewer bins mean a larger mean): compare it between rows of one K; the trajectory "
                       "error compares every row (the K = 24 rows on their own, longer clips).")


def row_label(run_name: str, model, period: int) -> str:
    """A motion model's row: its run without ``dynamics-``, and its clip length when that is not
    the table's ``period`` (K = 24 needs 2(K-1) frames at least: 48, not 32)."""
    return run_name.removeprefix("dynamics-") + ("" if model.period == period else f" ({model.period}-frame clips)")


def trained_models(runs: Path, preset: str, benchmark: str) -> tuple[dict[str, Path], str, object]:
    """(every motion-model run of the preset's base, the full model's run name, the full model
    loaded); one error naming the stages to train when the full model is missing."""
    from kinema.methods.dynamics.config import parse_preset
    from kinema.pretrained import load_pretrained

    base = parse_preset(preset)["base"]
    found = _runs(Path(runs), base)
    main = f"dynamics-attention-{base}"
    if main not in found:
        raise KinemaError(f"{benchmark} needs the trained full model {Path(runs) / main}: train "
                          f"dynamics-vae, dynamics-diffusion and dynamics-attention with --preset {base}")
    return found, main, load_pretrained(found[main] / "model").eval()


def predicted_volumes(model, pictures, seed: int = 0, sampler: str = "dpm", steps: int | None = None,
                      loop: bool = False) -> torch.Tensor:
    """One sampled spectral volume per picture (n k 4 h w), in batches of 8 (batch i: seed + i)."""
    from kinema.methods.dynamics.sampling import predict_spectral_volume

    return torch.cat([predict_spectral_volume(model, pictures[start:start + 8], seed=seed + start, sampler=sampler,
                                              steps=steps, loop=loop, progress=False)[:, 0]
                      for start in range(0, len(pictures), 8)])


def motion_errors(model, pictures, volumes, trajectories, seed: int = 0, sampler: str = "dpm",
                  steps: int | None = None, loop: bool = False, predicted: torch.Tensor | None = None) -> dict:
    """Spectral and trajectory errors of one sample per picture (``predicted``, sampled if not given)."""
    from kinema.methods.dynamics.motion import spectral_volume_to_motion

    if predicted is None:
        predicted = predicted_volumes(model, pictures, seed, sampler, steps, loop)
    spectral = (predicted - volumes).abs().mean(dim=(1, 2, 3, 4))
    motion = spectral_volume_to_motion(predicted, model.period, period=model.period)
    epe = torch.linalg.vector_norm(motion - trajectories, dim=2).mean(dim=(1, 2, 3))
    return {"spectral_error": float(spectral.mean()), "trajectory_epe": float(epe.mean())}


def loop_frames(period: int) -> int:
    """The loop length of the seam study: 3/4 of a period (not a whole number of cycles)."""
    return max(2, round(0.75 * period))


SEAM_SAMPLINGS = ((f"DPM-Solver++, {DEFAULT_STEPS['dpm']} steps", "dpm", DEFAULT_STEPS["dpm"]),
                  (f"DDIM, {LOOP_STEPS} steps, 2 self-recurrences when guided (the loop default)", LOOP_SAMPLER,
                   LOOP_STEPS))


def seam_study(model, pictures, num_seeds: int, samplings=SEAM_SAMPLINGS, frames: int | None = None,
               progress_file: Path | None = None) -> dict:
    """Seam error of Eq. (5) with and without motion self-guidance (u = 200) over ``num_seeds``
    seeds of one picture, for each (label, sampler, steps) of ``samplings``, for a loop of
    ``frames`` frames (default 3/4 of a period, not a whole number of cycles; the apps' default
    loop is one whole period, where the series repeats but can still jump at the wrap).

    Each seed is its own call (sample i of a call with seed 0 is the sample of seed i, so this
    is the batch's result), timed alone: the seconds a user waits for one loop. With
    ``progress_file`` every finished seed is kept there (JSON, written atomically), and a study
    stopped part way (the guided DDIM loops take minutes each) goes on from where it was;
    results of another model, picture or setting are not reused."""
    from kinema.bench.kept import KeptResults, content_key
    from kinema.methods.dynamics.motion import seam_error
    from kinema.methods.dynamics.sampling import predict_spectral_volume

    frames = loop_frames(model.period) if frames is None else int(frames)
    done = KeptResults(progress_file)
    # the key names the model's weights, the picture and the setting: a changed one starts afresh
    identity = content_key(model, pictures[:1])
    result = {"frames": frames, "seeds": num_seeds, "rows": []}
    for label, sampler, steps in samplings:
        row = {"sampling": label, "sampler": sampler, "steps": steps}
        for loop in (False, True):
            errors, seconds = [], []
            for seed in range(num_seeds):
                key = f"{identity}|{frames}|{sampler}|{steps}|{'guided' if loop else 'unguided'}|{seed}"
                if key not in done:
                    started = time.perf_counter()
                    volume = predict_spectral_volume(model, pictures[:1], seed=seed, sampler=sampler, steps=steps,
                                                     loop=loop, loop_frames=frames, progress=False)[0]
                    done[key] = {"seam": float(seam_error(volume, frames, model.period)[0]),
                                 "seconds": time.perf_counter() - started}
                errors.append(done[key]["seam"])
                seconds.append(done[key]["seconds"])
            values = torch.tensor(errors, dtype=torch.float64)
            row["guided" if loop else "unguided"] = {
                "mean": float(values.mean()), "median": float(values.median()), "per_seed": errors,
                "seconds_per_sample": sum(seconds) / len(seconds)}
        row["guided_is_lower"] = row["guided"]["mean"] < row["unguided"]["mean"]
        result["rows"].append(row)
    return result


def seam_lines(seams: dict, period: int) -> list[str]:
    """The seam study as a markdown section."""
    length = "one whole period, the apps' default" if seams["frames"] == period else f"of a {period}-frame period"
    lines = [f"## Seamless loops of {seams['frames']} frames ({length}; {seams['seeds']} seeds, one picture): "
             f"seam error of Eq. (5), px (position and velocity across the wrap)", "",
             "| sampling | without self-guidance: mean / median | with self-guidance (u = 200): mean / median | "
             "s per guided sample |", "|---|---:|---:|---:|"]
    for r in seams["rows"]:
        lines.append(f"| {r['sampling']} | {r['unguided']['mean']:.4f} / {r['unguided']['median']:.4f} | "
                     f"{r['guided']['mean']:.4f} / {r['guided']['median']:.4f} | "
                     f"{r['guided']['seconds_per_sample']:.1f} |")
    return lines


def sampler_cost(model, pictures, volumes, trajectories, dpm_steps=(5, 10, 20, 40)) -> dict:
    ddim_steps = min(250, model.scheduler("ddim").config.num_train_timesteps // 2)   # the paper's 250
    ddim = motion_errors(model, pictures, volumes, trajectories, sampler="ddim", steps=ddim_steps)["spectral_error"]
    rows, matched = [], None
    for steps in dpm_steps:
        error = motion_errors(model, pictures, volumes, trajectories, sampler="dpm", steps=steps)["spectral_error"]
        rows.append({"steps": steps, "evaluations": 2 * steps, "spectral_error": error})
        if matched is None and error <= 1.05 * ddim:   # within 5 % of DDIM's error
            matched = 2 * steps
    return {"ddim_steps": ddim_steps, "ddim_250_error": ddim, "ddim_evaluations": 2 * ddim_steps, "dpm": rows, "dpm_evaluations_within_5pct": matched}


def poke_energy(model, picture) -> dict:
    from kinema.methods.dynamics.modal import ModalSimulator, modal_basis, simulate
    from kinema.methods.dynamics.sampling import predict_spectral_volume

    volume = predict_spectral_volume(model, picture, sampler="dpm", progress=False)[0, 0]
    basis = modal_basis(volume, model.period)
    h, w = basis.size
    result = {}
    for damping in (0.0, 0.03):
        sim = ModalSimulator(basis, damping=damping)
        sim.poke(w // 2, h // 2, (1.0, 0.0))
        e0, m0 = sim.energy(), sim.modified_energy()
        drift, modified = 0.0, 0.0
        for _ in simulate(sim, 1001):
            drift = max(drift, abs(sim.energy() / e0 - 1))
            modified = max(modified, abs(sim.modified_energy() / m0 - 1))
        result[f"damping {damping}"] = {"max_energy_change": drift, "max_modified_energy_change": modified,
                                        "final_energy_ratio": sim.energy() / e0, "substeps": sim.substeps}
    return result


def rendered_study(runs: Path, base: str, main: str, sampled: dict, pictures, real, period: int,
                   out_dir: Path, periods: dict) -> tuple[dict, list[str]]:
    """Rendered-video metrics (``bench_videos``) of every sampled motion model, the baseline-splat
    renderer, repeat-I0 and real training clips, with the pictures; (record, markdown lines).
    A model of a longer period (``periods``: row label -> its period; K = 24) is rendered over its own period and scored
    on its first ``period`` frames, the length of the real clips."""
    import json

    from kinema.data import load_dataset
    from kinema.metrics.features.domain import load_domain_extractor
    from kinema.metrics.features.domain_train import train_extractor
    from kinema.methods.dynamics.bench_videos import extractor_note, rendered_videos, video_metrics
    from kinema.pretrained import load_pretrained

    renderer_run = runs / f"dynamics-render-{base}"
    if not (renderer_run / "model" / "config.json").is_file():
        return {}, [f"## Rendered videos: not measured (no renderer {renderer_run}: "
                    f"`kinema train dynamics-render --preset {base}`)"]
    extractor_dir = runs / "extractors" / "swaying"
    if not (extractor_dir / "config.json").is_file():
        train_extractor("swaying", extractor_dir, progress=False)
    training = json.loads((extractor_dir / "training.json").read_text())
    note, learned = extractor_note(training)
    extractor = load_domain_extractor(extractor_dir)
    renderer = load_pretrained(renderer_run / "model").eval()
    videos = {f"{label} (renderer: {renderer_run.name})":
              rendered_videos(renderer, pictures, volumes, periods[label])[:, :period]
              for label, volumes in sampled.items()}
    splat_run = runs / f"dynamics-render-{base}-baseline-splat"
    if (splat_run / "model" / "config.json").is_file() and main in sampled:
        splat = load_pretrained(splat_run / "model").eval()
        videos[f"baseline splat ({splat_run.name}, motion of {main})"] = \
            rendered_videos(splat, pictures, sampled[main], period)
    videos["repeat I0 (no motion)"] = pictures[:, None].expand(-1, period, -1, -1, -1)
    h = pictures.shape[-1]
    train = load_dataset("swaying", "train", num_videos=len(real), size=h, num_frames=period)
    videos["reference: real training clips"] = torch.stack([train[i]["video"] for i in range(len(real))])
    scores = {label: video_metrics(v.clamp(-1, 1), real, extractor) for label, v in videos.items()}
    first = next(iter(scores.values()))
    lines = [f"## Rendered videos: domain metrics ({len(real)} videos of {period} frames against as many "
             f"test clips)", "",
             f"Features of the swaying domain extractor `{extractor_dir}` (labels: motion amplitude and "
             f"frequency of the clip, 3 classes each; {note})."
             + ("" if learned else " **It does not beat the most frequent class on every label: the "
                                   "distances below do not measure motion and are not evidence.**"), "",
             f"| model | domain FID ↓ | domain KID ↓ | domain FVD16 ↓ | domain FVD{period} ↓ | "
             f"sliding FID, first / last window ↓ |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {label} | {r['fid']:.4g} | {r['kid']:.3g} | {r['fvd16']:.4g} | {r['fvd']:.4g} | "
              f"{r['fid_per_window'][0]:.4g} / {r['fid_per_window'][-1]:.4g} |" for label, r in scores.items()]
    pictures_lines = write_pictures(videos, real, scores, first, out_dir)
    return {"extractor": str(extractor_dir), "extractor_training": training, "extractor_learned": learned,
            "scores": scores}, lines + ["", *pictures_lines]


def write_pictures(videos: dict, real, scores: dict, first: dict, out_dir: Path) -> list[str]:
    """The sample grid (the real clip, then each row's video of the first test picture, every
    other frame), X-t slices of the same and the sliding-window FID curves; markdown lines."""
    from kinema.viz.grid import filmstrip, image_grid
    from kinema.viz.plots import line_plot_svg
    from kinema.viz.report import encode_png
    from kinema.viz.slices import most_moving_row, xt_slice

    out_dir.mkdir(parents=True, exist_ok=True)
    labels = ["real test clip", *videos]
    clips = torch.stack([real[0], *(v[0] for v in videos.values())]).clamp(-1, 1)
    grid, slices, curves = (out_dir / f"dynamics-swaying-{n}" for n in ("samples.png", "xt.png", "fid-window.svg"))
    grid.write_bytes(encode_png(filmstrip(clips[:, ::2]), min_size=256))
    row = most_moving_row(real[0])          # the real clip's most moving row, in every video
    slices.write_bytes(encode_png(image_grid(torch.stack([xt_slice(c, row) for c in clips]), nrow=len(clips)),
                                  min_size=256))
    x = [s + first["window"] / 2 for s in first["window_starts"]]
    curves.write_text(line_plot_svg({label: r["fid_per_window"] for label, r in scores.items()}, x=x,
                                    x_label="frame (window centre)", y_label="domain FID",
                                    title=f"sliding-window FID ({first['window']}-frame windows)"))
    order = "; ".join(f"{i + 1}: {label}" for i, label in enumerate(labels))
    return [f"- sample grid of the first test picture (rows {order}; every other frame): ![samples]({grid.name})",
            f"- X-t slices (row {row}, time downwards; same order, left to right): ![X-t slices]({slices.name})",
            f"- sliding-window FID over time (the paper's Fig. 6): ![sliding-window FID]({curves.name})"]


@torch.no_grad()
def swaying_benchmark(out_dir: Path = Path("benchmarks"), runs: Path = Path("runs"), preset: str = "small",
                      num_videos: int = 32, num_seeds: int = 16, **options) -> tuple[Path, Path]:
    """See the module docstring."""
    from kinema.bench.harness import write_benchmark
    from kinema.data import load_dataset
    from kinema.pretrained import load_pretrained

    started = time.perf_counter()
    found, main, first = trained_models(runs, preset, "dynamics-swaying")
    base = main.removeprefix("dynamics-attention-")
    (h, _), period = first.image_size, first.period
    test = load_dataset("swaying", "test", num_videos=num_videos, size=h, num_frames=period)
    items = [test[i] for i in range(num_videos)]
    pictures = torch.stack([i["image"] for i in items])
    trajectories = torch.stack([i["trajectories"] for i in items])
    rows = [{"model": "repeat I0 (no motion)", "run": "-",
             "spectral_error": float(torch.stack([i["spectral_volume"] for i in items]).abs().mean()),
             "trajectory_epe": float(torch.linalg.vector_norm(trajectories, dim=2).mean())}]
    sampled, periods = {}, {}   # row label -> its predicted spectral volumes (rendered below), its period
    clips = {period: items}     # K = 24 needs 48 frames (2(K-1) at least): the same pictures, longer clips
    for name, run in found.items():
        model = first if name == main else load_pretrained(run / "model").eval()
        if model.period not in clips:
            longer = load_dataset("swaying", "test", num_videos=num_videos, size=h, num_frames=model.period,
                                  num_frequencies=model.num_frequencies)
            clips[model.period] = [longer[i] for i in range(num_videos)]
        own = clips[model.period]
        k = model.num_frequencies
        volumes = torch.stack([i["spectral_volume"][:k] for i in own])
        label = row_label(name, model, period)
        sampled[label], periods[label] = predicted_volumes(model, pictures), model.period
        rows.append({"model": label, "run": str(run), **motion_errors(
            model, pictures, volumes, torch.stack([i["trajectories"] for i in own]), predicted=sampled[label])})
    real = torch.stack([i["video"] for i in items])
    rendered, rendered_lines = rendered_study(Path(runs), base, main.removeprefix("dynamics-"), sampled,
                                              pictures, real, period, Path(out_dir), periods)
    k = first.num_frequencies
    volumes = torch.stack([i["spectral_volume"][:k] for i in items])
    seams = seam_study(first, pictures, num_seeds)
    cost = sampler_cost(first, pictures[:8], volumes[:8], trajectories[:8])
    energy = poke_energy(first, pictures[:1])
    lines = [f"Held-out `swaying` pictures ({num_videos}, {h} px, {period}-frame clips; exact ground truth), "
             f"one DPM-Solver++ sample (20 steps, CFG w = 1.75) per picture. {SPECTRAL_ERROR_NOTE}", "",
             "| model | spectral-volume error (px) | trajectory EPE (px) |", "|---|---:|---:|"]
    lines += [f"| {r['model']} | {r['spectral_error']:.3f} | {r['trajectory_epe']:.3f} |" for r in rows]
    lines += ["", *seam_lines(seams, period), "",
              "## Sampler cost (8 pictures): spectral error", "", "| sampler | network evaluations | error |",
              "|---|---:|---:|", f"| DDIM {cost['ddim_steps']} | {cost['ddim_evaluations']} | {cost['ddim_250_error']:.4f} |"]
    lines += [f"| DPM-Solver++ {r['steps']} | {r['evaluations']} | {r['spectral_error']:.4f} |" for r in cost["dpm"]]
    lines += ["", f"Fewest DPM-Solver++ evaluations within 5 % of DDIM-250: {cost['dpm_evaluations_within_5pct']}", "",
              "## Poke energy (modal basis of a predicted volume, 1000 steps)", "",
              "| damping | max change of the energy | max change of the modified energy | final / initial energy |",
              "|---:|---:|---:|---:|"]
    lines += [f"| {k.split()[-1]} | {v['max_energy_change']:.3g} | {v['max_modified_energy_change']:.3g} | "
              f"{v['final_energy_ratio']:.3g} |" for k, v in energy.items()]
    lines += ["", *rendered_lines, "", f"Wall time {time.perf_counter() - started:.0f} s."]
    record = {"rows": rows, "rendered": rendered, "seams": seams, "sampler_cost": cost, "poke_energy": energy,
              "num_videos": num_videos}
    return write_benchmark(out_dir, "dynamics-swaying", "Generative Image Dynamics on swaying: motion claims",
                           lines, record)


@torch.no_grad()
def loops_benchmark(out_dir: Path = Path("benchmarks"), runs: Path = Path("runs"), preset: str = "small",
                    num_seeds: int = 16, **options) -> tuple[Path, Path]:
    """``kinema bench dynamics-loops``: the seam study alone (the full model only, no renderer):
    the seam error of Eq. (5) with and without self-guidance for each sampler of ``SEAM_SAMPLINGS``
    over ``num_seeds`` seeds of the first held-out picture, for loops of one whole period (the
    apps' default) and of 3/4 of one."""
    from kinema.bench.harness import write_benchmark
    from kinema.data import load_dataset

    started = time.perf_counter()
    _, main, model = trained_models(runs, preset, "dynamics-loops")
    (h, _), period = model.image_size, model.period
    pictures = load_dataset("swaying", "test", num_videos=1, size=h, num_frames=period)[0]["image"][None]
    # each finished seed is kept beside the model's run: a stopped study goes on where it was
    progress = Path(runs) / main / "seam-study.json"
    studies = [seam_study(model, pictures, num_seeds, frames=frames, progress_file=progress)
               for frames in (period, loop_frames(period))]
    lines = [f"The full model (`{Path(runs) / main}`), CFG w = 1.75, self-guidance weight u = 200 (the paper's), "
             f"on the first held-out `swaying` picture ({h} px). The paper samples loops by DDIM with 500 steps "
             f"and 2 self-recurrence iterations; u * grad L_g is a gradient step on the seam whose size grows with "
             f"the sampler's stride, so fewer, larger steps can overshoot.", ""]
    for seams in studies:
        lines += [*seam_lines(seams, period), ""]
    lines.append(f"Wall time {time.perf_counter() - started:.0f} s ({torch.get_num_threads()} thread(s)).")
    return write_benchmark(out_dir, "dynamics-loops", "Generative Image Dynamics: seamless loops by self-guidance",
                           lines, {"seams": studies, "model": str(Path(runs) / main)})
