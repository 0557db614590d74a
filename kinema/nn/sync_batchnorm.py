"""Batch norm over the whole global batch under ``torchrun``: torch's ``SyncBatchNorm`` on any
device (torch's own accepts CUDA inputs only; kinema's multi-process tests and CPU runs use
gloo).

In training mode with a process group of two or more ranks, the mean and the (biased) variance
a layer normalises with are those of every rank's samples together, computed in two passes with
two differentiable all-reduces (sums, then squared deviations from the global mean), so the
outputs, the running statistics and, once the trainer averages gradients over ranks, the
gradients equal one process's on the global batch. (Each rank's backward through an all-reduce
of sums receives the sum of every rank's upstream gradients: the gradient of the sum of the
ranks' losses, which the trainer's average over ranks turns into that of their mean.) In eval
mode, or in one process, it is ``nn.BatchNorm``: the running statistics.

``synchronize_batch_norms(module)`` swaps every batch norm of a module for this one in place,
keeping the same parameter and buffer tensors (optimisers and EMA copies stay valid; the state
dict keeps its keys).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, differentiable: the gradient of a sum is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _all_reduce(x: torch.Tensor) -> torch.Tensor:
    return _AllReduceSum.apply(x)


class SynchronizedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over axis 1 of (b c ...) inputs, with the global batch's statistics when
    training under a process group of two or more ranks."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected a (b c ...) input, got shape {tuple(x.shape)}")

    def _synchronized(self) -> bool:
        return self.training and _world_size() > 1

    def _moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(global mean (c), global biased variance (c), global count) of x (b c ...)."""
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = x.new_tensor([x.numel() // x.shape[1]])
        totals = _all_reduce(torch.cat([x.sum(dims), count]))
        n = totals[-1]
        mean = totals[:-1] / n
        var = _all_reduce((x - mean.view(shape)).pow(2).sum(dims)) / n
        return mean, var, n

    @torch.no_grad()
    def batch_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (mean, biased var) this layer would normalise the batch ``x`` with in training
        mode: the global batch's under a process group, else x's own."""
        if self._synchronized():
            mean, var, _ = self._moments(x)
            return mean, var
        dims = [0] + list(range(2, x.dim()))
        return x.mean(dims), x.var(dims, unbiased=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._synchronized():
            return super().forward(x)
        self._check_input_dim(x)
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean, var, n = self._moments(x)
        y = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                          else self.momentum)
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
                self.running_var.lerp_(unbiased.detach().to(self.running_var.dtype), factor)
        return y


def synchronize_batch_norms(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm1d/2d/3d`` inside ``module`` (or ``module`` itself) by a
    ``SynchronizedBatchNorm`` sharing its parameters and buffers. Returns the module."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, SynchronizedBatchNorm):
        return _converted(module)
    for name, child in module.named_children():
        setattr(module, name, synchronize_batch_norms(child))
    return module


def _converted(norm: nn.modules.batchnorm._BatchNorm) -> SynchronizedBatchNorm:
    out = SynchronizedBatchNorm(norm.num_features, norm.eps, norm.momentum, norm.affine,
                                norm.track_running_stats, device="meta")
    if norm.affine:
        out.weight, out.bias = norm.weight, norm.bias
    if norm.track_running_stats:
        out.running_mean, out.running_var = norm.running_mean, norm.running_var
        out.num_batches_tracked = norm.num_batches_tracked
    out.train(norm.training)
    return out
