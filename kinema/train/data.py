"""Batches in a seeded order whose position is part of the checkpoint.

Every epoch visits the dataset in a permutation drawn from ``(seed, epoch)`` alone, so the
order never depends on how many times the run was stopped. A global batch is ``batch_size``
consecutive indices of that permutation; under ``torchrun`` rank ``r`` loads the ``r``-th
contiguous slice of it (``batch_size / world_size`` items), so N processes together see the
same global batch as one process would. An incomplete tail of an epoch is dropped.

The position (epoch, samples of this epoch already consumed) is updated before a batch is
handed out, so a checkpoint written after the step that used it resumes with the next batch.

One DataLoader serves the whole run: its batch sampler walks the same endless schedule of index
lists from the start position, epoch after epoch, so its workers (``num_workers``) stay up and
prefetch ``prefetch_factor`` batches each across epoch boundaries, and batches arrive in
schedule order whatever the number of workers. The position is advanced on the consuming side,
in step with the batches handed out, never by the sampler that runs ahead. Memory is pinned
when the device is CUDA, so the copy to the GPU can overlap the step. Each worker seeds
python's, numpy's and torch's global generators from (seed, rank, worker id, start position);
kinema's datasets draw each item from its own seeded generator, so an item, and therefore a
resumed run, does not depend on the number of workers.

``num_workers: auto`` (``loader_workers``): none on a CPU run, whose step already uses every
core for its own threads, and ``min(8, cores per rank - 1)`` on CUDA, leaving a core to the
process that drives the GPU.
"""
from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from kinema.errors import KinemaError


def collate(items: list) -> dict:
    """``default_collate``; items that cannot share a batch (videos of different sizes from a
    ``folder:`` dataset with ``size: null``) are one clear error instead of a stacking
    traceback (picklable, so it also crosses from DataLoader workers)."""
    try:
        return default_collate(items)
    except (RuntimeError, TypeError) as err:
        raise KinemaError(f"the items of one batch cannot be stacked ({str(err).splitlines()[0]});"
                          " give the dataset one clip size (e.g. data.options.size=64)") from None


@dataclass
class DataPosition:
    epoch: int = 0
    sample: int = 0     # samples of this epoch's permutation already consumed (all ranks)

    def to_dict(self) -> dict:
        return asdict(self)


def loader_workers(setting: int | str, device: torch.device) -> int:
    """The DataLoader workers of one rank for ``train.num_workers`` (an integer, or "auto")."""
    if setting != "auto":
        return int(setting)
    if device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per_rank = (cores or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(8, per_rank - 1))


@dataclass(frozen=True)
class WorkerSetup:
    """``worker_init_fn`` (picklable, so it also reaches spawned workers): the global
    generators of worker ``w`` seeded from (seed, rank, w, start position) alone, and the stop
    signals ignored — the main process decides when the run stops (``kinema.train.stop``) and
    shuts its workers down; a worker that inherited its handler would only repeat its message
    on Ctrl-C, which reaches the whole process group."""
    seed: int
    rank: int
    epoch: int
    sample: int

    def __call__(self, worker_id: int) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)
        entropy = [self.seed, self.rank, worker_id, self.epoch, self.sample]
        python, numpy, torch_seed = np.random.SeedSequence(entropy).generate_state(3, np.uint64)
        random.seed(int(python))
        np.random.seed(int(numpy) % 2**32)
        torch.manual_seed(int(torch_seed) % 2**63)


class ResumableBatches:
    """Infinite iterator over this rank's share of seeded global batches."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0,
                 position: DataPosition | None = None, *, pin_memory: bool = False,
                 prefetch_factor: int = 2, progress: bool = True):
        self.dataset = dataset
        self.size = len(dataset)  # type: ignore[arg-type]
        if batch_size < 1:
            raise KinemaError(f"batch size must be positive, got {batch_size}")
        if batch_size % world_size:
            raise KinemaError(f"the global batch size {batch_size} must be divisible by the "
                              f"number of processes ({world_size})")
        if self.size < batch_size:
            raise KinemaError(f"the dataset holds {self.size} items, fewer than one batch of "
                              f"{batch_size}; lower --batch-size or use a larger dataset")
        self.batch_size = batch_size
        self.per_rank = batch_size // world_size
        self.seed, self.rank, self.num_workers = seed, rank, num_workers
        self.pin_memory, self.prefetch_factor = pin_memory, prefetch_factor
        self.position = position or DataPosition()
        if hasattr(dataset, "fill_frame_cache"):   # decode real videos before workers start
            dataset.fill_frame_cache(progress=progress and rank == 0)

    def epoch_order(self, epoch: int) -> list[int]:
        return np.random.default_rng([self.seed, epoch]).permutation(self.size).tolist()

    def first_global_batch(self) -> dict:
        """The whole first global batch of epoch 0 (for ``on_train_start`` on every rank)."""
        return collate([self.dataset[i] for i in self.epoch_order(0)[:self.batch_size]])

    def _rank_batches(self, epoch: int, start: int) -> list[list[int]]:
        order = self.epoch_order(epoch)
        lo, hi = self.rank * self.per_rank, (self.rank + 1) * self.per_rank
        return [order[i:i + self.batch_size][lo:hi]
                for i in range(start, self.size - self.batch_size + 1, self.batch_size)]

    def schedule(self, position: DataPosition) -> Iterator[tuple[list[int], DataPosition]]:
        """This rank's batches from ``position`` on, for ever, each with the position after it
        (a position in the dropped tail of an epoch moves on to the next epoch)."""
        epoch, start = position.epoch, position.sample
        while True:
            for i, indices in enumerate(self._rank_batches(epoch, start)):
                sample = start + (i + 1) * self.batch_size
                yield indices, (DataPosition(epoch + 1, 0) if sample + self.batch_size > self.size
                                else DataPosition(epoch, sample))
            epoch, start = epoch + 1, 0

    def loader(self, position: DataPosition) -> DataLoader:
        """The run's one DataLoader, its batch sampler walking ``schedule(position)``."""
        workers = self.num_workers
        # The loader draws its workers' base seed from this generator (not the global RNG),
        # so creating it on resume leaves the global random stream untouched.
        generator = torch.Generator().manual_seed(int(np.random.default_rng(
            [self.seed, self.rank, position.epoch, position.sample]).integers(2**62)))
        return DataLoader(
            self.dataset, batch_sampler=_IndexLists(self, position), num_workers=workers,
            collate_fn=collate, generator=generator, pin_memory=self.pin_memory,
            worker_init_fn=WorkerSetup(self.seed, self.rank, position.epoch, position.sample)
            if workers else None, persistent_workers=workers > 0,
            prefetch_factor=self.prefetch_factor if workers else None)

    def __iter__(self) -> Iterator[dict]:
        start = self.position
        for (_, after), batch in zip(self.schedule(start),
                                     _unwrapped_errors(self.loader(start))):
            self.position = after
            yield batch


class _IndexLists:
    """A batch sampler: the index lists of ``batches.schedule(position)``."""

    def __init__(self, batches: ResumableBatches, position: DataPosition):
        self.batches, self.position = batches, position

    def __iter__(self) -> Iterator[list[int]]:
        return (indices for indices, _ in self.batches.schedule(self.position))


def _unwrapped_errors(loader: DataLoader) -> Iterator[dict]:
    """Iterate ``loader``; a ``KinemaError`` raised in a worker process arrives wrapped as
    "Caught X in DataLoader worker process 0. Original Traceback ...": re-raise it with its
    one-line message alone, as it would read without workers."""
    iterator = iter(loader)
    try:
        yield from iterator
    except KinemaError as err:
        lines = str(err).strip().splitlines()
        if not (len(lines) > 1 and lines[0].startswith("Caught ")):
            raise
        error = type(err)(lines[-1].split(": ", 1)[-1])
    else:
        return
    # Stop the workers now: left to the garbage collector (the traceback keeps the iterator
    # alive) their shutdown waits out a 5 s join timeout per worker and logs broken pipes.
    # torch has no public call for this; without the private one, collection still does it.
    getattr(iterator, "_shutdown_workers", lambda: None)()
    raise error


def to_device(batch, device: torch.device):
    """A collated batch (tensors in dicts, lists, tuples) on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
