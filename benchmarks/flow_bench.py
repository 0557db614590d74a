"""Time and accuracy of trajectory + spectral-volume extraction (kinema.data.flow / .spectral).

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/flow_bench.py --source warped
    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/flow_bench.py --source swaying

For every flow method: wall time of ``trajectories`` from frame 0 to each other frame in GID's
forward convention, and of ``spectral_volume`` (K = 16); mean end-point error (px) of the forward
trajectories against the ground truth (all pixels, then pixels that move / stay still), the
relative error ||S_est - S_gt|| / ||S_gt|| of the spectral volume, and the EPE of the backward
trajectories against the ground-truth backward displacement.

Sources (150 frames at 256x160 by default):
- ``warped``: scikit-image's astronaut backward-warped by two smooth sinusoidal modes
  (0.5-2.5 px amplitude); forward truth by ``kinema.nn.warp.invert_flow``;
- ``swaying``: test item 0 of ``Swaying`` (seed 0) generated square at 256 px and centre-cropped
  to 160 rows, with its ``displacement`` / ``trajectories`` ground truth cropped alike.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from einops import rearrange

from kinema.data.flow import end_point_error, trajectories
from kinema.data.spectral import spectral_volume
from kinema.nn.warp import backward_warp_video, invert_flow

METHODS = ("dis-ultrafast", "dis-fast", "dis", "tvl1", "farneback")


def warped_clip(frames: int, height: int, width: int):
    """(t c h w) video and its backward displacement (t 2 h w) from frame 0."""
    from skimage import data, transform

    image = transform.resize(data.astronaut()[40:360, 20:500], (height, width), anti_aliasing=True)
    image = rearrange(torch.from_numpy(image).float(), "h w c -> c h w") * 2 - 1
    ys, xs = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    amplitude = 1.0 + 1.5 * torch.sin(3 * xs) * torch.cos(2 * ys) ** 2
    phase = 4 * xs + 2 * ys
    t = rearrange(torch.arange(frames, dtype=torch.float32), "t -> t 1 1")
    dx = amplitude * (torch.sin(2 * np.pi * 3 * t / frames + phase) - torch.sin(phase))
    dy = 0.5 * amplitude * (torch.sin(2 * np.pi * 5 * t / frames + phase) - torch.sin(phase))
    displacement = torch.stack([dx, dy], dim=1)
    return backward_warp_video(image, displacement), displacement


def swaying_clip(frames: int, height: int, width: int):
    """The first test item of ``swaying`` (square, side = width), centre-cropped to height rows."""
    from kinema.data.synthetic.swaying import Swaying

    item = Swaying("test", num_videos=1, num_frames=frames, size=width, seed=0)[0]
    top = (width - height) // 2
    rows = slice(top, top + height)
    return item["video"][..., rows, :], item["displacement"][..., rows, :], item["trajectories"][..., rows, :]


def split_error(flow: torch.Tensor, truth: torch.Tensor, moving: torch.Tensor) -> str:
    """EPE over moving / static pixels, '-' for an empty set."""
    parts = [f"{end_point_error(flow, truth, m):.3f}" if m.any() else "-" for m in (moving, ~moving)]
    return " / ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("warped", "swaying"), default="warped")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--height", type=int, default=160)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--num-frequencies", type=int, default=16)
    args = parser.parse_args()

    if args.source == "warped":
        video, displacement = warped_clip(args.frames, args.height, args.width)
        forward_truth = invert_flow(displacement, iterations=30)
    else:
        video, displacement, forward_truth = swaying_clip(args.frames, args.height, args.width)
    truth_volume = spectral_volume(forward_truth, args.num_frequencies)
    moving = displacement.norm(dim=1).amax(dim=0) > 0.25  # (h w) pixels that move by > 1/4 px at some time
    print(f"source={args.source} frames={video.shape[0]} size={video.shape[-1]}x{video.shape[-2]} "
          f"K={args.num_frequencies} torch threads={torch.get_num_threads()} cpus={os.cpu_count()} "
          f"{platform.machine()}")
    print(f"ground truth: mean |D| = {displacement.norm(dim=1).mean():.3f} px, "
          f"max {displacement.norm(dim=1).max():.2f} px, moving pixels {moving.float().mean():.0%}")
    print("| method | forward flow (s) | per pair (ms) | FFT (s) | fwd EPE (px) | fwd EPE moving / static | "
          "rel. error S | bwd EPE (px) |")
    print("|---|---|---|---|---|---|---|---|")
    mask = moving.expand(video.shape[0], -1, -1)
    for method in args.methods:
        start = time.perf_counter()
        forward = trajectories(video, method, direction="forward", progress=False)
        flow_seconds = time.perf_counter() - start
        start = time.perf_counter()
        volume = spectral_volume(forward, args.num_frequencies)
        fft_seconds = time.perf_counter() - start
        relative = (volume - truth_volume).norm() / truth_volume.norm()
        backward = trajectories(video, method, direction="backward", progress=False)
        print(f"| {method} | {flow_seconds:.2f} | {1000 * flow_seconds / (video.shape[0] - 1):.1f} | "
              f"{fft_seconds:.3f} | {end_point_error(forward, forward_truth):.3f} | "
              f"{split_error(forward, forward_truth, mask)} | "
              f"{relative:.3f} | {end_point_error(backward, displacement):.3f} |", flush=True)


if __name__ == "__main__":
    main()
