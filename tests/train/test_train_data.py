"""The run's one DataLoader: the same batches and positions with any number of workers, workers
that live through epochs, worker seeds from (seed, rank, worker, start), "auto" workers."""
from __future__ import annotations

import itertools
import os
import random
import signal

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from kinema.data import load_dataset
from kinema.errors import KinemaError
from kinema.train.checks import check_train_config
from kinema.train.data import DataPosition, ResumableBatches, WorkerSetup, loader_workers
from tests.train import toy


def take(batches: ResumableBatches, count: int) -> list[tuple[dict, DataPosition]]:
    out = []
    for batch in itertools.islice(iter(batches), count):
        out.append((batch, batches.position))
    return out


def assert_same_batches(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (x, px), (y, py) in zip(a, b):
        assert px == py
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], torch.Tensor):
                assert torch.equal(x[key], y[key]), key
            else:
                assert x[key] == y[key], key


@pytest.mark.parametrize("rank", [0, 1])
def test_workers_give_the_batches_and_positions_of_the_main_process(rank):
    dataset = toy.ShiftingVideos(num_videos=10)
    # 10 items, global batch 4 over 2 ranks: 2 batches an epoch, a tail of 2 dropped; 7
    # batches cross three epoch boundaries
    plain = take(ResumableBatches(dataset, 4, seed=5, rank=rank, world_size=2), 7)
    workers = take(ResumableBatches(dataset, 4, seed=5, rank=rank, world_size=2,
                                    num_workers=2, prefetch_factor=3), 7)
    assert_same_batches(plain, workers)
    assert [p.epoch for _, p in plain] == [0, 1, 1, 2, 2, 3, 3]
    assert plain[0][0]["index"].tolist() == \
        np.random.default_rng([5, 0]).permutation(10)[2 * rank:2 * rank + 2].tolist()


def test_resuming_with_workers_continues_the_same_stream():
    dataset = toy.ShiftingVideos(num_videos=12)
    straight = take(ResumableBatches(dataset, 4, seed=1), 8)
    cut = 4                                          # mid-epoch 1: (epoch 1, sample 4)
    position = straight[cut][1]
    assert position == DataPosition(1, 8)
    resumed = take(ResumableBatches(dataset, 4, seed=1, num_workers=2, position=position), 3)
    assert_same_batches(resumed, straight[cut + 1:])


def test_synthetic_and_folder_sources_load_the_same_in_workers(video_folder):
    root, _ = video_folder
    for dataset in (load_dataset("bouncing-digits", "train", num_videos=6, num_frames=4,
                                 size=32),
                    load_dataset(f"folder:{root}", "train", num_frames=3, size=8)):
        plain = take(ResumableBatches(dataset, 2, seed=0), 4)
        workers = take(ResumableBatches(dataset, 2, seed=0, num_workers=2), 4)
        assert_same_batches(plain, workers)


class WorkerDraws(Dataset):
    """Items that report the process that made them and what its global generators give."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        info = torch.utils.data.get_worker_info()
        return {"pid": os.getpid(), "worker": info.id if info else -1,
                "ignores_sigterm": signal.getsignal(signal.SIGTERM) == signal.SIG_IGN,
                "draws": torch.tensor([torch.rand(()).item(), np.random.rand(), random.random()],
                                      dtype=torch.float64)}


def test_one_loader_whose_workers_live_through_every_epoch():
    batches = ResumableBatches(WorkerDraws(), 2, seed=0, num_workers=2)
    loaders = []
    original = batches.loader
    batches.loader = lambda position: loaders.append(position) or original(position)
    got = take(batches, 12)                          # three epochs of 4 batches
    assert len(loaders) == 1
    pids = {int(pid) for batch, _ in got for pid in batch["pid"]}
    assert len(pids) == 2 and os.getpid() not in pids
    assert all(batch["ignores_sigterm"].all() for batch, _ in got)   # the main process stops


def test_worker_seeds_come_from_seed_rank_worker_and_start():
    def draws(rank: int, position: DataPosition) -> torch.Tensor:
        batches = ResumableBatches(WorkerDraws(), 2, seed=3, rank=rank, world_size=2,
                                   num_workers=2, position=position)
        batch, _ = take(batches, 1)[0]                 # from worker 0: its first draw
        assert batch["worker"].tolist() == [0]
        return batch["draws"][0]

    first = draws(0, DataPosition())
    assert torch.equal(first, draws(0, DataPosition()))
    assert not torch.equal(first, draws(1, DataPosition()))
    assert not torch.equal(first, draws(0, DataPosition(1, 4)))
    # in the worker, torch's generator holds what WorkerSetup(…)(0) seeds in this process
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM,
                                                         signal.SIGUSR1)}
    try:
        WorkerSetup(3, 0, 0, 0)(0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    expected = torch.tensor([torch.rand(()).item(), np.random.rand(), random.random()],
                            dtype=torch.float64)
    assert torch.equal(first, expected)


def test_auto_workers_leave_a_cpu_run_its_cores_and_a_gpu_rank_one(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert loader_workers("auto", cpu) == 0
    assert loader_workers(3, cpu) == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)), raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert loader_workers("auto", cuda) == 8          # 16 cores a rank: capped at 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert loader_workers("auto", cuda) == 3          # 4 cores a rank: one left to the rank
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert loader_workers("auto", cuda) == 0


@pytest.mark.parametrize("field, value, message", [
    ("num_workers", "many", "train.num_workers must be an integer >= 0 or auto"),
    ("prefetch_factor", 0, "train.prefetch_factor must be an integer >= 1"),
    ("checkpoint_minutes", -5, "train.checkpoint_minutes must be a number of minutes > 0"),
])
def test_loader_and_timer_settings_are_checked(field, value, message):
    config = toy.recipe().train
    setattr(config, field, value)
    with pytest.raises(KinemaError, match=message):
        check_train_config(config)


def test_a_run_resumed_with_workers_ends_as_one_never_stopped_without(tmp_path):
    import shutil

    from kinema.train.checkpoint import checkpoint_dirs

    options = dict(steps=6, checkpoint_every=3, keep_checkpoints=0, log_every=1)
    model = {"noise": 0.1}                     # every step draws from the global torch RNG
    toy.run(tmp_path / "reference", model_options=model, num_workers=0, **options)
    run = tmp_path / "resumed"
    shutil.copytree(tmp_path / "reference", run)
    shutil.rmtree(run / "model")
    for step, path in checkpoint_dirs(run / "checkpoints"):
        if step > 3:
            shutil.rmtree(path)
    toy.run(run, model_options=model, num_workers=2, **options)
    expected, resumed = toy.final_state(tmp_path / "reference"), toy.final_state(run)
    assert resumed["step"] == expected["step"] == 6
    for part in ("model", "ema"):
        for key in expected[part]:
            assert torch.equal(resumed[part][key], expected[part][key]), f"{part}/{key}"
