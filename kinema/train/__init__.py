"""One training loop for every method: ``Trainer(method, dataset, train_config, out_dir).fit()``.

Modules: ``trainer`` (the loop), ``checkpoint`` (atomic, verified checkpoints), ``data``
(seeded, resumable batch order), ``ema``, ``log`` (metrics.jsonl + TensorBoard), ``rng``,
``distributed`` (torchrun), ``cli`` (``kinema train``), ``method`` (what a method provides),
``step`` (one iteration's updates, gradient accumulation), ``precision`` (autocast, loss scaling).
"""
from __future__ import annotations


def __getattr__(name: str):
    # lazy, so that `kinema --help` does not import the loop's dependencies
    if name == "Trainer":
        from kinema.train.trainer import Trainer
        return Trainer
    raise AttributeError(f"module 'kinema.train' has no attribute {name!r}")
