"""``kinema bench dynamics-oracle``: what the measures of ``scores.py`` can show on held-out
``swaying`` pictures, before any training: the oracle (``oracle.py``: the law of the data, phases
and directions drawn at random), repeat-I0 (no motion, S = 0) and the K-bin ground truth itself
(the truncation's floor), for the preset's data with a wind direction per region and per scene.

Per row, means over the pictures: the amplitude error (phase-invariant, px, over bins 1..K-1),
the trajectory end-point error of one sample, the best of n samples' error, the seam of one
period played in a loop (position and velocity terms of Eq. (5), px; the speed across the wrap
over the mean speed), the pop: the mean |F(0)| of the K-bin series, px (the picture itself is
frame 0's truth, F(0) = 0; a truncated series does not return there), beside the mean |F|.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

WINDS = ("region", "scene")


def picture_rows(source, item: dict, num_samples: int, seed: int) -> dict[str, dict]:
    """The scores of each row on one held-out item: {row: {score: value}}."""
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.oracle import oracle_volumes
    from kinema.methods.dynamics.scores import amplitude_error, best_of_n_error, seam_scores

    truth, trajectories = item["spectral_volume"].double(), item["trajectories"].double()
    period = source.num_frames
    candidates = {"repeat I0": torch.zeros_like(truth)[None],
                  f"oracle ({num_samples} samples)": oracle_volumes(source, item, num_samples, seed).double(),
                  "K-bin ground truth": truth[None]}
    rows = {}
    for name, volumes in candidates.items():
        motion = spectral_volume_to_motion(volumes, period, period=period)             # (n t 2 h w)
        amplitude = amplitude_error(volumes, truth, period)
        seam = seam_scores(motion[0])
        rows[name] = {"amplitude_error": amplitude["mean"],
                      "amplitude_per_frequency": amplitude["per_frequency"].tolist(),
                      "spectrum": amplitude["predicted_spectrum"].tolist(),
                      "true_spectrum": amplitude["true_spectrum"].tolist(),
                      "trajectory_epe": float(best_of_n_error(motion[None, :1], trajectories[None])[0]),
                      "best_of_n_epe": float(best_of_n_error(motion[None], trajectories[None])[0]),
                      "seam_position": float(seam["position"]), "seam_velocity": float(seam["velocity"]),
                      "wrap_speed_ratio": float(seam["wrap_speed_ratio"]),
                      "pop": float(torch.linalg.vector_norm(motion[0, 0], dim=0).mean()),
                      "mean_motion": float(torch.linalg.vector_norm(motion[0], dim=1).mean())}
    return rows


def study(source_options: dict, num_frequencies: int, num_videos: int, num_samples: int, seed: int = 0) -> dict:
    """Every row's mean and standard deviation over ``num_videos`` held-out pictures of a
    ``swaying`` source with ``source_options``, for each wind setting."""
    from kinema.data.synthetic.swaying import Swaying

    result = {}
    for wind in WINDS:
        options = {**source_options, "num_videos": num_videos, "wind": wind}
        source = Swaying("test", num_frequencies=num_frequencies, **options)
        per_picture = [picture_rows(source, source[i], num_samples, seed + i) for i in range(len(source))]
        rows = {}
        for name in per_picture[0]:
            values = {key: torch.tensor([p[name][key] for p in per_picture], dtype=torch.float64)
                      for key in per_picture[0][name]}
            rows[name] = {key: {"mean": v.mean(dim=0).tolist(), "std": v.std(dim=0).tolist()}
                          for key, v in values.items()}
            # paired with standing still on the same picture: on how many it is closer
            rows[name]["pictures_below_repeat_i0"] = {
                key: sum(p[name][key] < p["repeat I0"][key] for p in per_picture) for key in ("amplitude_error",
                                                                                          "best_of_n_epe")}
            rows[name]["pictures"] = len(per_picture)
        result[wind] = rows
    return result


def table_lines(result: dict, num_samples: int) -> list[str]:
    lines = []
    for wind, rows in result.items():
        lines += [f"## Wind direction per {wind}", "",
                  "| row | amplitude error (px) | trajectory EPE (px) | best of n EPE (px) | seam position (px) "
                  "| seam velocity (px) | wrap speed / mean speed | pop: mean \\|F(0)\\| (px) | mean \\|F\\| (px) "
                  "| pictures closer than repeat-I0 (amplitude / best of n) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in rows.items():
            cells = [f"{r[key]['mean']:.3f} ± {r[key]['std']:.3f}" for key in
                     ("amplitude_error", "trajectory_epe", "best_of_n_epe", "seam_position", "seam_velocity",
                      "wrap_speed_ratio", "pop", "mean_motion")]
            wins = r["pictures_below_repeat_i0"]
            cells.append(f"{wins['amplitude_error']} / {wins['best_of_n_epe']} of {r['pictures']}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        truth = rows["K-bin ground truth"]["spectrum"]["mean"]
        oracle = next(r for name, r in rows.items() if name.startswith("oracle"))
        shown = min(len(truth), 12)
        lines += ["", f"Amplitude per frequency bin (px, mean over pixels and pictures; bins 0..{shown - 1}): "
                      "the truth, and the oracle's error per bin", "",
                  "| bin | " + " | ".join(str(k) for k in range(shown)) + " |",
                  "|---|" + "---:|" * shown,
                  "| true amplitude | " + " | ".join(f"{v:.3f}" for v in truth[:shown]) + " |",
                  "| oracle error | "
                  + " | ".join(f"{v:.3f}" for v in oracle["amplitude_per_frequency"]["mean"][:shown]) + " |",
                  "| repeat-I0 error | " + " | ".join(
                      f"{v:.3f}" for v in rows["repeat I0"]["amplitude_per_frequency"]["mean"][:shown]) + " |", ""]
    return lines


def oracle_benchmark(out_dir: Path = Path("benchmarks"), preset: str = "small150", num_videos: int = 64,
                     num_samples: int = 8, **options) -> tuple[Path, Path]:
    """``kinema bench dynamics-oracle [--preset small150] [--num-videos 64]``: no training; the
    held-out ``swaying`` pictures of the preset's motion data (``config.motion_data``)."""
    from kinema.bench.harness import write_benchmark
    from kinema.errors import KinemaError
    from kinema.methods.dynamics.config import motion_data, parse_preset

    started = time.perf_counter()
    data = motion_data(preset, "test").options
    if data["source"] != "swaying":
        raise KinemaError(f"dynamics-oracle needs a preset whose motion data is swaying (tiny, small, "
                          f"small150); {preset} reads {data['source']}")
    source_options = {k: v for k, v in data["source_options"].items() if k not in ("num_videos", "wind")}
    result = study(source_options, data["num_frequencies"], num_videos, num_samples)
    p = parse_preset(preset)
    lines = [f"Held-out `swaying` pictures ({num_videos}, {p['image_size'][0]} px, {p['frames']}-frame clips, "
             f"K = {p['k']} bins; options {source_options}), mean ± standard deviation over the pictures. "
             f"The oracle knows the law of the data (regions, brightness -> frequency, texture -> amplitude) "
             f"and draws phases and directions at random ({num_samples} samples per picture; the trajectory "
             f"EPE is its first). Nothing is trained: this is what the measures can show.", "",
             *table_lines(result, num_samples),
             f"Wall time {time.perf_counter() - started:.0f} s ({torch.get_num_threads()} thread(s))."]
    return write_benchmark(out_dir, "dynamics-oracle", "Generative Image Dynamics: the oracle and the measures",
                           lines, {"preset": preset, "num_videos": num_videos, "num_samples": num_samples,
                                   "source_options": source_options, "rows": result})
