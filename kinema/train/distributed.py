"""Data parallelism under ``torchrun``: process group, parameter broadcast, gradient average.

Why not ``DistributedDataParallel``: a method's ``training_step`` is a method of the inner
module, not its ``forward``, and adversarial methods back-propagate through parts of the model
once per optimiser group per iteration; DDP's reducer expects exactly one forward through the
wrapper per backward. Instead the trainer (1) broadcasts rank 0's parameters and buffers once
at the start, (2) after each group's backward averages that group's gradients with one
coalesced ``all_reduce`` (the same mean DDP computes), and (3) broadcasts buffers from rank 0
before each iteration, as DDP's ``broadcast_buffers`` does. Since every rank's loss is a mean
over its ``B / world`` items, the averaged gradient equals the gradient of the mean over the
global batch of ``B``: N processes match one process up to float rounding.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from kinema.errors import KinemaError


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False   # this process created the group and destroys it at the end

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def gather_objects(self, obj) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def all_true(self, flag: bool) -> bool:
        if not self.active:
            return bool(flag)
        t = torch.tensor([0.0 if flag else 1.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.item() == 0.0

    def any_flags(self, flags: list[bool]) -> list[bool]:
        """For each flag, whether it is set on any rank (one all-reduce for all of them)."""
        if not self.active:
            return [bool(f) for f in flags]
        t = torch.tensor([float(f) for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.active:
            values = values.to(self.device)
            dist.all_reduce(values)
        return values

    @torch.no_grad()
    def broadcast_module(self, module: nn.Module, buffers_only: bool = False) -> None:
        if not self.active:
            return
        tensors = list(module.buffers()) if buffers_only else \
            list(module.parameters()) + list(module.buffers())
        for t in tensors:
            dist.broadcast(t.data, src=0)

    @torch.no_grad()
    def average_gradients(self, params: list[nn.Parameter]) -> None:
        """Replace each gradient by its mean over ranks (one coalesced all-reduce)."""
        if not self.active:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= self.world_size
        for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
            g.copy_(synced)

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def init_distributed(device: str | None = None) -> DistContext:
    """Join the process group ``torchrun`` describes in the environment (RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR/PORT); a plain process gets a one-rank context.

    ``device``: "cpu", "cuda" or None (a GPU per local rank when CUDA is available)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise KinemaError(f"--device {device}: this torch build or machine has no CUDA GPU; "
                          "use --device cpu")
    try:
        dev = torch.device(f"cuda:{local}") if use_cuda else torch.device(device or "cpu")
    except RuntimeError:
        raise KinemaError(f"--device {device!r} is not a device torch knows "
                          "(cpu, cuda, cuda:N, mps)") from None
    if use_cuda:
        torch.cuda.set_device(dev)
    owns = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return DistContext(rank=rank, world_size=world, local_rank=local, device=dev, owns_group=owns)
