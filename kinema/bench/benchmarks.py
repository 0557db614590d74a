"""Named benchmarks: data + protocol + methods + metrics, written as a Markdown table and JSON
(``kinema.bench.harness.write_benchmark``). The core ones check the measuring itself; every
method's benchmarks live in its own folder and are named by its registry entry's
``benchmarks`` field (``kinema methods`` lists them), so this file names no method.

- ``metrics-sanity``: on held-out real data, distance(real, real') < distance(real, real'
  shuffled in time) < distance(real, noise), for domain FVD / KVD and per-frame domain FID / KID.
- ``eval-memory``: peak memory of ``kinema eval`` at 64 and at 1024 videos.
- ``speed``: training steps against plain PyTorch, the trainer against a bare loop, ILE's
  memory-saving backward (``kinema.bench.speed``).
- ``precision``: every trainable stage's train step and loss in bf16 against fp32
  (``kinema.bench.precision``).
- ``gpu-check``: a few bf16 steps of every stage's paper preset on a GPU, then eval and
  animate there (``kinema.bench.gpu_check``, also ``scripts/gpu-check.sh``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from kinema.bench.harness import write_benchmark


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# --- metrics sanity ---------------------------------------------------------------------------

SANITY_METRICS = ("domain-fvd", "domain-fid", "domain-kvd", "domain-kid")


def sanity_distances(extractor, real, other, num_frames: int, seed: int = 0,
                     device: str = "cpu") -> dict:
    """Distances of ``real`` (n t c h w) to: ``other`` (real'), ``other`` shuffled in time,
    and uniform noise; for each sanity metric, with the extractor on ``device``."""
    import torch

    from kinema.metrics import build_metric

    g = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(num_frames, generator=g) for _ in range(len(other))])
    shuffled = torch.stack([v[o] for v, o in zip(other, order)])
    noise = torch.rand(other.shape, generator=g) * 2 - 1
    from kinema.devices import move

    cache = {"domain": move(extractor, device)}
    out = {}
    for name, fake in (("real'", other), ("shuffled in time", shuffled), ("noise", noise)):
        out[name] = {}
        for metric_name in SANITY_METRICS:
            # KID: a reservoir larger than the stream, so the exact MMD² of all features
            extra = {"reservoir": 10 * len(real) * num_frames} if "ki" in metric_name or "kv" in metric_name else {}
            metric = build_metric(metric_name, feature_cache=cache, **extra)
            for s in range(0, len(real), 50):
                metric.update(fake[s:s + 50].unsqueeze(1).to(device), real[s:s + 50].to(device))
            key = metric_name.replace("-", "_")
            out[name][metric_name] = metric.compute()[key]
    return out


def metrics_sanity_benchmark(out_dir: Path, extractor: str | None = None, data: str = "clouds",
                             num_videos: int = 200, device: str = "cpu",
                             **_) -> tuple[Path, Path]:
    import torch

    from kinema.data import load_dataset
    from kinema.metrics.features.domain import load_domain_extractor
    from kinema.metrics.features.domain_train import accuracy_sentence, recipe_for, train_extractor

    recipe = recipe_for(data)
    training = None
    if extractor is None:
        extractor = str(out_dir.parent / "runs" / "extractors" / data)
        training = train_extractor(data, extractor, recipe=recipe)
    elif (Path(extractor) / "training.json").is_file():
        training = json.loads((Path(extractor) / "training.json").read_text())
    net = load_domain_extractor(extractor)
    test = load_dataset(data, "test", num_videos=2 * num_videos, num_frames=recipe.num_frames,
                        size=recipe.size)
    videos = torch.stack([test[i]["video"] for i in range(len(test))])
    real, other = videos[:num_videos], videos[num_videos:]
    table = sanity_distances(net, real, other, recipe.num_frames, device=device)
    body = [f"Held-out `{data}` test clips: real = clips 0-{num_videos - 1}, real' = clips "
            f"{num_videos}-{2 * num_videos - 1}; shuffled = real' with frames permuted in time; "
            f"noise = uniform in [-1, 1]. Features: the domain extractor trained by the "
            f"recipe (`kinema metrics train-extractor --data {data}`).", ""]
    if training:
        body += [accuracy_sentence(training), ""]
    body += ["| distance of real to | " + " | ".join(SANITY_METRICS) + " |",
             "|---" * (len(SANITY_METRICS) + 1) + "|"]
    for name, values in table.items():
        body.append(f"| {name} | " + " | ".join(_fmt(values[m]) for m in SANITY_METRICS) + " |")
    clip_ok = all(table["real'"][m] < table["shuffled in time"][m] < table["noise"][m]
                  for m in ("domain-fvd", "domain-kvd"))
    frame_ok = all(table["real'"][m] < table["noise"][m] and table["shuffled in time"][m] < table["noise"][m]
                   for m in ("domain-fid", "domain-kid"))
    body += ["", f"Clip metrics order real' < shuffled < noise: **{'holds' if clip_ok else 'FAILS'}**.",
             f"Per-frame metrics: real' and shuffled < noise: **{'holds' if frame_ok else 'FAILS'}**. "
             "Shuffling frames in time leaves the set of frames unchanged, so a per-frame "
             "distance cannot tell real' from its shuffle (equal up to rounding, and up to KID's "
             "random subsets, drawn from rows in another order); that blindness to time is why "
             "FVD exists."]
    record = {"data": data, "num_videos": num_videos, "extractor": extractor,
              "extractor_training": training, "distances": table,
              "clip_order_holds": clip_ok, "frame_order_holds": frame_ok}
    return write_benchmark(out_dir, "metrics-sanity", "Sanity of the metrics", body, record)


# --- memory -------------------------------------------------------------------------------------

def eval_memory_benchmark(out_dir: Path, extractor: str | None = None, device: str = "cpu",
                          **_) -> tuple[Path, Path]:
    """Runs `kinema eval` in fresh processes at 64 and 1024 videos and compares peak RSS."""
    import subprocess
    import tempfile

    metrics = "psnr,ssim" + (",domain-fvd,domain-kid" if extractor else "")
    rows, record = [], {"runs": []}
    for n in (64, 1024):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "results.json"
            cmd = [sys.executable, "-m", "kinema", "eval", "repeat-last", "--data", "bouncing-digits",
                   "--metrics", metrics, "--num-videos", str(n), "--num-frames", "16",
                   "--context-frames", "4", "--batch-size", "32", "--option", "size=32",
                   "--out", str(out), "--device", str(device)]
            if extractor:
                cmd += ["--extractor", extractor]
            subprocess.run(cmd, check=True, capture_output=True)
            result = json.loads(out.read_text())
        record["runs"].append(result)
        rows.append((n, result["peak_rss_mb"], result["seconds"]))
    body = [f"`kinema eval repeat-last --data bouncing-digits --metrics {metrics} "
            f"--num-frames 16 --context-frames 4 --option size=32`, each in a fresh process; "
            f"peak resident memory from getrusage (ru_maxrss).", "",
            "| videos | peak RSS (MB) | seconds |", "|---|---|---|"]
    body += [f"| {n} | {rss:.0f} | {sec:.1f} |" for n, rss, sec in rows]
    return write_benchmark(out_dir, "eval-memory", "Peak memory of kinema eval", body, record)


CORE_BENCHMARKS = {"metrics-sanity": metrics_sanity_benchmark,
                   "eval-memory": eval_memory_benchmark,
                   "speed": "kinema.bench.speed:speed_benchmark",   # imported when run
                   "precision": "kinema.bench.precision:precision_benchmark",
                   "gpu-check": "kinema.bench.gpu_check:gpu_check_benchmark",
                   "bundled-models": "kinema.bundled.bench:bundled_models_benchmark"}


def benchmarks() -> dict[str, str | object]:
    """Every benchmark: the core ones, then each method entry's ``benchmarks`` (name ->
    ``"module:function"``, imported when run). A name claimed twice is an error naming both."""
    from kinema.errors import KinemaError
    from kinema.registry import entries

    found: dict = dict(CORE_BENCHMARKS)
    owners = {name: "kinema.bench.benchmarks" for name in found}
    for e in entries():
        for name, target in e.benchmarks.items():
            if name in owners:
                if found[name] != target:   # (one target named by two stages is fine)
                    raise KinemaError(f"benchmark {name!r} is registered twice: by "
                                      f"{owners[name]} and by the {e.name} entry ({target})")
                continue
            found[name], owners[name] = target, f"the {e.name} entry"
    return found


def run_benchmark(name: str, out_dir: Path, **options) -> tuple[Path, Path]:
    """Run benchmark ``name``; ``device`` reaches it only when its function names a ``device``
    parameter (a note on stderr says when a non-CPU device does not)."""
    import inspect

    from kinema.errors import KinemaError
    from kinema.registry import resolve

    known = benchmarks()
    if name not in known:
        raise KinemaError(f"unknown benchmark {name!r}; known: {', '.join(sorted(known))}")
    run = known[name]
    run = resolve(run) if isinstance(run, str) else run
    device = options.pop("device", None)
    if device is not None and "device" in inspect.signature(run).parameters:
        options["device"] = device
    elif device is not None and str(device) != "cpu":
        print(f"note: benchmark {name} takes no --device: what it computes in this process runs "
              f"on the CPU (the kinema commands it starts get {device})", file=sys.stderr)
    return run(Path(out_dir), **{k: v for k, v in options.items() if v is not None})
