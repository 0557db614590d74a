"""``kinema bench ile-bouncing-digits``: the ILE paper's comparison (Fig. 4), reproduced.

Protocol, as far as the paper states it (Sec. 3.3, Fig. 4): the mean over 100 held-out test
sequences of Bouncing-MNIST (Moving Symbols: one digit, elastic bounces, speed up to 3 px per
frame), future frames o1..o5 generated, PSNR and SSIM scored on o1 and o5. The paper does not
state the number of observed frames or the image size; we observe 5 frames (the ILE config's
``context_frames``) and use 32x32 frames (the ``small`` presets) on ``bouncing-digits``.

Rows: ILE (mean prediction C A^t x0* decoded through g), Mathieu et al. (the adversarial
baseline; it sees the last 4 observed frames, its architecture's input), repeat-last-input,
the linear dynamic texture fitted on the training split, and the control "blank frames": see
``BLANK_NOTE``. Also ILE's training objective on the held-out sequences (Eq. (2) with the
Sec. 2.6 scale layer, bits/dim: scale-invariant, not a normalised likelihood) and its value on
o1..o5 given the observed frames, and how long every model was trained.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from kinema.errors import KinemaError

NAME = "ile-bouncing-digits"
DATA = "bouncing-digits"
IMAGE_SIZE = 32          # not given in the paper; the small presets' size
CONTEXT_FRAMES = 5       # not given in the paper; ILEConfig.context_frames
PREDICTED_FRAMES = 5     # Fig. 4: o1 .. o5
SCORED_FRAMES = (1, 5)   # Fig. 4: scores on o1 and o5
ROWS = {"ile": "Invertible Linear Embedding (ILE)",
        "ile-no-scale": "ILE without the Sec. 2.6 scale layer", "mathieu": "Mathieu et al. (adversarial)",
        "repeat-last": "repeat last input", "dynamic-texture": "dynamic texture (Doretto et al.)",
        "blank": "blank frames (all background) [control]"}
TRAINED = {"ile": "ile", "ile-no-scale": "ile", "mathieu": "baselines.mathieu"}   # --runs DIR/<key> -> method
# the variant whose held-out likelihood is a true one (issue 10, item 8a): the same recipe
# without the scale layer, at a fifth of its learning rate (at the recipe's 5e-4 the loss jumped
# to 1661 at step 76 and the divergence check stopped the run: nothing rescales y any more)
KEY_OVERRIDES = {"ile-no-scale": ("model.scale_layer=false", "train.lr=1e-4")}
# Fig. 4 of the paper: (PSNR, SSIM) at the first and fifth predicted frame
PAPER_FIG4 = {"Invertible Linear Embedding": {1: (23.5, 0.92), 5: (17.4, 0.69)},
              "Adversarial Training (Mathieu et al.)": {1: (20.6, 0.95), 5: (12.1, 0.83)},
              "Last Input": {1: (17.3, 0.76), 5: (14.5, 0.67)}}
BLANK_NOTE = (
    "Why the blank-frame control: a digit covers a few percent of the frame, so a prediction "
    "that is all background is wrong only on the true digit's pixels, while a sharp digit in "
    "the wrong place is wrong twice (where it is and where it should be). At longer horizons a "
    "blank (or faded-to-background) frame therefore beats a misplaced digit on PSNR, and "
    "'beating repeat-last at frame 5' shows that a method predicts the digit only if it also "
    "beats the blank frames. The digit-pixel column (pixels > 0, mean per frame) shows whether "
    "a prediction still contains a digit.")


class BlankFrames:
    """The control predictor: every predicted frame is the background (-1)."""

    def predict(self, context: torch.Tensor, num_frames: int, num_samples: int = 1,
                generator: torch.Generator | None = None) -> torch.Tensor:
        b, _, c, h, w = context.shape
        return torch.full((b, num_samples, num_frames, c, h, w), -1.0, dtype=context.dtype)


class RepeatLast:
    """Repeat-last-input, inline so the row needs no fitted model."""

    def predict(self, context: torch.Tensor, num_frames: int, num_samples: int = 1,
                generator: torch.Generator | None = None) -> torch.Tensor:
        return context[:, None, -1:].expand(-1, num_samples, num_frames, -1, -1, -1).clone()


# ------------------------------------------------------------------ trained models and records

def locate_weights(path: Path) -> dict:
    """Which weights a folder holds: a model folder, a run (its final ``model/``, else its
    newest checkpoint) or one checkpoint folder. Returns paths and the kind."""
    path = Path(path)
    if (path / "model" / "config.json").is_file():
        return {"kind": "final model of the run", "model": path / "model", "run": path}
    if (path / "config.json").is_file():
        run = path.parent if (path.parent / "metrics.jsonl").is_file() else None
        return {"kind": "model folder", "model": path, "run": run}
    if (path / "checkpoints" / "latest").is_file():
        path = path / "checkpoints" / (path / "checkpoints" / "latest").read_text().strip()
    if (path / "recipe.json").is_file() and (path / "model.safetensors").is_file():
        return {"kind": f"checkpoint {path.name} (the run had not finished)", "checkpoint": path,
                "run": path.parent.parent}
    raise KinemaError(f"{path}: not a model folder, run folder or checkpoint (expected "
                      "config.json, model/, checkpoints/latest or recipe.json + model.safetensors)")


def load_trained(path: Path, method: str):
    """(model in eval mode, where its weights came from)."""
    from safetensors.torch import load_file

    from kinema.pretrained import config_from_dict, load_pretrained
    from kinema.registry import method_entry, resolve

    found = locate_weights(path)
    if "model" in found:
        model = load_pretrained(found["model"])
    else:
        cls = resolve(method_entry(method).model_class)
        recipe = json.loads((found["checkpoint"] / "recipe.json").read_text())
        model = cls(config_from_dict(cls.config_class, recipe["model"]))
        model.load_state_dict(load_file(str(found["checkpoint"] / "model.safetensors")))
    return model.eval(), found


def training_record(found: dict) -> dict:
    """Steps and time of the weights ``found`` points at, from the run's metrics.jsonl (the
    trainer's log: ``time`` = seconds spent in training steps) and recipe.json."""
    run = found.get("run")
    record = {"weights": found["kind"], "folder": str(found.get("model") or found["checkpoint"])}
    if run is None or not (Path(run) / "metrics.jsonl").is_file():
        return dict(record, steps=None, note="no metrics.jsonl next to the weights: steps unknown")
    rows = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    rows = [r for r in rows if "step" in r and "time" in r]
    step = None
    if "checkpoint" in found:
        manifest = found["checkpoint"] / "manifest.json"
        step = json.loads(manifest.read_text())["step"] if manifest.is_file() else None
    logged = [r for r in rows if step is None or r["step"] <= step]
    last = logged[-1] if logged else None
    recipe_file = (found.get("checkpoint") or Path(run)) / "recipe.json"
    recipe = json.loads(recipe_file.read_text()) if recipe_file.is_file() else {}
    record.update(
        run=str(run), steps=step if step is not None else (last["step"] if last else None),
        planned_steps=recipe.get("train", {}).get("steps"), preset=recipe.get("preset"),
        batch_size=recipe.get("train", {}).get("batch_size"),
        train_seconds=round(last["time"], 1) if last else None,
        wall_seconds=round(last["wall"] - rows[0]["wall"] + rows[0]["time"], 1)
        if last and "wall" in last else None)
    return record


def ensure_trained(runs: Path, key: str, train_overrides: tuple[str, ...],
                   progress: bool) -> Path:
    """``runs/key``; trained first with the method's ``small`` recipe when it is missing."""
    from kinema.config import apply_overrides
    from kinema.registry import method_entry, resolve
    from kinema.train.recipes import train_recipe

    folder = runs / key
    if folder.exists():
        return folder
    recipe = resolve(method_entry(TRAINED[key]).recipe)("small")
    overrides = [*KEY_OVERRIDES.get(key, ()), *train_overrides]
    if overrides:
        apply_overrides(recipe, overrides)
    train_recipe(recipe, folder, tensorboard=False, progress=progress)
    return folder


# ------------------------------------------------------------------ scoring

def score_rows(predictors: dict, clips: torch.Tensor, batch_size: int = 20,
               progress: bool = True) -> dict:
    """Per-clip PSNR/SSIM and digit pixels (> 0) at every predicted frame for each predictor on
    clips (n t c h w): {row: {"psnr": (n T), "ssim": (n T), "digit_pixels": (n T)}}."""
    from tqdm.auto import tqdm

    from kinema.metrics.psnr_ssim import psnr, ssim

    out = {name: {"psnr": [], "ssim": [], "digit_pixels": []} for name in [*predictors, "truth"]}
    generator = torch.Generator().manual_seed(0)
    for s in tqdm(range(0, len(clips), batch_size), desc="ile bench", disable=not progress):
        video = clips[s:s + batch_size]
        context, truth = video[:, :CONTEXT_FRAMES], video[:, CONTEXT_FRAMES:]
        out["truth"]["digit_pixels"].append((truth > 0).flatten(2).sum(-1).double())
        for name, model in predictors.items():
            with torch.no_grad():
                fake = model.predict(context, PREDICTED_FRAMES, 1, generator=generator)[:, 0]
            fake = fake.float()
            out[name]["psnr"].append(psnr(fake, truth))
            out[name]["ssim"].append(ssim(fake, truth))
            out[name]["digit_pixels"].append((fake > 0).flatten(2).sum(-1).double())
    return {name: {k: torch.cat(v) for k, v in scores.items() if v} for name, scores in out.items()}


def _clip_means(measure, clips: torch.Tensor, keys: tuple[str, ...], batch_size: int, seed: int) -> dict:
    """Means over held-out clips of scalar outputs ``keys`` of ``measure(video)``, in batches,
    with the dequantisation noise drawn from a fixed seed (the caller's RNG is left alone)."""
    sums = dict.fromkeys(keys, 0.0)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for s in range(0, len(clips), batch_size):
            video = clips[s:s + batch_size]
            out = measure(video)
            for key in keys:
                sums[key] += out[key].item() * len(video)
    return {key: total / len(clips) for key, total in sums.items()}


def ile_objective(model, clips: torch.Tensor, batch_size: int = 20, seed: int = 0) -> dict:
    """ILE's training objective on held-out clips: Eq. (2) + the Sec. 2.6 scale layer in
    bits/dim on all frames (x0* fitted on them) and on o1..o5 with x0* from the observed frames
    only; uniform dequantisation noise from a fixed seed. Not a likelihood (the scale layer is
    not invertible; see kinema.methods.ile.losses)."""
    return _clip_means(lambda v: model.objective(v, dequantize=True, context_frames=CONTEXT_FRAMES), clips,
                       ("objective_bits_per_dim", "predictive_objective_bits_per_dim"), batch_size, seed)


def held_out_likelihood(model, clips: torch.Tensor, batch_size: int = 20, seed: int = 0) -> dict:
    """The no-scale-layer ILE's true held-out likelihood of o1..o5 given the observed frames, in
    bits/dim (``ILE.conditional_likelihood``: the predicted frames dequantised with uniform noise
    from a fixed seed, so an upper bound on the 8-bit frames' bits/dim)."""
    return _clip_means(lambda v: model.conditional_likelihood(v, context_frames=CONTEXT_FRAMES), clips,
                       ("conditional_bits_per_dim",), batch_size, seed)


def summarise(scores: dict) -> dict:
    """Means over clips per row and predicted frame (index 0 = o1)."""
    return {name: {k: [float(v) for v in t.mean(0)] for k, t in s.items()}
            for name, s in scores.items()}


def paired(scores: dict, a: str, b: str, frame: int) -> dict:
    """Mean PSNR difference a - b at a predicted frame over the same clips, 95 % normal interval."""
    d = (scores[a]["psnr"][:, frame - 1] - scores[b]["psnr"][:, frame - 1]).double()
    half = 1.96 * float(d.std()) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return {"mean": float(d.mean()), "ci95_half_width": half, "clips": len(d),
            "fraction_of_clips_a_better": float((d > 0).double().mean())}


def verdict(means: dict, diffs: dict) -> dict:
    """The paper's claim at frame 5 and the blank-frame control, decided from the numbers."""
    ile, last, blank = (means[r] for r in ("ile", "repeat-last", "blank"))
    psnr5 = {r: m["psnr"][4] for r, m in (("ile", ile), ("repeat-last", last), ("blank", blank))}
    ssim5 = {r: m["ssim"][4] for r, m in (("ile", ile), ("repeat-last", last), ("blank", blank))}
    beats_last = psnr5["ile"] > psnr5["repeat-last"]
    beats_blank = psnr5["ile"] > psnr5["blank"]
    d = diffs["ile - repeat-last @5"]
    text = (f"At predicted frame 5, ILE **{'beats' if beats_last else 'does not beat'}** repeat-last "
            f"on PSNR ({psnr5['ile']:.2f} vs {psnr5['repeat-last']:.2f} dB; paired difference "
            f"{d['mean']:+.2f} ± {d['ci95_half_width']:.2f} dB, 95 % interval over "
            f"{d['clips']} clips) and {'beats' if ssim5['ile'] > ssim5['repeat-last'] else 'does not beat'} "
            f"it on SSIM ({ssim5['ile']:.3f} vs {ssim5['repeat-last']:.3f}); the paper found that "
            f"it does (17.4 vs 14.5 dB, 0.69 vs 0.67). ")
    if beats_last:
        text += (f"That **{'survives' if beats_blank else 'does not survive'}** the blank-frame "
                 f"control: ILE's frame-5 PSNR is {'above' if beats_blank else 'not above'} that "
                 f"of all-background frames ({psnr5['ile']:.2f} vs {psnr5['blank']:.2f} dB).")
    else:
        text += (f"Blank-frame control: ILE {psnr5['ile']:.2f} vs all-background "
                 f"{psnr5['blank']:.2f} dB at frame 5 ({'above' if beats_blank else 'not above'}).")
    return {"psnr5": psnr5, "ssim5": ssim5, "ile_beats_repeat_last_psnr5": beats_last,
            "ile_beats_repeat_last_ssim5": ssim5["ile"] > ssim5["repeat-last"],
            "ile_beats_blank_psnr5": beats_blank,
            "paper_claim_survives_blank_control": beats_last and beats_blank, "text": text}


# ------------------------------------------------------------------ the benchmark

def ile_bouncing_digits_benchmark(out_dir: Path, runs: str | Path | None = None,
                                  num_videos: int = 100, fit_videos: int = 1000,
                                  train_overrides: tuple[str, ...] = (), progress: bool = True,
                                  **_) -> tuple[Path, Path]:
    """Write ``out_dir/ile-bouncing-digits.md`` and ``.json``. ``runs``: a folder holding
    ``ile`` and ``mathieu`` (run, model or checkpoint folders); missing ones are trained first
    with their ``small`` recipes (plus ``train_overrides``) into ``runs`` (default
    ``out_dir/../runs/ile-bouncing-digits``)."""
    from kinema.bench.harness import Protocol, load_model, write_benchmark
    from kinema.data import load_dataset

    out_dir = Path(out_dir)
    runs = Path(runs) if runs is not None else out_dir.parent / "runs" / NAME
    if num_videos < 1:
        raise KinemaError(f"--num-videos must be >= 1, got {num_videos}")
    models, trained = {}, {}
    for key, method in TRAINED.items():
        folder = ensure_trained(runs, key, tuple(train_overrides), progress)
        models[key], found = load_trained(folder, method)
        trained[key] = training_record(found)
    if models["ile-no-scale"].config.scale_layer:
        raise KinemaError(f"{runs / 'ile-no-scale'}: this model has the Sec. 2.6 scale layer; the row "
                          f"needs one trained with --set model.scale_layer=false")
    if models["ile"].config.image_size != IMAGE_SIZE:
        raise KinemaError(f"{runs / 'ile'}: the ILE model works on {models['ile'].config.image_size} "
                          f"px frames; this benchmark is at {IMAGE_SIZE} px")
    num_frames = CONTEXT_FRAMES + PREDICTED_FRAMES
    protocol = Protocol(task="prediction", num_videos=num_videos, num_frames=num_frames,
                        context_frames=CONTEXT_FRAMES, fit_videos=fit_videos,
                        data_options={"size": IMAGE_SIZE, "num_digits": 1})
    started = time.time()
    texture, texture_record = load_model("dynamic-texture", DATA, protocol, progress=progress)
    trained["dynamic-texture"] = dict(texture_record, fit_seconds=round(time.time() - started, 1))
    test = load_dataset(DATA, "test", num_frames=num_frames, num_videos=num_videos,
                        **protocol.data_options)
    clips = torch.stack([test[i]["video"] for i in range(len(test))])          # (n t c h w)
    predictors = {"ile": models["ile"], "ile-no-scale": models["ile-no-scale"], "mathieu": models["mathieu"],
                  "repeat-last": RepeatLast(),
                  "dynamic-texture": texture, "blank": BlankFrames()}
    scores = score_rows(predictors, clips, progress=progress)
    means = summarise(scores)
    diffs = {f"ile - {b} @{f}": paired(scores, "ile", b, f)
             for b in ("repeat-last", "blank") for f in SCORED_FRAMES}
    objective = ile_objective(models["ile"], clips)
    objective["no_scale_layer"] = {**ile_objective(models["ile-no-scale"], clips),
                                   **held_out_likelihood(models["ile-no-scale"], clips)}
    decided = verdict(means, diffs)
    settings = {"data": DATA, "split": "test", "num_videos": len(clips), "size": IMAGE_SIZE,
                "num_digits": 1, "speed_px_per_frame": [test.min_speed, test.max_speed]
                if hasattr(test, "min_speed") else None, "context_frames": CONTEXT_FRAMES,
                "predicted_frames": PREDICTED_FRAMES, "scored_frames": list(SCORED_FRAMES),
                "psnr_ssim": "kinema.metrics.psnr_ssim, data range 2 ([-1, 1] frames)",
                "dynamic_texture_fit_videos": fit_videos}
    record = {"settings": settings, "protocol": dataclasses.asdict(protocol), "rows": ROWS,
              "means": means, "paired_psnr_differences": diffs, "ile_objective": objective,
              "verdict": decided, "training": trained, "paper_fig4": PAPER_FIG4,
              "seconds": round(time.time() - started, 1)}
    body = markdown_body(settings, means, diffs, objective, decided, trained)
    return write_benchmark(out_dir, NAME,
                           "ILE vs baselines on bouncing digits (the ILE paper's Fig. 4)",
                           body, record)


def _steps(record: dict) -> str:
    if record.get("steps") is None:
        return "unknown"
    planned = record.get("planned_steps")
    return f"{record['steps']}" + (f" of {planned}" if planned else "")


def markdown_body(settings: dict, means: dict, diffs: dict, objective: dict, decided: dict,
                  trained: dict) -> list[str]:
    """The report's Markdown lines (before the shared 'How this was made' section)."""
    n = settings["num_videos"]
    speed = settings["speed_px_per_frame"]
    body = [f"{n} held-out `{settings['data']}` test sequences ({settings['size']}x{settings['size']}, "
            f"{settings['num_digits']} digit"
            + (f", speed {speed[0]:g}-{speed[1]:g} px/frame" if speed else "")
            + f"): {settings['context_frames']} observed frames, predicted frames o1..o"
            f"{settings['predicted_frames']}, PSNR/SSIM ({settings['psnr_ssim']}) averaged over "
            "the sequences at o1 and o5, as in the paper's Fig. 4. The paper states neither the "
            "number of observed frames nor the image size; 5 and 32 px are our choices. Every "
            "row predicts the same clips; deterministic predictions (ILE: its mean "
            "C A^t x0* through g; the dynamic texture: its mean rollout).", "",
            "| method | PSNR o1 | SSIM o1 | PSNR o5 | SSIM o5 | digit px o1 | digit px o5 |",
            "|---|---|---|---|---|---|---|"]
    for key, label in ROWS.items():
        m = means[key]
        body.append(f"| {label} | {m['psnr'][0]:.2f} | {m['ssim'][0]:.3f} | {m['psnr'][4]:.2f} | "
                    f"{m['ssim'][4]:.3f} | {m['digit_pixels'][0]:.1f} | {m['digit_pixels'][4]:.1f} |")
    truth = means["truth"]["digit_pixels"]
    body += [f"| (ground truth) | | | | | {truth[0]:.1f} | {truth[4]:.1f} |", "",
             decided["text"], "", BLANK_NOTE, "",
             "PSNR per predicted frame o1..o5:", "",
             "| method | " + " | ".join(f"o{t + 1}" for t in range(settings["predicted_frames"])) + " |",
             "|---" * (settings["predicted_frames"] + 1) + "|"]
    for key, label in ROWS.items():
        body.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in means[key]["psnr"]) + " |")
    body += ["", "Paired PSNR differences over the same clips (mean, 95 % normal interval, "
             "share of clips where ILE is better):", ""]
    body += [f"- {name}: {d['mean']:+.2f} ± {d['ci95_half_width']:.2f} dB "
             f"({100 * d['fraction_of_clips_a_better']:.0f} % of clips)" for name, d in diffs.items()]
    body += ["", f"ILE's scale-invariant training objective on these {n} held-out sequences "
             f"(8-bit dequantised, fixed noise seed): **{objective['objective_bits_per_dim']:.3f} "
             f"bits/dim** (Eq. (2) with the Sec. 2.6 scale layer on all "
             f"{settings['context_frames'] + settings['predicted_frames']} frames, x0* fitted on "
             f"them); on o1..o5 with x0* from the observed frames only "
             f"**{objective['predictive_objective_bits_per_dim']:.3f} bits/dim**. These are not "
             "likelihoods: the scale layer y -> y / mean|y| is not invertible (the implied "
             "density is homogeneous in y and integrates to infinity) and x0* is fitted on the "
             "frames it scores, so they cannot be compared with a density model's bits/dim "
             "(the 8 bits/dim of uniform noise is no bound for them either). The paper calls "
             "the objective a likelihood and reports no numbers.", "",
             f"Without the scale layer (`--set model.scale_layer=false`, the row above) the model is a "
             f"normalised density: its held-out likelihood of o1..o5 given the observed frames "
             f"(`ILE.conditional_likelihood`, the predicted frames dequantised with uniform noise "
             f"from a fixed seed: an upper bound on the 8-bit frames' bits/dim) is "
             f"**{objective['no_scale_layer']['conditional_bits_per_dim']:.3f} bits/dim**; its "
             f"training objective on all frames is "
             f"{objective['no_scale_layer']['objective_bits_per_dim']:.3f} bits/dim.", "",
             "## Training of the compared models", "",
             "| model | weights evaluated | steps | batch | training s | wall s |", "|---|---|---|---|---|---|"]
    for key in TRAINED:
        r = trained[key]
        body.append(f"| {ROWS[key]} | {r['weights']}: `{r['folder']}` | {_steps(r)} | "
                    f"{r.get('batch_size') or ''} | {r.get('train_seconds') or ''} | "
                    f"{r.get('wall_seconds') or ''} |")
    texture = trained["dynamic-texture"]
    body += [f"| {ROWS['dynamic-texture']} | closed-form fit on {texture['fit_videos']} training "
             f"clips (`small` recipe, {texture['config'].get('num_components')} components) | - | - | "
             f"{texture['fit_seconds']} (fit) | |", "",
             "Training seconds are the trainer's time inside training steps (metrics.jsonl "
             "`time`); wall seconds include checkpoints and logging. Measured on a shared, "
             "loaded CPU machine: indicative only. The paper's models are far larger (ILE: 4 "
             "blocks of 10 couplings, 512 channels) and trained for an unstated time.", "",
             "## The paper's numbers (Fig. 4), for reference", "",
             "| method | PSNR o1 | SSIM o1 | PSNR o5 | SSIM o5 |", "|---|---|---|---|---|"]
    for label, values in PAPER_FIG4.items():
        body.append(f"| {label} | {values[1][0]} | {values[1][1]} | {values[5][0]} | {values[5][1]} |")
    return body
