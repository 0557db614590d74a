"""Generation speed of the synthetic suite (clips per second, one process, one thread).

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/synthetic_bench.py [--clips 100]

Each dataset at 64x64, 16 frames (and ``swaying`` also at its default 32 frames); the first
item (imports, bundled-data loading, caches) is timed separately as "first item".
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from kinema.data import load_dataset

SETTINGS = (
    ("bouncing-digits", dict(num_frames=16, size=64)),
    ("bouncing-digits", dict(num_frames=16, size=64, num_digits=2, channels=3)),
    ("swaying", dict(num_frames=16, size=64)),
    ("swaying", dict(num_frames=32, size=64)),
    ("clouds", dict(num_frames=16, size=64)),
    ("actors", dict(num_frames=16, size=64)),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          "1 thread; shared machine: timings are indicative only\n")
    print("| dataset | options | first item (s) | clips/s | ms/clip |")
    print("|---|---|---|---|---|")
    for name, options in SETTINGS:
        start = time.perf_counter()
        dataset = load_dataset(name, "train", num_videos=args.clips + 1, **options)
        dataset[0]
        first = time.perf_counter() - start
        start = time.perf_counter()
        for index in range(1, args.clips + 1):
            dataset[index]
        elapsed = time.perf_counter() - start
        described = ", ".join(f"{k}={v}" for k, v in options.items())
        print(f"| {name} | {described} | {first:.2f} | {args.clips / elapsed:.0f} | {1000 * elapsed / args.clips:.1f} |")


if __name__ == "__main__":
    main()
