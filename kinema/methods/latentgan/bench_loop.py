"""The looping study of StyleVideoGAN (Sec. 4, "Evaluation of the Gradient Angle Penalty"):
models trained from several seeds with and without L_GAP, each judged by the looping detector
on its long samples (the paper: 19 of 20 models loop without L_GAP, 6 of 20 with it, on a short,
repetitive training sequence).

The study's models are smaller than the preset's main run, so that 2 x ``STUDY_SEEDS`` of them
fit on a CPU (``study_recipe``: the preset's temporal recipe with ``STUDY`` widths,
``STUDY_STEPS`` steps of ``STUDY_BATCH``, the paper's EMA 0.997). They live under
``runs/latentgan-loop-STEM/{gap,no-gap}-seedK`` and are trained by the benchmark if missing,
through the real Trainer.

How long is long enough: a model whose long samples stand still (``detect_loop``'s ``still``:
its late motion below a tenth of the training videos' spread) has not learnt to keep moving,
and "loops" trivially; 150 steps left 40 of 80 such samples with L_GAP and all 80 without
(benchmarks/latentgan-actors.md, before this study was lengthened), so the verdict said "not
trained" rather than anything about L_GAP. ``STUDY_STEPS`` is ten times that; the table counts
the models whose motion died out (half their samples still) apart, and the study is long enough
when that count is small in both arms.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch

STUDY = dict(width=64, critic_width=64, critic_channels=16)
STUDY_STEPS = 1500
STUDY_BATCH = 16
LONG = 250


def study_recipe(data: str, preset: str, gap: bool, seed: int, runs: str | Path = "runs"):
    """The preset's temporal recipe, reduced for the study, reading the stages under ``runs``."""
    from kinema.methods.latentgan.config import EMA_DECAY, temporal_recipe

    stem = preset + ("-carphone" if data == "carphone" else "")
    recipe = temporal_recipe(stem + ("" if gap else "-no-gap"))
    image, embed = (str(Path(runs) / f"latentgan-{stage}-{stem}") for stage in ("image", "embed"))
    recipe.model = dataclasses.replace(recipe.model, seed=seed, image_path=image, embed_path=embed,
                                       **STUDY)
    recipe.data.options["path"] = embed
    recipe.train = dataclasses.replace(recipe.train, steps=STUDY_STEPS, batch_size=STUDY_BATCH,
                                       seed=seed, ema_decay=EMA_DECAY, checkpoint_every=STUDY_STEPS,
                                       sample_every=None)
    return recipe


def study_folder(runs: Path, data: str, preset: str, gap: bool, seed: int) -> Path:
    stem = preset + ("-carphone" if data == "carphone" else "")
    return Path(runs) / f"latentgan-loop-{stem}" / f"{'gap' if gap else 'no-gap'}-seed{seed}"


def judge(model, samples: int, seed: int = 0) -> dict:
    """The looping detector on ``samples`` long trajectories of ``model``, and its angle phi."""
    from kinema.methods.latentgan.looping import detect_loop
    from kinema.methods.latentgan.model import gradient_angles, motion_spread

    ws, _ = model.trajectory(samples, LONG, torch.Generator().manual_seed(seed))
    sigma = motion_spread(model)
    reports = [detect_loop(model.basis.coordinates(w), sigma=sigma) for w in ws]
    looping = sum(r.loops for r in reports)
    return {"looping_samples": looping, "still_samples": sum(r.still for r in reports),
            "samples": samples, "loops": looping * 2 >= samples,
            "died_out": sum(r.still for r in reports) * 2 >= samples,
            "periods": [r.period for r in reports if r.loops and not r.still],
            "angle": float(gradient_angles(model, 64).mean())}


def looping_study(data: str, preset: str, runs: Path, seeds: int, samples: int) -> dict:
    """{"gap": [per-seed verdicts], "no-gap": [...], "recipe": the study's settings}."""
    from kinema.methods.latentgan.apps import load_model
    from kinema.train.recipes import train_recipe

    out: dict = {"seeds": seeds, "samples_per_model": samples, "steps": STUDY_STEPS,
                 "batch_size": STUDY_BATCH, "model": STUDY}
    for gap in (True, False):
        verdicts = []
        for seed in range(seeds):
            folder = study_folder(runs, data, preset, gap, seed)
            if not (folder / "model" / "config.json").is_file():
                train_recipe(study_recipe(data, preset, gap, seed, runs), folder, tensorboard=False)
            verdicts.append({"seed": seed, **judge(load_model(folder), samples)})
        out["gap" if gap else "no-gap"] = verdicts
    return out


STUDY_HEADING = "## Looping (models trained from different seeds)"
# the heading's link anchor as Markdown renderers make it: lower case, punctuation dropped, spaces -> -
STUDY_ANCHOR = re.sub(r"[^\w\- ]", "", STUDY_HEADING.lstrip("# ").lower()).replace(" ", "-")


def study_lines(study: dict) -> list[str]:
    """The page's looping section: the study's models (``looping_study``), or, where the study is
    run on other data (``study["study_data"]``), a pointer to it and this page's own models judged
    the same way (``judge`` of each seed's model: ``study["gap"]``, ``study["no-gap"]``)."""
    if study.get("study_data"):
        data = study["study_data"]
        about = (f"The paper counts looping models once, on one short training sequence (19/20 without L_GAP, "
                 f"6/20 with it); kinema's study of 20 models per arm is run once too, on {data}: "
                 f"[latentgan-{data}.md](latentgan-{data}.md#{STUDY_ANCHOR}). Here: this page's own temporal "
                 f"models ({len(study['gap'])} and {len(study['no-gap'])} seeds, the preset's size and steps), "
                 f"{study['samples_per_model']} samples of {LONG} steps each, judged as the study judges "
                 f"(`kinema.methods.latentgan.looping.detect_loop`; a model loops when half its samples do; "
                 f"'still' = its motion dies out, counted as looping). phi: the GAP angle at 64 noise draws.")
    else:
        about = (f"{study['seeds']} seeds each, {study['steps']} steps of batch {study['batch_size']} "
                 f"(study models: {study['model']}); {study['samples_per_model']} samples of {LONG} "
                 f"steps per model, judged by `kinema.methods.latentgan.looping.detect_loop` (a model "
                 f"loops when half its samples do; 'still' = its motion dies out, counted as looping; "
                 f"a model whose motion died out in half its samples is counted apart as well: many of "
                 f"them mean too short a training, not a verdict on L_GAP). The paper: 19/20 without "
                 f"L_GAP, 6/20 with it. phi: the GAP angle of each model at 64 noise draws, d normalised "
                 f"by those draws' own statistics (`model.generator_angles`), averaged.")
    lines = [STUDY_HEADING, "", about, "",
             "| training | models that loop | looping samples | of which still | models whose motion "
             "died out | mean angle phi (rad) |",
             "|---|---|---|---|---|---|"]
    for key, label in (("gap", "with L_GAP"), ("no-gap", "without L_GAP")):
        rows = study[key]
        lines.append(f"| {label} | {sum(r['loops'] for r in rows)}/{len(rows)} | "
                     f"{sum(r['looping_samples'] for r in rows)}/{sum(r['samples'] for r in rows)} | "
                     f"{sum(r['still_samples'] for r in rows)} | "
                     f"{sum(r.get('died_out', False) for r in rows)}/{len(rows)} | "
                     f"{sum(r['angle'] for r in rows) / len(rows):.3f} |")
    return lines
