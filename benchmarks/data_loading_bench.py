"""Writes benchmarks/data-loading.md: the training loader on a ``folder:`` of mp4 videos at
256 px (clips/s, peak RSS with 0, 1 and 2 workers), host memory against dataset size (the frame
cache against the former keep-every-decoded-video-in-RAM path), and a synthetic source at 256
px generated in workers.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_loading_bench.py [--out benchmarks/data-loading.md]

Every measured configuration runs in a fresh interpreter (``--one``), so each peak RSS is its
own; RSS is sampled every 10 ms from /proc (the main process, and the main process plus its
DataLoader workers).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIDEOS, FRAMES, SIDE = 64, 32, 256          # the folder: 64 mp4s of 32 frames, 256x256
CLIP, BATCH, BATCHES = 16, 8, 30             # 16-frame clips, batches of 8, 30 timed batches
ROUNDS = 2     # every loader configuration measured twice, the rounds interleaved (shared CPUs)


def smooth_video(t: int, h: int, w: int, seed: int) -> np.ndarray:
    """(t h w 3) uint8: a drifting colour pattern that compresses like real footage."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    phase, speed = rng.uniform(0, 6.28, 3), rng.uniform(0.5, 2.0, 2)
    frames = [np.stack([127 + 120 * np.sin((x + speed[0] * i) / (9 + 4 * c) + phase[c])
                        * np.cos((y + speed[1] * i) / 13) for c in range(3)], -1)
              for i in range(t)]
    return np.asarray(frames).clip(0, 255).astype(np.uint8)


class RssSampler(threading.Thread):
    """Peak resident memory (MiB) of this process and of this process plus its children."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_self = self.peak_tree = 0.0
        self.running = True

    @staticmethod
    def rss(pid: int) -> float:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def sample(self) -> None:
        me = self.rss(os.getpid())
        children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
        self.peak_self = max(self.peak_self, me)
        self.peak_tree = max(self.peak_tree, me + sum(self.rss(int(c)) for c in children))

    def run(self) -> None:
        while self.running:
            self.sample()
            time.sleep(0.01)

    def stop(self) -> None:
        self.running = False
        self.join()
        self.sample()


def run_one(spec: dict) -> dict:
    """One measurement in this fresh process; ``spec["kind"]`` says which."""
    import torch

    torch.set_num_threads(1)
    from kinema.data import load_dataset

    sampler = RssSampler()
    if spec["kind"] == "loader":
        from kinema.train.data import ResumableBatches

        if spec["source"] == "folder":
            dataset = load_dataset(f"folder:{spec['path']}", "train", num_frames=CLIP, size=SIDE,
                                   test_fraction=0)
        else:
            dataset = load_dataset(spec["source"], "train", num_videos=BATCH * (BATCHES + 1),
                                   num_frames=CLIP, size=SIDE)
        batches = ResumableBatches(dataset, BATCH, seed=0, num_workers=spec["workers"],
                                   progress=False)
        start_rss = sampler.rss(os.getpid())
        sampler.start()
        stream = iter(batches)
        next(stream)                                     # workers started, first batch in
        began = time.perf_counter()
        for _ in range(BATCHES):
            next(stream)
        seconds = time.perf_counter() - began
        sampler.stop()
        return {"clips_per_second": BATCHES * BATCH / seconds, "start_mib": start_rss,
                "peak_mib": sampler.peak_self, "peak_tree_mib": sampler.peak_tree}
    # "size": one clip of every video of the first spec["videos"], 0 workers
    if spec["path_kind"] == "in-memory":
        dataset = InMemoryFolder(spec["path"])
    else:
        dataset = load_dataset(f"folder:{spec['path']}", "train", num_frames=CLIP, size=SIDE,
                               test_fraction=0)
    firsts = [i for i, (number, start) in enumerate(dataset.index) if start == 0]
    start_rss = sampler.rss(os.getpid())
    sampler.start()
    for i in firsts[:spec["videos"]]:
        dataset[i]
    sampler.stop()
    return {"start_mib": start_rss, "peak_mib": sampler.peak_self}


def InMemoryFolder(path: str):
    """The former ``ClipDataset`` memory behaviour, for comparison: every video decoded whole
    on its first item and kept in RAM as uint8 (``_decoded`` before the frame cache)."""
    from kinema.data import io as vio
    from kinema.data.folders import VideoFolder, fit_frame

    class Kept(VideoFolder):
        def __getitem__(self, item: int) -> dict:
            number, start = self.index[item]
            if number not in self.kept:
                ref = self.videos[number]
                self.kept[number] = np.stack([fit_frame(f, self.size) for f in ref.frames()])
            frames = self.kept[number][start:start + self.span:self.stride]
            return {"video": vio.to_tensor(frames)}

    dataset = Kept(path, "train", num_frames=CLIP, size=SIDE, test_fraction=0)
    dataset.kept = {}
    return dataset


def measure(spec: dict, cache: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KINEMA_FRAME_CACHE": str(cache),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved(spec: dict, workers: tuple, cache: Path) -> dict[int, list[dict]]:
    """ROUNDS measurements of ``spec`` with each number of workers, round after round."""
    runs: dict[int, list[dict]] = {w: [] for w in workers}
    for _ in range(ROUNDS):
        for w in workers:
            runs[w].append(measure({**spec, "workers": w}, cache))
    return runs


def build_folder(root: Path) -> float:
    """Write the 64 mp4s; returns the seconds the frame cache took to fill (one time)."""
    from kinema.data.folders import VideoFolder
    from kinema.data.io import write_video

    for i in range(VIDEOS):
        write_video(root / f"v{i:02d}.mp4", smooth_video(FRAMES, SIDE, SIDE, seed=i))
    began = time.perf_counter()
    VideoFolder(root, "train", num_frames=CLIP, size=SIDE,
                test_fraction=0).fill_frame_cache(progress=False)
    return time.perf_counter() - began


def page(fill_seconds: float, loader: dict, sizes: list, synthetic: dict,
         cache_mib: float) -> str:
    clips = VIDEOS * (FRAMES - CLIP + 1)
    batch_mib = BATCH * CLIP * 3 * SIDE * SIDE * 4 / 2**20     # float32 (b t c h w)
    lines = [
        "# Data loading: the training loader and host memory",
        "",
        f"The trainer's loader (`kinema.train.data.ResumableBatches`: one DataLoader per run) on "
        f"a `folder:` of {VIDEOS} mp4 videos of {FRAMES} frames at {SIDE}x{SIDE} (generated "
        f"drifting patterns, h264), {CLIP}-frame clips at {SIDE} px ({clips} clips), batches of "
        f"{BATCH}, {BATCHES} batches timed after the first. The videos were decoded once into the "
        f"on-disk frame cache (`kinema.data.frame_cache`) before the runs: {fill_seconds:.1f} s "
        f"for all {VIDEOS}, {cache_mib:.0f} MiB of uint8 files. Peak RSS is sampled every 10 ms "
        "(the highest of the runs); "
        "\"with workers\" adds the workers' RSS (each counts the shared torch libraries again). "
        f"One batch is {batch_mib:.0f} MiB of float32; from a worker it reaches the main "
        "process through shared memory, which the main process maps without reading here.",
        "",
        f"| workers | clips/s ({ROUNDS} runs) | ratio of means to 0 workers | RSS at start (MiB) | peak RSS, main (MiB) | peak RSS, with workers (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    lines += _rate_rows(loader, (0, 1, 2), with_memory=True)
    lines += [
        "",
        "## Host memory against dataset size",
        "",
        f"One clip read from every one of the first N videos (0 workers): the growth of the peak "
        f"RSS over the RSS after building the dataset. The former path (re-created in the "
        f"script as `InMemoryFolder`) decoded each video whole and kept it in RAM; the frame "
        f"cache keeps one clip.",
        "",
        "| videos | frame cache: peak RSS (MiB) | growth (MiB) | former in-RAM path: peak RSS (MiB) | growth (MiB) |",
        "|---|---|---|---|---|",
    ]
    for videos, (cached, kept) in sizes:
        lines.append(f"| {videos} | {cached['peak_mib']:.0f} | "
                     f"{cached['peak_mib'] - cached['start_mib']:.0f} | {kept['peak_mib']:.0f} | "
                     f"{kept['peak_mib'] - kept['start_mib']:.0f} |")
    lines += [
        "",
        "## A synthetic source in workers",
        "",
        f"`clouds` at {SIDE} px (generated in `__getitem__`, so in the workers), the same loader "
        "and batches.",
        "",
        f"| workers | clips/s ({ROUNDS} runs) | ratio of means to 0 workers |",
        "|---|---|---|",
    ]
    lines += _rate_rows(synthetic, (0, 2), with_memory=False)
    lines += [
        "",
        "## How this was made",
        "",
        "Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_loading_bench.py`",
        "",
        f"Machine: {os.cpu_count()}-core {platform.machine()} VM shared with other work "
        f"(load average {os.getloadavg()[0]:.1f} when it ended), torch {_torch_version()}, "
        f"Python {platform.python_version()}, 1 torch thread per process, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. On 2 shared cores, workers "
        "compete with the main process for the same cores, so their gain here is a floor.",
        "",
    ]
    return "\n".join(lines)


def _rate_rows(runs: dict, workers: tuple, with_memory: bool) -> list[str]:
    """Table rows from ``runs[w]``: the ROUNDS results of ``w`` workers."""
    mean = {w: np.mean([r["clips_per_second"] for r in runs[w]]) for w in workers}
    rows = []
    for w in workers:
        rates = " / ".join(f"{r['clips_per_second']:.1f}" for r in runs[w])
        row = f"| {w} | {rates} | {mean[w] / mean[workers[0]]:.2f}x |"
        if with_memory:
            row += (f" {max(r['start_mib'] for r in runs[w]):.0f} |"
                    f" {max(r['peak_mib'] for r in runs[w]):.0f} |"
                    f" {max(r['peak_tree_mib'] for r in runs[w]):.0f} |")
        rows.append(row)
    return rows


def _torch_version() -> str:
    import torch

    return torch.__version__


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "data-loading.md"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "videos", Path(tmp) / "cache"
        os.environ["KINEMA_FRAME_CACHE"] = str(cache)
        fill = build_folder(root)
        cache_mib = sum(f.stat().st_size for f in cache.glob("*.npy")) / 2**20
        loader = interleaved({"kind": "loader", "source": "folder", "path": str(root)},
                             (0, 1, 2), cache)
        sizes = [(n, [measure({"kind": "size", "path": str(root), "path_kind": kind,
                               "videos": n}, cache) for kind in ("cache", "in-memory")])
                 for n in (16, 32, 64)]
        synthetic = interleaved({"kind": "loader", "source": "clouds"}, (0, 2), cache)
    text = page(fill, loader, sizes, synthetic, cache_mib)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
