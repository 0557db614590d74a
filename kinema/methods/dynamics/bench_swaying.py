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

Not measured here: domain FID/KID/FVD and the sliding-window FID, which need a swaying domain
extractor that learns its labels (the existing one does not), and rendered-video metrics.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from kinema.errors import KinemaError


def _runs(root: Path, base: str) -> dict[str, Path]:
    found = {}
    for stage in ("attention", "diffusion"):
        for run in sorted(root.glob(f"dynamics-{stage}-{base}*")):
            if (run / "model" / "config.json").is_file():
                found[run.name] = run
    return found


def motion_errors(model, pictures, volumes, trajectories, seed: int = 0, sampler: str = "dpm",
                  steps: int | None = None, loop: bool = False) -> dict:
    """Spectral and trajectory errors of one sample per picture (batches of 8)."""
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.sampling import predict_spectral_volume

    spectral, epe = [], []
    for start in range(0, len(pictures), 8):
        predicted = predict_spectral_volume(model, pictures[start:start + 8], seed=seed + start, sampler=sampler,
                                            steps=steps, loop=loop, progress=False)[:, 0]
        truth = volumes[start:start + 8]
        spectral.append((predicted - truth).abs().mean(dim=(1, 2, 3, 4)))
        motion = spectral_volume_to_motion(predicted, model.period, period=model.period)
        epe.append(torch.linalg.vector_norm(motion - trajectories[start:start + 8], dim=2).mean(dim=(1, 2, 3)))
    return {"spectral_error": float(torch.cat(spectral).mean()), "trajectory_epe": float(torch.cat(epe).mean())}


def loop_frames(period: int) -> int:
    """The loop length of the seam study: 3/4 of a period (not a whole number of cycles)."""
    return max(2, round(0.75 * period))


def seam_study(model, pictures, num_seeds: int) -> dict:
    from kinema.methods.dynamics.motion import seam_error
    from kinema.methods.dynamics.sampling import predict_spectral_volume

    # A loop of exactly one period is seamless by construction (the K-bin Fourier series repeats
    # every ``period`` frames); self-guidance matters for other lengths: 3/4 of a period here.
    frames = loop_frames(model.period)
    result = {"frames": frames}
    for loop in (False, True):
        errors = []
        for seed in range(num_seeds):
            volume = predict_spectral_volume(model, pictures[:1], seed=seed, sampler="dpm", loop=loop,
                                             loop_frames=frames, progress=False)[:, 0]
            errors.append(float(seam_error(volume, frames, model.period)[0]))
        result["guided" if loop else "unguided"] = {"mean": sum(errors) / len(errors), "seeds": num_seeds}
    result["guided_is_lower"] = result["guided"]["mean"] < result["unguided"]["mean"]
    return result


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


@torch.no_grad()
def swaying_benchmark(out_dir: Path = Path("benchmarks"), runs: Path = Path("runs"), preset: str = "small",
                      num_videos: int = 32, num_seeds: int = 16, **options) -> tuple[Path, Path]:
    """See the module docstring."""
    from kinema.bench.harness import write_benchmark
    from kinema.data import load_dataset
    from kinema.methods.dynamics.config import parse_preset
    from kinema.pretrained import load_pretrained

    base = parse_preset(preset)["base"]
    found = _runs(Path(runs), base)
    main = f"dynamics-attention-{base}"
    if main not in found:
        raise KinemaError(f"dynamics-swaying needs the trained full model {Path(runs) / main}: train "
                          f"dynamics-vae, dynamics-diffusion and dynamics-attention with --preset {base}")
    started = time.perf_counter()
    first = load_pretrained(found[main] / "model").eval()
    (h, _), period = first.image_size, first.period
    test = load_dataset("swaying", "test", num_videos=num_videos, size=h, num_frames=period)
    items = [test[i] for i in range(num_videos)]
    pictures = torch.stack([i["image"] for i in items])
    trajectories = torch.stack([i["trajectories"] for i in items])
    rows = [{"model": "repeat I0 (no motion)", "run": "-",
             "spectral_error": float(torch.stack([i["spectral_volume"] for i in items]).abs().mean()),
             "trajectory_epe": float(torch.linalg.vector_norm(trajectories, dim=2).mean())}]
    for name, run in found.items():
        model = load_pretrained(run / "model").eval()
        k = model.num_frequencies
        volumes = torch.stack([i["spectral_volume"][:k] for i in items])
        if model.period != period:
            continue
        rows.append({"model": name.removeprefix("dynamics-"), "run": str(run),
                     **motion_errors(model, pictures, volumes, trajectories)})
    k = first.num_frequencies
    volumes = torch.stack([i["spectral_volume"][:k] for i in items])
    seams = seam_study(first, pictures, num_seeds)
    cost = sampler_cost(first, pictures[:8], volumes[:8], trajectories[:8])
    energy = poke_energy(first, pictures[:1])
    lines = [f"Held-out `swaying` pictures ({num_videos}, {h} px, {period}-frame clips; exact ground truth), "
             f"one DPM-Solver++ sample (20 steps, CFG w = 1.75) per picture.", "",
             "| model | spectral-volume error (px) | trajectory EPE (px) |", "|---|---:|---:|"]
    lines += [f"| {r['model']} | {r['spectral_error']:.3f} | {r['trajectory_epe']:.3f} |" for r in rows]
    lines += ["", f"## Seamless loops of {seams['frames']} frames ({num_seeds} seeds, one picture): seam error of "
              f"Eq. (5), px (a loop of the whole {period}-frame period is seamless by construction)", "",
              "| sampling | mean seam error |", "|---|---:|",
              f"| without self-guidance | {seams['unguided']['mean']:.4f} |",
              f"| with self-guidance (u = 200) | {seams['guided']['mean']:.4f} |", "",
              "## Sampler cost (8 pictures): spectral error", "", "| sampler | network evaluations | error |",
              "|---|---:|---:|", f"| DDIM {cost['ddim_steps']} | {cost['ddim_evaluations']} | {cost['ddim_250_error']:.4f} |"]
    lines += [f"| DPM-Solver++ {r['steps']} | {r['evaluations']} | {r['spectral_error']:.4f} |" for r in cost["dpm"]]
    lines += ["", f"Fewest DPM-Solver++ evaluations within 5 % of DDIM-250: {cost['dpm_evaluations_within_5pct']}", "",
              "## Poke energy (modal basis of a predicted volume, 1000 steps)", "",
              "| damping | max change of the energy | max change of the modified energy | final / initial energy |",
              "|---:|---:|---:|---:|"]
    lines += [f"| {k.split()[-1]} | {v['max_energy_change']:.3g} | {v['max_modified_energy_change']:.3g} | "
              f"{v['final_energy_ratio']:.3g} |" for k, v in energy.items()]
    lines += ["", "Not measured: domain FID/KID/FVD and sliding-window FID (no swaying domain extractor that "
              "learns its labels yet), rendered-video metrics.", "", f"Wall time {time.perf_counter() - started:.0f} s."]
    record = {"rows": rows, "seams": seams, "sampler_cost": cost, "poke_energy": energy, "num_videos": num_videos}
    return write_benchmark(out_dir, "dynamics-swaying", "Generative Image Dynamics on swaying: motion claims",
                           lines, record)
