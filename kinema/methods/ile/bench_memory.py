"""Peak memory and step time of memory-saving vs ordinary backpropagation for ILE.

    python -m kinema.methods.ile.bench_memory --out benchmarks/ile-memory.md

Each measurement runs in its own fresh subprocess (peak RSS is a per-process high-water
mark), the modes alternating (ordinary, memory-saving, ordinary, ... for ``--rounds``) in one
invocation, with the same seed, model and batch: 4 blocks x 10 couplings = 40 coupling steps
(the paper's depth). Both modes run under the same, default allocator settings (no malloc
tuning through the environment; the memory-saving backward itself keeps freed heap for reuse,
``kinema.nn.invertible.sequence.keep_freed_memory``, as it does for every user). After one warm-up step (library start-up, gradient buffers
and Adam state then exist in both modes) freed heap pages are returned once (malloc_trim) and
the peak-RSS counter is reset (Linux ``/proc/self/clear_refs``). Reported: peak RSS during the
measured steps above the RSS just before them (what the forward/backward pass needs on top of
the model, its gradients and optimiser state), the median step time, and the largest
relative difference between the two modes' gradients at the last step (float32).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _trim_heap() -> None:
    """Return freed heap pages to the OS so that RSS measures live memory (glibc keeps them)."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak() -> bool:
    """Linux: writing 5 to clear_refs resets the VmHWM (peak RSS) counter of this process."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_config(args: argparse.Namespace):
    """The paper's flow (4 blocks x 10 couplings) at the benchmark's sizes; a bad size raises
    the config's KinemaError."""
    from kinema.methods.ile.config import ile_config

    return dataclasses.replace(
        ile_config("paper"), image_size=args.image_size, hidden=args.hidden, blocks=4,
        steps_per_block=10, state_dim=args.state_dim, memory_saving=args.mode == "memory-saving")


def worker(args: argparse.Namespace) -> dict:
    import torch

    from kinema.methods.ile.model import ILE
    from kinema.train.optim import make_adamw

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = bench_config(args)
    model = ILE(config)
    optimizer = make_adamw(model.parameters(), "fused", lr=1e-4)   # the trainer's default
    g = torch.Generator().manual_seed(1)
    video = torch.rand(args.batch, args.frames, 1, args.image_size, args.image_size, generator=g) * 2 - 1
    times, cpu_times = [], []
    for step in range(-1, args.steps):
        if step == 0:        # after one warm-up step (library start-up, optimiser state)
            _trim_heap()
            reset = _reset_peak()
            baseline = _rss_bytes()
        start, cpu_start = time.perf_counter(), time.process_time()
        torch.manual_seed(100 + step)                 # same dequantisation noise in both modes
        loss = model.training_step({"video": video}, "model")["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step == args.steps - 1:    # by now the couplings are off their identity start
            torch.save(torch.cat([p.grad.flatten().float() for p in model.parameters()]),
                       args.grads_file)
        optimizer.step()
        if step >= 0:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    peak = _peak_bytes()
    params = sum(p.numel() for p in model.parameters())
    return {"mode": args.mode, "peak_above_baseline_mb": (peak - baseline) / 2**20,
            "peak_rss_mb": peak / 2**20, "baseline_rss_mb": baseline / 2**20,
            "median_step_s": statistics.median(times), "step_times_s": times,
            "median_step_cpu_s": statistics.median(cpu_times), "step_cpu_times_s": cpu_times,
            "parameters": params, "peak_reset": reset, "couplings": config.blocks * config.steps_per_block}


def main(argv: list[str] | None = None) -> None:
    """The command line; a user mistake prints one ``error:`` line and exits 2."""
    from kinema.errors import run_user_command

    run_user_command(_main, argv)


def _main(argv: list[str] | None) -> None:
    from kinema.errors import KinemaError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--state-dim", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4, help="sequences per batch")
    parser.add_argument("--frames", type=int, default=10, help="frames per sequence")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two modes")
    parser.add_argument("--out", type=Path, default=None, help="write a markdown report here")
    parser.add_argument("--mode", choices=["ordinary", "memory-saving"], help=argparse.SUPPRESS)
    parser.add_argument("--grads-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode:
        print(json.dumps(worker(args)))
        return
    bench_config(args)                      # check the sizes before starting subprocesses
    for name in ("batch", "frames", "steps", "threads", "rounds"):
        if getattr(args, name) < 1:
            raise KinemaError(f"--{name} must be >= 1, got {getattr(args, name)}")

    passthrough = [f"--image-size={args.image_size}", f"--hidden={args.hidden}",
                   f"--state-dim={args.state_dim}", f"--batch={args.batch}",
                   f"--frames={args.frames}", f"--steps={args.steps}", f"--threads={args.threads}"]
    results, rel = measure(passthrough, args.threads, args.rounds)
    report = _markdown(args, results, rel, " ".join(["python -m kinema.methods.ile.bench_memory",
                                                      *passthrough, f"--rounds={args.rounds}"]
                                                     + ([f"--out {args.out}"] if args.out else [])))
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(report)
        os.replace(tmp, args.out)


MODES = ("ordinary", "memory-saving")


def measure(passthrough: list[str], threads: int, rounds: int = 1, progress=None
            ) -> tuple[dict, float]:
    """Alternate the two modes ``rounds`` times, each in a fresh worker process under the
    default allocator settings. Returns ({mode: summary}, max relative gradient difference
    of the last round); a summary holds each round's result and their medians."""
    import tempfile

    import torch

    from kinema.errors import KinemaError

    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    grads = {}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX"):
        env.pop(name, None)                     # the same, default allocator for both modes
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(rounds):
            for mode in MODES:
                grads_file = f"{tmp}/{mode}.pt"
                cmd = [sys.executable, "-m", "kinema.methods.ile.bench_memory", f"--mode={mode}",
                       f"--grads-file={grads_file}", *passthrough]
                (progress or _stderr)(f"ILE {mode}, round {round_index + 1}/{rounds} ...")
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                    raise KinemaError(f"the {mode} measurement failed (exit {done.returncode}): {last}")
                runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
                grads[mode] = torch.load(grads_file, weights_only=True)
    a, b = grads["ordinary"], grads["memory-saving"]
    rel = ((a - b).abs().max() / a.abs().max()).item()
    results = {}
    for mode, rows in runs.items():
        results[mode] = {**rows[-1], "rounds": rows,
                         "median_step_s": statistics.median(r["median_step_s"] for r in rows),
                         "median_step_cpu_s": statistics.median(r["median_step_cpu_s"] for r in rows),
                         "peak_above_baseline_mb": statistics.median(
                             r["peak_above_baseline_mb"] for r in rows),
                         "step_times_s": [t for r in rows for t in r["step_times_s"]]}
    return results, rel


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _markdown(args, results: dict, rel_grad_diff: float, command: str) -> str:
    o, m = results["ordinary"], results["memory-saving"]
    rows = "\n".join(
        f"| {r['mode']} | {r['peak_above_baseline_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
        f"{r['median_step_s']:.2f} | {r['median_step_cpu_s']:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in r['step_times_s'])} |"
        for r in (o, m))
    return f"""# ILE: memory-saving vs ordinary backpropagation

Command (one run; the modes alternate, each measurement in a fresh subprocess, all under the
same, default allocator settings; medians over the rounds):

    {command}

Setup: ILE with {o['couplings']} affine couplings (4 blocks x 10, the paper's depth), coupling
width {args.hidden}, {args.image_size}x{args.image_size}x1 frames, {args.batch} sequences
x {args.frames} frames per batch (= {args.batch * args.frames} frames through the flow),
state dim {args.state_dim}, {o['parameters']:,} parameters, fused AdamW, {args.steps} steps,
{args.threads} torch thread(s), {args.rounds} round(s) per mode, CPU ({platform.processor() or platform.machine()}).
Machine shared with other jobs: times are noisy, compare the ratio.

| mode | peak RSS above pre-step RSS, after warm-up (MB; median of rounds) | peak RSS (MB, last round) | median step, wall (s) | median step, CPU time of the process (s) | wall step times (s), every round |
|---|---|---|---|---|---|
{rows}

- Memory: memory-saving needs {m['peak_above_baseline_mb'] / max(o['peak_above_baseline_mb'], 1e-9):.2f}x
  the ordinary pass's memory ({o['peak_above_baseline_mb']:.0f} MB -> {m['peak_above_baseline_mb']:.0f} MB).
- Time: memory-saving steps take {m['median_step_s'] / o['median_step_s']:.2f}x as long in wall
  time and {m['median_step_cpu_s'] / o['median_step_cpu_s']:.2f}x in CPU time (user + system, one thread: the work done,
  which other jobs on a shared machine do not stretch)
  (per layer in the backward pass: one re-run forward; a coupling's inverse shares its
  subnet pass, ``AffineCoupling.recompute``).
- Gradients at the last step (after {args.steps - 1} identical updates), float32: max |g_ordinary - g_saving| / max |g_ordinary| =
  {rel_grad_diff:.1e} (float64 equality is tested in tests/methods/ile/test_ile_model.py).
- What the memory-saving pass still holds: the output of each of the 4 blocks, one layer's
  activations at a time during the backward pass, the embeddings and the float64
  linear-system algebra (gradients and Adam state are in the pre-step RSS of both modes).
"""


if __name__ == "__main__":
    main()
