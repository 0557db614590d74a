"""Synchronised batch norm: two gloo processes on half a batch each equal one process on the whole
batch (outputs, running statistics, averaged gradients) for the latent GAN's temporal generator,
whose batch norms (H and T) would otherwise each see half the batch."""
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from kinema.methods.latentgan.losses import RunningNormalizer
from kinema.methods.latentgan.temporal import TemporalGenerator
from kinema.nn.sync_batchnorm import SynchronizedBatchNorm, synchronize_batch_norms

BATCH, STEPS = 6, 5


def generator() -> TemporalGenerator:
    torch.manual_seed(0)
    return TemporalGenerator(dim=3, width=8, num_ws=2, w_dim=4).double()


def noise():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(BATCH, 3, generator=g).double(),
            torch.randn(BATCH, STEPS - 1, 3, generator=g).double())


def one_step(model: TemporalGenerator, i, s, world: int) -> dict:
    """Forward in train mode, a loss averaged over this rank's samples, backward, gradients
    averaged over ranks (the trainer's rule), and what a comparison needs."""
    ws, l = model(i, s)
    loss = (ws - 0.3).pow(2).mean() + l.pow(3).mean()
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        g = p.grad.clone()
        if world > 1:
            dist.all_reduce(g)
            g /= world
        grads[name] = g
    normalizer = RunningNormalizer(3).double()
    normalizer.update((l[:, -1] - l[:, 1]).detach())
    mean, var = model.hallucinator.batch_statistics(i)
    return {"ws": ws.detach(), "grads": grads,
            "buffers": {k: v.clone() for k, v in model.named_buffers()},
            "statistics": [mean, var], "normalizer": [normalizer.running_mean, normalizer.running_var]}


def worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        i, s = noise()
        half = slice(rank * BATCH // 2, (rank + 1) * BATCH // 2)
        results = {}
        for name, synchronize in (("plain", False), ("synchronised", True)):
            model = generator()
            if synchronize:
                synchronize_batch_norms(model)
            result = one_step(model, i[half], s[half], 2)
            halves = [torch.empty_like(result["ws"]) for _ in range(2)]
            dist.all_gather(halves, result["ws"])
            results[name] = {**result, "ws": torch.cat(halves)}
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def two_processes(tmp_path) -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "rank0.pt"
    mp.spawn(worker, args=(port, str(out)), nprocs=2, join=True)
    return torch.load(out, weights_only=True)


def test_two_processes_with_synchronised_norms_match_one(tmp_path):
    one = one_step(generator(), *noise(), world=1)
    results = two_processes(tmp_path)
    two = results["synchronised"]
    assert torch.allclose(two["ws"], one["ws"], atol=1e-10)
    for name, value in one["buffers"].items():           # running mean / var of every norm
        assert torch.allclose(two["buffers"][name].double(), value.double(), atol=1e-10), name
    for name, value in one["grads"].items():
        assert torch.allclose(two["grads"][name], value, atol=1e-10), name
    for a, b in zip(two["statistics"] + two["normalizer"], one["statistics"] + one["normalizer"]):
        assert torch.allclose(a, b, atol=1e-10)
    # without synchronisation each rank's norms see half the batch: other codes and gradients
    plain = results["plain"]
    assert (plain["ws"] - one["ws"]).abs().max() > 1e-2
    assert (plain["grads"]["hallucinator.norm.weight"] - one["grads"]["hallucinator.norm.weight"]).abs().max() > 1e-4


def test_conversion_keeps_the_tensors_and_one_process_is_batch_norm():
    model = generator()
    weight, running = model.hallucinator.norm.weight, model.hallucinator.norm.running_var
    keys = set(model.state_dict())
    synchronize_batch_norms(model)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 4 and all(isinstance(m, SynchronizedBatchNorm) for m in norms)
    assert model.hallucinator.norm.weight is weight and model.hallucinator.norm.running_var is running
    assert set(model.state_dict()) == keys
    reference = generator()
    i, s = noise()
    assert torch.allclose(model(i, s)[0], reference(i, s)[0], atol=1e-12)   # no process group
    assert torch.allclose(model.mapper.out_norm.running_var, reference.mapper.out_norm.running_var)
