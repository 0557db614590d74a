"""Benchmarks of Generative Image Dynamics (registered by the ``dynamics-render`` entry):

- ``speed_benchmark`` -> ``kinema bench dynamics-speed`` (benchmarks/dynamics-speed.md): the
  renderer's frames per second at 256x160 against real time (25 fps); softmax splatting
  fwd+bwd against a plain ``scatter_add_`` implementation at C = 64 and C = 3; one picture to a
  150-frame seamless loop with the small150 preset's architecture and the default loop sampler
  (100 guided evaluations), wall time split by stage and by part of a guided evaluation, whole
  at 64x64 (the trained small models' size), projected from a few evaluations at 256x160; peak
  memory of a stage-B training step against stage A.
- ``swaying_benchmark`` (``bench_swaying.py``) -> ``kinema bench dynamics-swaying``: the paper's
  claims on held-out ``swaying`` pictures, from trained runs.

Timings are CPU time of the benchmarking thread where two implementations are compared
(``time.thread_time``: other processes on this shared machine do not inflate it), medians
of interleaved repeats, so each ratio is measured in one run; wall times where the question is
"how long does a user wait". The speed benchmark times untrained networks (speed does not
depend on the weights) of the stated architectures.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import torch

SIZE = (160, 256)          # (h, w): the paper's 256x160
REAL_TIME_FPS = 25.0       # the paper: 25 fps on a V100


def smooth_motion(frames: int, size=SIZE, amplitude: float = 4.0) -> torch.Tensor:
    """A swaying-like motion texture (1 t 2 h w): smooth fields oscillating in time."""
    h, w = size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    t = torch.arange(frames, dtype=torch.float32).view(-1, 1, 1)
    dx = amplitude * torch.sin(ys / 13 + xs / 29) * torch.sin(2 * torch.pi * t / 30)
    dy = 0.5 * amplitude * torch.cos(xs / 17) * torch.sin(2 * torch.pi * t / 30 + 1.0)
    return torch.stack([dx, dy], dim=1)[None]


def _timed(fn) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def splat_timings(channels: int, repeats: int = 41) -> dict:
    """softmax_splat vs softmax_splat_reference fwd+bwd at 256x160 (CPU ms of this thread)."""
    from kinema.nn.warp import softmax_splat, softmax_splat_reference

    torch.manual_seed(0)
    image = torch.randn(1, channels, *SIZE, requires_grad=True)
    flow = smooth_motion(8)[:, 3].clone().requires_grad_()
    metric = flow.detach().norm(dim=1, keepdim=True).requires_grad_()
    upstream = torch.randn(1, channels, *SIZE)

    def step(fn):
        return lambda: torch.autograd.grad(fn(image, flow, metric)[0], (image, flow, metric), upstream)

    fast_out, ref_out = softmax_splat(image, flow, metric)[0], softmax_splat_reference(image, flow, metric)[0]
    agreement = float((fast_out - ref_out).abs().max().detach())
    fast, ref = [], []
    previous = torch.get_num_threads()
    torch.set_num_threads(1)     # thread_time counts this thread only: time both on one thread
    try:
        for _ in range(repeats):
            ref.append(_timed(step(softmax_splat_reference)))
            fast.append(_timed(step(softmax_splat)))
    finally:
        torch.set_num_threads(previous)
    fast_ms, ref_ms = 1e3 * statistics.median(fast), 1e3 * statistics.median(ref)
    return {"channels": channels, "fast_ms": fast_ms, "scatter_add_ms": ref_ms, "ratio": fast_ms / ref_ms,
            "max_abs_difference": agreement, "repeats": repeats}


def small_renderer(size=SIZE):
    from kinema.methods.dynamics.config import render_config
    from kinema.methods.dynamics.render import ImageRenderer

    config = dataclasses.replace(render_config("small"), attention_path="", diffusion_path="", image_size=size)
    torch.manual_seed(0)
    return ImageRenderer(config).eval()


@torch.no_grad()
def render_fps(threads: int, frames: int = 64, chunk: int | None = None, bfloat16: bool = False) -> dict:
    """Frames per second of the IBR step (pyramid once, then splat + decode per frame) at 256x160;
    ``bfloat16``: the decoder in bfloat16 (``ImageRenderer.render_frames``)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        renderer = small_renderer()
        image = torch.rand(1, 3, *SIZE) * 2 - 1
        motion = smooth_motion(frames)
        # channels-last weights and pyramid: 26.0 against 18.4 fps frame by frame on 2 threads here
        renderer = renderer.to(memory_format=torch.channels_last)
        renderer.render(image, motion[:, :chunk or 1], chunk=chunk, bfloat16=bfloat16)       # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        renderer.render(image, motion, chunk=chunk, bfloat16=bfloat16)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    finally:
        torch.set_num_threads(previous)
    fps = frames / seconds
    return {"threads": threads, "bfloat16": bfloat16, "frames": frames, "seconds": seconds, "fps": fps,
            "cpu_seconds": cpu_seconds, "real_time_ratio": fps / REAL_TIME_FPS, "widths": list(renderer.config.widths)}


def untrained_motion_model(preset: str = "small", size=SIZE, period: int = 150):
    """Stage B of ``preset``'s architecture at ``size`` and ``period`` with untrained weights (for
    timing; the normalisation scales set to 1)."""
    from kinema.methods.dynamics.attention import FrequencyCoordinatedDiffusion
    from kinema.methods.dynamics.config import attention_config, diffusion_config, vae_config
    from kinema.pretrained import config_to_dict

    vae = dataclasses.replace(vae_config(preset), image_size=tuple(size), period=period)
    diffusion = dataclasses.replace(diffusion_config(preset), vae=config_to_dict(vae))
    attention = dataclasses.replace(attention_config(preset), diffusion=config_to_dict(diffusion))
    torch.manual_seed(0)
    model = FrequencyCoordinatedDiffusion(attention).eval()
    normalizer = model.base.vae.normalizer
    if hasattr(normalizer, "scale") and normalizer.scale.isnan().any():
        normalizer.scale.fill_(1.0)
    return model


class PartClock:
    """``lap`` of ``sampling.guided_noise``: wall and CPU seconds of each part of a guided
    evaluation, summed over the evaluations it times."""

    def __init__(self, wall_clock=time.perf_counter, cpu_clock=time.process_time):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.evaluations = 0
        self._clocks = wall_clock, cpu_clock
        self._part, self._since = None, (0.0, 0.0)

    def __call__(self, part: str | None) -> None:
        now = (self._clocks[0](), self._clocks[1]())
        if self._part is not None:
            self.wall[self._part] = self.wall.get(self._part, 0.0) + now[0] - self._since[0]
            self.cpu[self._part] = self.cpu.get(self._part, 0.0) + now[1] - self._since[1]
        self.evaluations += part is None
        self._part, self._since = part, now


def guided_evaluations(model, image: torch.Tensor, frames: int, evaluations: int) -> PartClock:
    """``evaluations`` guided evaluations of the default loop sampler (Eq. (5) with self-guidance:
    CFG, decoder, seam loss, gradient to the latents), at its first timesteps, timed by part
    after one untimed warm-up."""
    from kinema.methods.dynamics.sampling import LOOP_SAMPLER, LOOP_STEPS, guided_noise

    scheduler = model.scheduler(LOOP_SAMPLER)
    scheduler.set_timesteps(LOOP_STEPS)
    alphas = scheduler.alphas_cumprod
    with torch.no_grad():
        condition = model.condition(image)
    latents = torch.randn(1, *model.latent_shape(), generator=torch.Generator().manual_seed(0))
    clock = PartClock()
    for i in range(evaluations + 1):
        t = int(scheduler.timesteps[i % len(scheduler.timesteps)])
        guided_noise(model, latents, t, condition, 1.75, True, 200.0, alphas[t], frames, 1.0,
                     lap=clock if i else None)
    return clock


def end_to_end_loop(size=SIZE, frames: int = 150, whole_loop: bool = True, measured_evaluations: int = 3) -> dict:
    """One picture of ``size`` -> a ``frames``-frame seamless loop with the default loop sampler
    (``sampling.LOOP_SAMPLER``, ``LOOP_STEPS`` steps, ``LOOP_RECURRENCE`` self-recurrences: every
    evaluation guided), the small150 preset's architecture (150-frame period) at ``size``, at the
    process's thread count: wall and CPU seconds of each stage and of each part of a guided
    evaluation. ``whole_loop``: sample the loop (every evaluation timed by part); else the
    sampling time is projected from ``measured_evaluations`` evaluations timed by part (the
    evaluations x their mean + one decode of the final latents, measured)."""
    import tempfile

    from kinema.data.io import write_video
    from kinema.methods.dynamics.apps import period_weight
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.sampling import (GUIDED_PARTS, LOOP_RECURRENCE, LOOP_SAMPLER, LOOP_STEPS,
                                                  sample_latents)

    times, cpu = {}, {}

    def timed(name, work):
        wall, used = time.perf_counter(), time.process_time()
        result = work()
        times[name], cpu[name] = time.perf_counter() - wall, time.process_time() - used
        return result

    motion_model, renderer = timed("build models", lambda: (
        untrained_motion_model("small150", size=size, period=frames), small_renderer(size)))
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    evaluations = LOOP_STEPS * LOOP_RECURRENCE
    sample = guided_evaluations(motion_model, image, frames, measured_evaluations)
    mean_parts = {p: sample.wall[p] / sample.evaluations for p in GUIDED_PARTS}
    mean_parts_cpu = {p: sample.cpu[p] / sample.evaluations for p in GUIDED_PARTS}
    loop_parts = loop_parts_cpu = None
    if whole_loop:
        clock = PartClock()
        latents = timed("sampling", lambda: sample_latents(
            motion_model, image, loop=True, sampler=LOOP_SAMPLER, steps=LOOP_STEPS, loop_frames=frames,
            progress=False, lap=clock)[:, 0])
        if clock.evaluations != evaluations:
            raise RuntimeError(f"the loop sampler made {clock.evaluations} evaluations, not {evaluations}")
        loop_parts, loop_parts_cpu = dict(clock.wall), dict(clock.cpu)
    else:
        latents = torch.randn(1, *motion_model.latent_shape(), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        volume = timed("decoding the final latents", lambda: motion_model.decode_latents(latents))
        motion, weight = timed("motion texture (inverse FFT)", lambda: (
            spectral_volume_to_motion(volume, frames, period=motion_model.period),
            period_weight(volume, motion_model.period)))
        video = timed("rendering", lambda: renderer.render(image, motion.float(), weight.float()))
    with tempfile.TemporaryDirectory() as folder:
        timed("mp4 encoding", lambda: write_video(Path(folder) / "loop.mp4", video[0], fps=REAL_TIME_FPS))
    if not whole_loop:   # evaluations x the mean evaluation (the scheduler's own steps are negligible)
        times["sampling"] = evaluations * sum(mean_parts.values())
        cpu["sampling"] = evaluations * sum(mean_parts_cpu.values())
    stages = ("sampling", "decoding the final latents", "motion texture (inverse FFT)", "rendering", "mp4 encoding")
    return {"size": list(size), "frames": frames, "threads": torch.get_num_threads(), "sampler": LOOP_SAMPLER,
            "steps": LOOP_STEPS, "recurrence": LOOP_RECURRENCE, "evaluations": evaluations,
            "whole_loop": whole_loop, "measured_evaluations": sample.evaluations,
            "evaluation_parts": mean_parts, "evaluation_parts_cpu": mean_parts_cpu,
            "loop_parts": loop_parts, "loop_parts_cpu": loop_parts_cpu,
            "build_seconds": times["build models"], "seconds": {k: times[k] for k in stages},
            "cpu_seconds": {k: cpu[k] for k in stages}, "total_seconds": sum(times[k] for k in stages),
            "total_cpu_seconds": sum(cpu[k] for k in stages)}


LOOP_GOAL_SECONDS = 60.0   # issue 27: a picture to a 150-frame seamless loop in under a minute on 2 cores


def loop_shares(loop: dict) -> list[tuple[str, float]]:
    """(what, wall seconds) of a loop's time, the sampling split into the parts of its guided
    evaluations (measured over the whole loop, or evaluations x the measured mean) and the rest
    of the sampler (scheduler steps, re-noising: the loop's time minus its evaluations')."""
    evaluations = loop["evaluations"]
    parts = loop["loop_parts"] or {p: evaluations * s for p, s in loop["evaluation_parts"].items()}
    rows = [(f"{part} ({evaluations} evaluations)", seconds) for part, seconds in parts.items()]
    if loop["whole_loop"]:
        rest = loop["seconds"]["sampling"] - sum(parts.values())
        rows.append(("rest of the sampler (scheduler steps, re-noising)", rest))
    return rows + [(stage, s) for stage, s in loop["seconds"].items() if stage != "sampling"]


def loop_lines(loops: list[dict]) -> list[str]:
    """The page's section on seamless loops: one table of stages per size and where the time goes."""
    first = loops[0]
    lines = [f"## One picture -> a {first['frames']}-frame seamless loop with the default loop sampler "
             f"(DDIM {first['steps']} steps x {first['recurrence']} self-recurrences = {first['evaluations']} "
             f"guided evaluations; the small150 preset's architecture, {first['threads']} thread(s))", "",
             f"Goal (issue 27): under {LOOP_GOAL_SECONDS:.0f} s on 2 cores. Every guided evaluation runs the "
             "denoiser on the conditional and null inputs, decodes the 16 frequency slices, evaluates the "
             "seam loss of Eq. (5) and back-propagates it through the decoder and the denoiser to the latents "
             "(`sampling.guided_noise`).", ""]
    header = " | ".join(f"{h}x{w}: wall s | CPU s" for h, w in (loop["size"][::-1] for loop in loops))
    lines += [f"| stage | {header} |", "|---|" + "---:|---:|" * len(loops)]

    def row(name, walls, cpus):
        return f"| {name} | " + " | ".join(f"{w:.2f} | {c:.2f}" for w, c in zip(walls, cpus)) + " |"

    for part in first["evaluation_parts"]:
        lines.append(row(f"one guided evaluation: {part}", [lp["evaluation_parts"][part] for lp in loops],
                         [lp["evaluation_parts_cpu"][part] for lp in loops]))
    lines.append(row("**one guided evaluation**", [sum(lp["evaluation_parts"].values()) for lp in loops],
                     [sum(lp["evaluation_parts_cpu"].values()) for lp in loops]))
    projected = ", ".join(f"{lp['size'][1]}x{lp['size'][0]}" for lp in loops if not lp["whole_loop"])
    for stage in first["seconds"]:
        name = stage if stage != "sampling" else (f"sampling ({first['evaluations']} guided evaluations"
                                                  + (f"; projected at {projected})" if projected else ")"))
        lines.append(row(name, [lp["seconds"][stage] for lp in loops], [lp["cpu_seconds"][stage] for lp in loops]))
    lines.append(row("**total (without building the models)**", [lp["total_seconds"] for lp in loops],
                     [lp["total_cpu_seconds"] for lp in loops]))
    lines += ["", "Each size: " + "; ".join(
        f"{lp['size'][1]}x{lp['size'][0]}: " + (
            f"the whole loop sampled ({lp['evaluations']} evaluations timed by part); one guided evaluation is the "
            f"mean of {lp['measured_evaluations']} timed before it" if lp["whole_loop"] else
            f"**projected** sampling time = {lp['evaluations']} x the mean of {lp['measured_evaluations']} measured "
            f"guided evaluations (not a whole loop); the other stages measured")
        + f"; total {lp['total_seconds']:.0f} s = {lp['total_seconds'] / LOOP_GOAL_SECONDS:.1f}x the goal"
        for lp in loops) + "."]
    for lp in loops:
        total = lp["total_seconds"]
        label = "measured" if lp["whole_loop"] else f"projected from {lp['measured_evaluations']} measured evaluations"
        lines += ["", f"### Where the time goes at {lp['size'][1]}x{lp['size'][0]} ({label})", "",
                  "| part | wall s | share |", "|---|---:|---:|"]
        lines += [f"| {name} | {seconds:.2f} | {100 * seconds / total:.1f}% |" for name, seconds in loop_shares(lp)]
        lines.append(f"| **total** | **{total:.2f}** | 100% |")
    return lines


def _step_peak_mb(stage: str, queue) -> None:
    """In a fresh process: peak RSS (MB) of one training step of stage A or B above the RSS
    just before it, small preset at 64 px, batch 4, all K = 16 slices of every item."""
    torch.set_num_threads(1)
    model = untrained_motion_model(size=(64, 64), period=32)
    stage_a = model.base
    torch.manual_seed(0)
    batch = {"image": torch.rand(4, 3, 64, 64) * 2 - 1, "spectral_volume": torch.randn(4, 16, 4, 64, 64),
             "num_frames": torch.full((4,), 32)}
    if stage == "A":
        stage_a.train()
        stage_a.config = dataclasses.replace(stage_a.config, slices_per_item=16)
        step = lambda: stage_a.training_step(batch, "model")["loss"].backward()  # noqa: E731
        params = stage_a.parameter_groups()["model"]
        for p in params:
            p.requires_grad_(True)
    else:
        model.train()
        model.parameter_groups()
        step = lambda: model.training_step(batch, "attention")["loss"].backward()  # noqa: E731
    import gc

    gc.collect()
    # reset the peak-RSS counter (VmHWM) of this process, then read it after the step; getrusage's
    # ru_maxrss would not do: it survives exec, so a spawned child reports its parent's peak
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_mb("VmRSS")
    step()
    queue.put(_status_mb("VmHWM") - before)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def step_memory() -> dict:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    result = {}
    for stage in ("A", "B"):
        queue = context.Queue()
        process = context.Process(target=_step_peak_mb, args=(stage, queue))
        process.start()
        result[stage] = queue.get()
        process.join()
    return {"stage_a_mb": result["A"], "stage_b_mb": result["B"], "ratio": result["B"] / result["A"]}


def speed_benchmark(out_dir: Path = Path("benchmarks"), **options) -> tuple[Path, Path]:
    """``kinema bench dynamics-speed``: see the module docstring."""
    from kinema.bench.harness import write_benchmark

    splats = [splat_timings(c) for c in (64, 3)]
    from kinema.nn.precision import bfloat16_is_fast

    # float32 and, where the CPU has bf16 instructions, the bf16 decoder, alternating
    precisions = (False, True) if bfloat16_is_fast() else (False,)
    renders = [render_fps(t, bfloat16=b) for t in (1, 2) for b in precisions]
    loops = [end_to_end_loop((64, 64), whole_loop=True), end_to_end_loop(SIZE, whole_loop=False)]
    memory = step_memory()
    lines = ["Generative Image Dynamics on this CPU: rendering, softmax splatting, a seamless loop end to end, "
             "and the memory of the frequency-attention stage.", "",
             "## Softmax splatting, fwd+bwd, 256x160 (one thread, CPU ms, median of interleaved repeats)", "",
             "| channels | kinema.nn.warp.softmax_splat | plain scatter_add_ (autograd) | ratio | max abs difference |",
             "|---:|---:|---:|---:|---:|"]
    for s in splats:
        lines.append(f"| {s['channels']} | {s['fast_ms']:.1f} | {s['scatter_add_ms']:.1f} | {s['ratio']:.2f} | "
                     f"{s['max_abs_difference']:.1e} |")
    lines += ["", "Goal: ratio <= 0.6 (the known C++ CPU extension runs at ~1.6x the plain scatter_add_ at C = 64).",
              "", "## Rendering at 256x160 (the small preset's renderer, widths "
              f"{renders[0]['widths']}; pyramid once, splat + decode per frame)", "",
              "| threads | decoder | frames | wall seconds | fps (wall) | x real time (25 fps) | CPU seconds (all threads) |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for r in renders:
        lines.append(f"| {r['threads']} | {'bfloat16' if r['bfloat16'] else 'float32'} | {r['frames']} | "
                     f"{r['seconds']:.2f} | {r['fps']:.1f} | {r['real_time_ratio']:.2f} | {r['cpu_seconds']:.2f} |")
    lines += ["", "Wall time on a shared machine counts the other processes' load; with one thread the CPU "
              "seconds are this process's own cost (frames / CPU seconds = the fps of a free core). The "
              "bfloat16 decoder (the studio's poke; splatting stays float32) keeps frames within a fraction "
              "of an 8-bit level of float32 (tests/methods/dynamics/test_render.py)."
              + ("" if len(precisions) > 1 else " This CPU has no bf16 instructions: float32 only.")]
    lines += [""] + loop_lines(loops)
    lines += ["",
              "## Peak memory of one training step (small preset, 64 px, batch 4, K = 16, every slice)", "",
              "| stage | peak RSS above the step's start (MB) |", "|---|---:|",
              f"| A (2D U-Net, slices independent) | {memory['stage_a_mb']:.0f} |",
              f"| B (frozen A + frequency attention) | {memory['stage_b_mb']:.0f} |",
              f"| ratio B / A | {memory['ratio']:.2f} |"]
    record = {"splat": splats, "render": renders, "loops": loops, "memory": memory}
    return write_benchmark(out_dir, "dynamics-speed", "Generative Image Dynamics: speed and memory", lines, record)
