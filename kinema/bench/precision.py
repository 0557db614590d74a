"""``kinema bench precision``: a train step of every trainable stage in bf16 against fp32.

For each stage (every registered stage whose model trains by gradient steps), at one preset
(``small`` by default), on one fixed batch of the preset's data: two copies of the model from
the same initial weights train side by side, fp32 and bf16 (``torch.autocast`` as
``train.precision=bf16`` runs it), their steps taking turns so a change in the machine's load
hits both alike. Step time is this process's CPU time (with one torch thread, the work done),
the median over the steps after the first. Then the loss after the fixed number of steps,
for two seeds (initial weights and random draws) in each precision: bf16 "trains as well"
when its mean final loss lies within the fp32 runs' seed-to-seed spread and it skipped no
more non-finite updates than fp32, for every optimiser group. Earlier stages are stand-ins: built
from the same preset with their initial weights (data-dependent initialisation run once)
and saved, as a later stage reads them.

``stage_setup`` builds a stage's model and batch this way; the precision tests use it too.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from kinema.bench.harness import write_benchmark


FASTER = 0.95      # a bf16 / fp32 step-time ratio below this counts as faster


def _log(message: str) -> None:
    print(f"[precision] {message}", file=sys.stderr, flush=True)


def trainable_stages() -> list[str]:
    """Every registered stage whose model has ``parameter_groups`` (trains by gradient steps)."""
    from kinema.registry import entries, resolve

    return [e.name for e in entries() if hasattr(resolve(e.model_class), "parameter_groups")]


def _few_videos(options: dict, num_videos: int | None) -> None:
    if num_videos is None:
        return
    for holder in (options, options.get("source_options")):
        if isinstance(holder, dict) and "num_videos" in holder:
            holder["num_videos"] = min(int(holder["num_videos"]), num_videos)


class StageBuilder:
    """Models and batches of registered stages at ``preset``, with earlier stages stood in by
    untrained ones saved under ``root`` (built once each)."""

    def __init__(self, preset: str, root: Path, num_videos: int | None = None):
        self.preset, self.root, self.num_videos = preset, Path(root), num_videos
        self.made: dict[str, Path] = {}

    def recipe(self, stage: str):
        from kinema.stages import stage_fields
        from kinema.train.recipes import build_recipe

        recipe = build_recipe(stage, self.preset)
        _few_videos(recipe.data.options, self.num_videos)
        if "cache_dir" in recipe.data.options:
            recipe.data.options["cache_dir"] = str(self.root / "cache")
        for field, earlier in stage_fields(recipe.model).items():
            if not getattr(recipe.model, field):       # (an optional stage left empty)
                continue
            folder = self.stand_in(earlier)
            setattr(recipe.model, field, str(folder))
            if earlier == "latentgan-embed" and "path" in recipe.data.options:
                recipe.data.options["path"] = str(folder)
        return recipe

    def model_and_batch(self, stage: str, seed: int = 0, batch_size: int | None = None):
        """(model in train mode, a batch of ``batch_size`` (default the preset's) items)."""
        import torch

        from kinema.bench.harness import collate
        from kinema.data import load_dataset
        from kinema.train.recipes import model_class_of

        recipe = self.recipe(stage)
        dataset = load_dataset(recipe.data.name, recipe.data.split, **recipe.data.options)
        size = min(batch_size or recipe.train.batch_size, len(dataset))
        batch = collate([dataset[i] for i in range(size)])
        torch.manual_seed(seed)
        model = model_class_of(recipe)(recipe.model)
        if hasattr(model, "on_train_start"):
            model.on_train_start(batch)
        return model.train(), batch

    def stand_in(self, stage: str) -> Path:
        from kinema.data import load_dataset
        from kinema.train.recipes import fit_closed_form

        if stage in self.made:
            return self.made[stage]
        folder = self.root / stage
        model, _ = self.model_and_batch(stage)
        if not hasattr(model, "parameter_groups") and hasattr(model, "fit"):
            recipe = self.recipe(stage)
            dataset = load_dataset(recipe.data.name, recipe.data.split, **recipe.data.options)
            fit_closed_form(model, dataset, recipe, folder, progress=False)
        else:
            model.save_pretrained(folder / "model")
        self.made[stage] = folder
        return folder


def stage_setup(stage: str, preset: str, root: Path, seed: int = 0):
    """(model, batch) of ``stage`` at ``preset``, earlier stages stood in under ``root``."""
    return StageBuilder(preset, root).model_and_batch(stage, seed)


def plain_step(model, batch: dict, optimizers: dict, precision: str,
               skipped: dict | None = None) -> dict[str, float]:
    """One update of every group, as the trainer does it (the trainer's autocast for
    ``precision``, fp32 or bf16; clipping at 1, fused AdamW, a group whose gradient norm is not
    finite not updated and counted in ``skipped``); returns each group's loss."""
    import math

    import torch

    from kinema.train.precision import MixedPrecision

    mixed = MixedPrecision(precision, torch.device("cpu"), groups=())
    losses = {}
    for group, optimizer in optimizers.items():
        model.zero_grad(set_to_none=True)
        with mixed.autocast():
            loss = model.training_step(batch, group)["loss"]
        loss.backward()
        params = [p for g in optimizer.param_groups for p in g["params"]]
        if math.isfinite(float(torch.nn.utils.clip_grad_norm_(params, 1.0))):
            optimizer.step()
        elif skipped is not None:
            skipped[group] = skipped.get(group, 0) + 1
        losses[group] = float(loss.detach())
    return losses


def _optimizers(model, lr: float) -> dict:
    from kinema.train.optim import make_adamw

    return {g: make_adamw([p for p in ps if p.requires_grad], lr=lr)
            for g, ps in model.parameter_groups().items()}


def compare_stage(builder: StageBuilder, stage: str, steps: int, seeds=(0, 1)) -> dict:
    """Interleaved fp32 / bf16 training of ``stage`` for ``steps`` steps per seed."""
    import copy

    import torch

    recipe = builder.recipe(stage)
    runs = {"fp32": [], "bf16": []}
    cpu = {"fp32": [], "bf16": []}
    skipped = {"fp32": {}, "bf16": {}}      # non-finite gradient norms, summed over the seeds
    for seed in seeds:
        model, batch = builder.model_and_batch(stage, seed)
        models = {"fp32": model, "bf16": copy.deepcopy(model)}
        optimizers = {p: _optimizers(m, recipe.train.lr) for p, m in models.items()}
        history = {p: [] for p in models}
        for step in range(steps):
            for precision in (("fp32", "bf16") if step % 2 == 0 else ("bf16", "fp32")):
                torch.manual_seed(seed * 10_000 + step)     # the same draws in both
                started = time.process_time()
                history[precision].append(plain_step(models[precision], batch,
                                                     optimizers[precision], precision,
                                                     skipped[precision]))
                if step > 0 and seed == seeds[0]:
                    cpu[precision].append(time.process_time() - started)
        for precision in models:
            last = history[precision][-min(3, steps):]
            runs[precision].append({g: statistics.mean(h[g] for h in last) for g in last[0]})
    verdict = {g: group_verdict([r[g] for r in runs["fp32"]], [r[g] for r in runs["bf16"]],
                                {p: skipped[p].get(g, 0) for p in skipped})
               for g in runs["fp32"][0]}
    fp32_ms = statistics.median(cpu["fp32"]) * 1e3
    bf16_ms = statistics.median(cpu["bf16"]) * 1e3
    return {"stage": stage, "batch": recipe.train.batch_size, "fp32_ms": fp32_ms,
            "bf16_ms": bf16_ms, "ratio": bf16_ms / fp32_ms, "losses": verdict,
            "trains_as_well": all(v["as_well"] for v in verdict.values())}


def group_verdict(fp32: list[float], bf16: list[float], skipped: dict) -> dict:
    """One group's final losses over the seeds in each precision: bf16 trains as well when its
    mean lies within fp32's run-to-run spread (max - min over the seeds) and it skipped no
    more non-finite updates than fp32 (``skipped``: {"fp32": n, "bf16": n})."""
    spread = max(fp32) - min(fp32)
    difference = statistics.mean(bf16) - statistics.mean(fp32)
    within = abs(difference) <= spread
    return {"fp32": fp32, "bf16": bf16, "spread": spread, "skipped": skipped,
            "difference": difference, "within": within,
            "as_well": within and skipped["bf16"] <= skipped["fp32"]}


def precision_benchmark(out_dir: Path, preset: str = "small", steps: int = 8,
                        stages: str | None = None, num_videos: int = 16, **_) -> tuple[Path, Path]:
    import platform
    import tempfile

    import torch

    names = stages.split(",") if stages else trainable_stages()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kinema-precision-") as tmp:
        builder = StageBuilder(preset, Path(tmp), num_videos=num_videos)
        for stage in names:
            _log(f"{stage} ({preset})")
            rows.append(compare_stage(builder, stage, steps))
    body = [f"`kinema bench precision --preset {preset} --steps {steps}` (CPU, torch "
            f"{torch.__version__}, {torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}).",
            "",
            f"Each stage's `{preset}` preset on one fixed batch of its data (at most {num_videos} "
            "videos generated), earlier stages stood in by untrained ones. fp32 and bf16 copies "
            "from the same weights take turns, step by step; CPU time of this process, median "
            f"of steps 2-{steps} of seed 0. Loss: the mean of the last 3 of {steps} steps, seeds "
            "0 and 1 (weights and draws); bf16 trains as well when its mean lies within fp32's "
            "seed-to-seed spread (the spread column) and it skipped no more "
            "updates than fp32, for every group. Skipped: updates not made because the gradient "
            "norm was not finite (as the trainer skips them), fp32 / bf16, both seeds.", "",
            "| stage | batch | fp32 ms/step | bf16 ms/step | bf16 / fp32 | final loss fp32 (seeds) "
            "| bf16 (seeds) | spread | within | skipped |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for i, (g, v) in enumerate(r["losses"].items()):
            timing = (f"| {r['stage']} | {r['batch']} | {r['fp32_ms']:.1f} | {r['bf16_ms']:.1f} "
                      f"| {r['ratio']:.2f} ") if i == 0 else "| | | | | "
            body.append(timing + f"| {g}: {', '.join(f'{x:.4g}' for x in v['fp32'])} "
                        f"| {', '.join(f'{x:.4g}' for x in v['bf16'])} | {v['spread']:.3g} "
                        f"| {'yes' if v['within'] else 'no'} "
                        f"| {v['skipped']['fp32']} / {v['skipped']['bf16']} |")
    faster = [r["stage"] for r in rows if r["ratio"] < FASTER and r["trains_as_well"]]
    body += ["", f"bf16 is faster (< {FASTER}x) and trains as well on: "
             + (", ".join(faster) if faster else "none") + "."]
    record = {"preset": preset, "steps": steps, "num_videos": num_videos,
              "torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}
    return write_benchmark(out_dir, "precision", "Mixed precision: bf16 against fp32 on this CPU",
                           body, record)
