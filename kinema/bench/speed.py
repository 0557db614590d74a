"""``kinema bench speed``: training-step speed against plain PyTorch (issue 16).

One command, one run; the variants of each section take turns (``kinema.bench.timing``:
the order rotates every repetition, so a change in the machine's load hits all of them alike);
medians and the min-max spread over the repetitions of wall time and of this process's CPU
time (on a loaded machine wall time can be several times it).

(a) the cINN flow's train step at the paper's architecture (``flow_config("paper")``: 20
    blocks, separate s/t MLPs of 3 hidden LeakyReLU layers of 512, d_z = 64, a 64-d
    condition; 47.3 M parameters), batch 50: kinema against ``speed_reference`` — the official
    code's shape: a module per layer, a Python loop over blocks, default Adam with amsgrad.
(b) the video autoencoder's step (the discriminator's then the generator's update, adversarial
    terms on) at the ``small`` preset, batch 4: kinema's modules with torch's default Adam
    (per-tensor loop) and contiguous tensors, against kinema's fused AdamW, with and without
    channels-last 3D weights (``kinema.nn.video3d.channels_last_3d``).
(a) and (b) each have a bf16 row: kinema's default step with its forward pass under the
    autocast ``train.precision=bf16`` gives the trainer (``kinema.train.precision``), taking
    turns with the fp32 rows, so bf16 / fp32 is a ratio of one run.
(c) the Trainer against a bare loop (same model, data order, loss, clipping and fused AdamW)
    for the tiny ILE, per step.
(d) ILE's memory-saving against ordinary backpropagation (``kinema.methods.ile.bench_memory``:
    alternating fresh processes, default allocator settings).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from kinema.bench.harness import write_benchmark
from kinema.bench.timing import interleave, summarise, table, timed


def _log(message: str) -> None:
    print(f"[speed] {message}", file=sys.stderr, flush=True)


def in_bf16(forward):
    """``forward`` run inside the autocast the trainer gives ``train.precision=bf16`` on the
    CPU (``MixedPrecision.autocast``; bf16 scales no loss, so the forward pass is all it
    changes)."""
    import torch

    from kinema.train.precision import MixedPrecision

    mixed = MixedPrecision("bf16", torch.device("cpu"), groups=())

    def run(*args):
        with mixed.autocast():
            return forward(*args)
    return run


# --------------------------------------------------------------------------- (a) the flow

BF16_ROW = "kinema, fused AdamW, bf16 (train.precision=bf16)"

def flow_variants(batch: int = 50, blocks: int | None = None, hidden: int | None = None,
                  compile_flow: bool = False, seed: int = 0) -> tuple[dict, dict]:
    """The step functions of section (a) and facts about them (parameters, compile time)."""
    import torch

    from kinema.bench.speed_reference import (ReferenceFlow, copy_from_kinema, reference_loss,
                                              reference_optimizer)
    from kinema.methods.cinn.config import flow_config, image_encoder_config
    from kinema.methods.cinn.flow import ConditionalINN
    from kinema.methods.cinn.losses import flow_nll
    from kinema.methods.cinn.config import autoencoder_config
    from kinema.train.optim import make_adamw

    c = flow_config("paper")
    blocks, hidden = blocks or c.blocks, hidden or c.hidden
    dim, cond_dim = autoencoder_config("paper").z_dim, image_encoder_config("paper").code_dim
    g = torch.Generator().manual_seed(seed)
    z, cond = torch.randn(batch, dim, generator=g), torch.randn(batch, cond_dim, generator=g)

    def kinema_flow() -> "ConditionalINN":
        torch.manual_seed(seed)
        flow = ConditionalINN(dim, cond_dim, blocks, hidden, c.clamp, c.leaky_slope, c.seed,
                              subnet_layers=c.subnet_layers, activation=c.activation,
                              separate_scale_shift=c.separate_scale_shift)
        with torch.no_grad():
            flow.to_residual(z, cond)                     # actnorm initialisation
        return flow

    def step_of(model, loss_fn, optimizer):
        def step():
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model).backward()
            optimizer.step()
        step.model = model            # (for the test that the variants agree)
        return step

    ours_loss = lambda f: flow_nll(*f.to_residual(z, cond))   # noqa: E731  (Eq. (8))
    options = dict(lr=1e-5, weight_decay=1e-5)                 # the paper preset's train config
    fused, plain, bf16 = kinema_flow(), kinema_flow(), kinema_flow()
    reference = ReferenceFlow(dim, cond_dim, blocks, hidden, depth=c.subnet_layers - 1,
                              alpha=c.leaky_slope)
    copy_from_kinema(reference, fused)
    variants = {
        "reference (official shape, Adam amsgrad, per-tensor loop)": step_of(
            reference, lambda f: reference_loss(f, z, cond), reference_optimizer(reference)),
        "kinema, plain AdamW (train.optimizer_impl=plain)": step_of(
            plain, ours_loss, make_adamw(plain.parameters(), "plain", **options)),
        "kinema (default: fused AdamW)": step_of(
            fused, ours_loss, make_adamw(fused.parameters(), "fused", **options)),
        BF16_ROW: step_of(bf16, in_bf16(ours_loss),
                          make_adamw(bf16.parameters(), "fused", **options)),
    }
    facts = {"parameters": sum(p.numel() for p in fused.parameters()),
             "reference_parameters": sum(p.numel() for p in reference.parameters()),
             "batch": batch, "blocks": blocks, "hidden": hidden, "dim": dim, "cond_dim": cond_dim}
    if compile_flow:
        compiled = kinema_flow()
        run = torch.compile(lambda: flow_nll(*compiled.to_residual(z, cond)))
        optimizer = make_adamw(compiled.parameters(), "fused", **options)
        facts["compile_s"] = timed(step_of(compiled, lambda _: run(), optimizer))
        variants["kinema, fused AdamW + torch.compile"] = step_of(compiled, lambda _: run(), optimizer)
    return variants, facts


# --------------------------------------------------------------------------- (b) autoencoder

def autoencoder_variants(preset: str = "small", batch: int = 4, seed: int = 0) -> tuple[dict, dict]:
    import torch

    from kinema.methods.cinn.autoencoder import VideoAutoencoder
    from kinema.methods.cinn.config import autoencoder_config
    from kinema.nn.video3d import channels_last_3d
    from kinema.train.optim import make_adamw

    config = autoencoder_config(preset)
    g = torch.Generator().manual_seed(seed)
    video = torch.rand(batch, config.num_frames, config.channels, config.image_size,
                       config.image_size, generator=g) * 2 - 1
    betas = (0.5, 0.9)                                   # appendix B.2

    def model():
        torch.manual_seed(seed)
        m = VideoAutoencoder(config)
        m.generator_steps.fill_(config.gan_start)        # adversarial terms on
        return m

    def step_of(m, make_optimizer, bf16: bool = False):
        groups = m.parameter_groups()
        optimizers = {name: make_optimizer(params) for name, params in groups.items()}
        def forward(batch, name):
            return m.training_step(batch, name)
        run = in_bf16(forward) if bf16 else forward

        def step():
            for name, optimizer in optimizers.items():   # the trainer's order: D, then G
                m.zero_grad(set_to_none=True)
                torch.manual_seed(seed)                  # the same posterior noise everywhere
                run({"video": video}, name)["loss"].backward()
                # as the trainer does: an update whose gradient is not finite is skipped
                # (counted: bf16's Conv3d weight gradients on a CPU, benchmarks/precision.md)
                norm = torch.nn.utils.get_total_norm(
                    [p.grad for p in groups[name] if p.grad is not None])
                if torch.isfinite(norm):
                    optimizer.step()
                else:
                    step.skipped += 1
        step.model, step.skipped = m, 0
        return step

    plain, fused, last, bf16 = model(), model(), channels_last_3d(model()), model()
    adam = lambda p: torch.optim.Adam(p, lr=2e-4, betas=betas, weight_decay=1e-5)  # noqa: E731
    adamw = lambda p: make_adamw(p, "fused", lr=2e-4, betas=betas, weight_decay=1e-5)  # noqa: E731
    variants = {"plain (Adam, per-tensor loop; contiguous)": step_of(plain, adam),
                "kinema (default: fused AdamW)": step_of(fused, adamw),
                "kinema, fused AdamW + channels-last 3D": step_of(last, adamw),
                BF16_ROW: step_of(bf16, adamw, bf16=True)}
    return variants, {"preset": preset, "batch": batch,
                      "parameters": sum(p.numel() for p in plain.parameters())}


# --------------------------------------------------------------------------- (c) trainer

def trainer_runs(steps: int = 100, method: str = "ile", preset: str = "tiny") -> dict:
    """A Trainer run of ``method``'s ``preset`` recipe and a bare loop over the same model,
    data order, loss, clipping and optimiser, in lockstep: every time the Trainer calls
    training_step, one step of the bare loop runs first (each with its own random stream), so
    both are timed at the same moments of a machine whose speed drifts. Returns the wall and
    CPU seconds of each step ({"trainer": {"wall": [...], "cpu": [...]}, "bare loop": ...})
    past the first steps, and whether both ended with the same weights (they must).

    A Trainer step is the time between two of its training_step calls (data, zero grad,
    backward, clipping, AdamW, checks, scheduler, bar) minus the nested bare step; a bare
    step is timed from fetching its batch to its optimiser step."""
    import dataclasses
    import tempfile

    import torch

    from kinema.data import load_dataset
    from kinema.registry import method_entry, resolve
    from kinema.train.data import ResumableBatches
    from kinema.train.optim import make_adamw
    from kinema.train.trainer import Trainer

    entry = method_entry(method)
    recipe = resolve(entry.recipe)(preset)
    train = dataclasses.replace(recipe.train, steps=steps, checkpoint_every=0, log_every=0,
                                sample_every=None)
    data = load_dataset(recipe.data.name, recipe.data.split, **recipe.data.options)

    def build():
        torch.manual_seed(train.seed)
        return resolve(entry.model_class)(recipe.model)

    def clocks() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    model, bare_model = build(), build()
    bare_times: list[tuple[float, float]] = []

    def bare_loop():
        batches = ResumableBatches(data, train.batch_size, train.seed)
        if hasattr(bare_model, "on_train_start"):
            bare_model.on_train_start(batches.first_global_batch())
        params = [p for p in bare_model.parameters() if p.requires_grad]
        optimizer = make_adamw(params, train.optimizer_impl, lr=train.lr,
                               betas=tuple(train.betas), weight_decay=train.weight_decay)
        loader = iter(batches)
        while True:
            start = clocks()
            batch = next(loader)
            optimizer.zero_grad(set_to_none=True)
            bare_model.training_step(batch, "model")["loss"].backward()
            if train.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, train.grad_clip)
            optimizer.step()
            end = clocks()
            bare_times.append((end[0] - start[0], end[1] - start[1]))
            yield

    saved = torch.get_rng_state()
    torch.manual_seed(train.seed)                  # the stream the Trainer's seeding gives
    bare_rng = [torch.get_rng_state()]
    torch.set_rng_state(saved)
    bare, marks, nested = bare_loop(), [], []
    step = model.training_step

    def training_step(batch, group):
        marks.append(clocks())
        start, own = clocks(), torch.get_rng_state()
        torch.set_rng_state(bare_rng[0])
        next(bare)
        bare_rng[0] = torch.get_rng_state()
        torch.set_rng_state(own)
        end = clocks()
        nested.append((end[0] - start[0], end[1] - start[1]))
        return step(batch, group)

    model.training_step = training_step
    with tempfile.TemporaryDirectory() as tmp:
        Trainer(model, data, train, Path(tmp) / "run", recipe, device="cpu", tensorboard=False,
                progress=True, quiet=True).fit()
    del model.training_step
    skip = min(5, steps // 4)                      # past the first steps' warm-up
    trainer = [(b[0] - a[0] - n[0], b[1] - a[1] - n[1])
               for a, b, n in zip(marks, marks[1:], nested)][skip:]
    same = all(torch.allclose(a, b, atol=1e-5)
               for a, b in zip(model.state_dict().values(), bare_model.state_dict().values()))
    as_dict = lambda rows: {"wall": [r[0] for r in rows], "cpu": [r[1] for r in rows]}  # noqa: E731
    return {"trainer": as_dict(trainer), "bare loop": as_dict(bare_times[skip:len(trainer) + skip]),
            "same_weights": same}


# --------------------------------------------------------------------------- the benchmark

def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _goal(name: str, value: float, limit: float) -> str:
    verdict = "met" if value <= limit else f"missed by {value / limit:.2f}x"
    return f"{name} {value:.2f}x (goal <= {limit:g}x: {verdict})"


def bf16_line(fp32: dict, bf16: dict) -> str:
    """The bf16 row against the fp32 row it differs from only by autocast."""
    return (f"bf16 / fp32 (both fused AdamW, this run): CPU "
            f"{bf16['cpu']['median'] / fp32['cpu']['median']:.2f}x, wall "
            f"{bf16['wall']['median'] / fp32['wall']['median']:.2f}x.")


ILE_OPTIONS = ("--image-size=32", "--hidden=128", "--state-dim=64", "--batch=4", "--frames=10",
               "--steps=3")


def speed_benchmark(out_dir: Path, repetitions: int = 5, flow_batch: int = 50,
                    flow_blocks: int | None = None, flow_hidden: int | None = None,
                    autoencoder_preset: str = "small", trainer_steps: int = 100,
                    trainer_rounds: int = 3,
                    ile_options: tuple = ILE_OPTIONS, **_) -> tuple[Path, Path]:
    """`kinema bench speed`: sections (a)-(d) of the module docstring in one run (the size
    arguments exist for the test that runs it small)."""
    import torch

    from kinema.methods.ile import bench_memory

    threads = int(os.environ.get("KINEMA_THREADS", "1"))   # `kinema --threads N` sets it
    torch.set_num_threads(threads)
    started = time.perf_counter()
    record: dict = {"threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "load_at_start": _load(), "repetitions": repetitions}
    body = [f"One run of `kinema bench speed`, {torch.get_num_threads()} torch thread(s) on "
            f"{os.cpu_count()} CPUs. **The machine is shared with other agents' jobs**: the "
            f"load average (1, 5, 15 min) was {record['load_at_start']} at the start. Variants "
            "take turns (the order rotating each repetition), so ratios are measured in one "
            "interleaved run; wall ratios are stretched by the other jobs, CPU-time ratios "
            "(user + system of this process) are the work done.", ""]

    _log("(a) cINN flow at the paper architecture, batch 50")
    variants, facts = flow_variants(batch=flow_batch, blocks=flow_blocks, hidden=flow_hidden)
    flow = summarise(interleave(variants, repetitions), next(iter(variants)))
    record["flow"] = {"facts": facts, "times": flow, "load": _load()}
    fast = flow["kinema (default: fused AdamW)"]
    body += ["## (a) cINN flow train step, paper architecture", "",
             f"{facts['blocks']} blocks, separate s/t MLPs (3 hidden LeakyReLU layers of "
             f"{facts['hidden']}), d_z = {facts['dim']}, condition {facts['cond_dim']}, "
             f"{facts['parameters']:,} parameters (reference: {facts['reference_parameters']:,}),"
             f" batch {facts['batch']}; a step = forward, Eq. (8), backward, optimiser step. "
             f"{repetitions} repetitions after one warm-up; load after: {record['flow']['load']}.",
             "", *table(flow), "",
             "- " + _goal("kinema / reference, CPU time:", fast["cpu"]["ratio"], 0.5) + "; "
             + _goal("wall:", fast["wall"]["ratio"], 0.5),
             "- " + bf16_line(fast, flow[BF16_ROW]) + " The couplings' scales, shifts and "
             "log-determinants and the loss of Eq. (8) stay float32 (fp32 islands, "
             "docs/precision.md); the subnets' matmuls run in bf16.", ""]

    _log("(b) video autoencoder, small preset")
    variants, facts = autoencoder_variants(autoencoder_preset, batch=4)
    ae_reps = max(2, repetitions - 2)
    ae = summarise(interleave(variants, ae_reps), next(iter(variants)))
    skipped = {name: step.skipped for name, step in variants.items()}
    updates = (ae_reps + 1) * len(variants[BF16_ROW].model.parameter_groups())
    record["autoencoder"] = {"facts": facts, "times": ae, "skipped_updates": skipped,
                             "updates_per_row": updates, "load": _load()}
    ae_fast = ae["kinema (default: fused AdamW)"]
    ae_last = ae["kinema, fused AdamW + channels-last 3D"]
    body += [f"## (b) video autoencoder step, {autoencoder_preset} preset", "",
             f"`{autoencoder_preset}` preset, batch {facts['batch']}, {facts['parameters']:,} parameters; a step "
             "= the discriminators' update then the generator's (adversarial terms on), as the "
             f"Trainer runs them. {ae_reps} repetitions after one warm-up; load after: "
             f"{record['autoencoder']['load']}.", "", *table(ae), "",
             "- " + _goal("kinema (fused AdamW) / plain, CPU time:", ae_fast["cpu"]["ratio"], 0.5)
             + "; " + _goal("wall:", ae_fast["wall"]["ratio"], 0.5),
             f"- channels-last 3D vs contiguous (both fused): CPU "
             f"{ae_last['cpu']['median'] / ae_fast['cpu']['median']:.2f}x, wall "
             f"{ae_last['wall']['median'] / ae_fast['wall']['median']:.2f}x.",
             "- " + bf16_line(ae_fast, ae[BF16_ROW]) + f" Updates skipped for a non-finite "
             f"gradient (as the trainer skips them): bf16 {skipped[BF16_ROW]} of "
             f"{updates}, the fp32 rows {max(v for k, v in skipped.items() if k != BF16_ROW)}; "
             "torch's CPU bf16 Conv3d weight gradients are why this preset trains in fp32 "
             "(benchmarks/precision.md), so its bf16 row times partly skipped updates.", ""]

    _log("(c) Trainer vs a bare loop, tiny ILE")
    rounds = [trainer_runs(steps=trainer_steps) for _ in range(trainer_rounds)]
    per = {name: {kind: [t for r in rounds for t in r[name][kind]] for kind in ("wall", "cpu")}
           for name in ("bare loop", "trainer")}
    trainer = summarise(per, "bare loop")
    # the goal is judged on each run's ratio of medians, then their median
    round_ratios = {kind: [statistics.median(r["trainer"][kind]) / statistics.median(r["bare loop"][kind])
                           for r in rounds] for kind in ("wall", "cpu")}
    ratio = {kind: statistics.median(v) for kind, v in round_ratios.items()}
    record["trainer"] = {"times": trainer, "round_ratios": round_ratios, "ratio": ratio,
                         "same_weights": [r["same_weights"] for r in rounds],
                         "steps": trainer_steps, "rounds": trainer_rounds, "load": _load()}
    body += ["## (c) Trainer vs a bare loop, tiny ILE", "",
             f"`kinema train ile --preset tiny`'s recipe, {trainer_steps} steps per run, "
             f"{trainer_rounds} runs. The Trainer and a bare loop (the same model, data order, "
             "loss, clipping and fused AdamW) run in lockstep: one bare step inside each of the "
             "Trainer's steps, timed apart, each with its own random stream "
             "(`kinema.bench.speed.trainer_runs`). A Trainer step: everything its loop does "
             "between two training_step calls (data, zero grad, backward, clipping, AdamW, its "
             "checks, scheduler and progress bar). Table: medians and min-max over all steps "
             "after each run's first 5. Both end with the same weights in every run: "
             f"{all(record['trainer']['same_weights'])}. Load after: {record['trainer']['load']}.",
             "", *table(trainer), "",
             "- per-run ratios, CPU: " + ", ".join(f"{v:.2f}" for v in round_ratios["cpu"])
             + "; wall: " + ", ".join(f"{v:.2f}" for v in round_ratios["wall"]),
             "- " + _goal("trainer / bare loop (median of the runs' ratios), CPU time:",
                          ratio["cpu"], 1.05) + "; " + _goal("wall:", ratio["wall"], 1.05), ""]

    _log("(d) ILE memory-saving vs ordinary backpropagation")
    passthrough = [*ile_options, f"--threads={threads}"]
    ile, rel = bench_memory.measure(passthrough, threads, rounds=2, progress=_log)
    o, m = ile["ordinary"], ile["memory-saving"]
    record["ile_memory"] = {"options": passthrough, "results": ile, "relative_grad_difference": rel,
                            "load": _load()}
    body += ["## (d) ILE memory-saving vs ordinary backpropagation", "",
             f"`python -m kinema.methods.ile.bench_memory {' '.join(passthrough)} --rounds=2`'s "
             f"measurement: 40 couplings, {o['parameters']:,} parameters, fresh process per "
             "measurement, modes alternating, default allocator settings for both; medians over "
             f"rounds. Load after: {record['ile_memory']['load']}.", "",
             "| mode | peak memory above pre-step (MB) | median step, wall (s) | median step, CPU (s) |",
             "|---|---|---|---|",
             *[f"| {r['mode']} | {r['peak_above_baseline_mb']:.0f} | {r['median_step_s']:.2f} | "
               f"{r['median_step_cpu_s']:.2f} |" for r in (o, m)], "",
             f"- memory: {m['peak_above_baseline_mb'] / max(o['peak_above_baseline_mb'], 1e-9):.2f}x "
             "the ordinary pass's",
             "- " + _goal("time, CPU:", m["median_step_cpu_s"] / o["median_step_cpu_s"], 1.5) + "; "
             + _goal("wall:", m["median_step_s"] / o["median_step_s"], 1.5),
             f"- gradients of the two modes at the last step: max relative difference {rel:.1e}", ""]

    record["seconds"] = round(time.perf_counter() - started, 1)
    record["load_at_end"] = _load()
    body += [f"Whole benchmark: {record['seconds']:.0f} s of wall time; load at the end "
             f"{record['load_at_end']}."]
    return write_benchmark(out_dir, "speed", "Training speed against plain PyTorch", body, record)
