"""Batches in a seeded order whose position is part of the checkpoint.

Every epoch visits the dataset in a permutation drawn from ``(seed, epoch)`` alone, so the
order never depends on how many times the run was stopped. A global batch is ``batch_size``
consecutive indices of that permutation; under ``torchrun`` rank ``r`` loads the ``r``-th
contiguous slice of it (``batch_size / world_size`` items), so N processes together see the
same global batch as one process would. An incomplete tail of an epoch is dropped.

The position (epoch, samples of this epoch already consumed) is updated before a batch is
handed out, so a checkpoint written after the step that used it resumes with the next batch.
"""
from __future__ import annotations

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


class ResumableBatches:
    """Infinite iterator over this rank's share of seeded global batches."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0,
                 position: DataPosition | None = None):
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
        self.position = position or DataPosition()

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

    def __iter__(self) -> Iterator[dict]:
        while True:
            epoch, start = self.position.epoch, self.position.sample
            batches = self._rank_batches(epoch, start)
            if not batches:           # the position sits in a dropped tail
                self.position = DataPosition(epoch + 1, 0)
                continue
            # The loader's own generator (not the global RNG) seeds its workers, so creating a
            # loader mid-epoch on resume leaves the global random stream untouched.
            generator = torch.Generator().manual_seed(
                int(np.random.default_rng([self.seed, epoch, start]).integers(2**62)))
            loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=self.num_workers,
                                generator=generator, collate_fn=collate)
            for i, batch in enumerate(_unwrapped_errors(loader)):
                sample = start + (i + 1) * self.batch_size
                if sample + self.batch_size > self.size:
                    self.position = DataPosition(epoch + 1, 0)
                else:
                    self.position = DataPosition(epoch, sample)
                yield batch


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
