"""Short real training: the ``Trainer`` in a temporary run folder, without TensorBoard,
messages or (unless asked) a progress bar, for demo sections, the domain extractors and
tests.

    history = train_quickly(model, clips, steps=50, batch_size=4, lr=2e-3)
    history["model/loss"]          # one value per step, as metrics.jsonl logs it

It is the one training loop of kinema (optimiser per group, gradient clipping, the learning
rate schedule, ``on_train_start``), so a quick run trains a method exactly as
``kinema train`` does, only shorter. The run folder is deleted afterwards; the trained
``model`` is returned in eval mode, its weights changed in place.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

# torch loads inside the functions: kinema.viz.sections (and so `kinema --help`) imports this


class ClipDataset:
    """Items ``{"video": clips[i]}``, or ``{key: fields[key][i]}`` for a dict of tensors that
    share their first axis (e.g. ``{"video": ..., "eta": ...}``); a map-style dataset."""

    def __init__(self, data):
        self.fields = dict(data) if isinstance(data, dict) else {"video": data}
        sizes = {len(v) for v in self.fields.values()}
        if len(sizes) != 1:
            raise ValueError(f"the fields hold different numbers of items: "
                             f"{ {k: len(v) for k, v in self.fields.items()} }")
        self.size = sizes.pop()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        return {key: value[index] for key, value in self.fields.items()}


def as_dataset(data):
    """A dataset as is; a tensor of clips (b t c h w) or a dict of tensors as a ClipDataset."""
    import torch

    if isinstance(data, (torch.Tensor, dict)):
        return ClipDataset(data)
    return data


def train_quickly(model, data, steps: int, batch_size: int = 4, lr: float | None = None,
                  seed: int = 0, progress: bool = False, **train_options
                  ) -> dict[str, list[float]]:
    """Train ``model`` (a ``kinema.train.method.TrainableMethod``) for ``steps`` steps on
    ``data`` (a dataset, a tensor of clips, or a dict of tensors) with the real Trainer.

    ``lr`` and ``train_options`` (any ``kinema.config.TrainConfig`` field, e.g.
    ``grad_clip=None``, ``lr_schedule="linear"``) replace the TrainConfig defaults. Returns
    every logged scalar per step: ``{"group/key": [value at step 1, ...]}`` (the keys of
    metrics.jsonl: the groups' ``loss``, the other scalars ``training_step`` returns, and
    ``grad_norm``); a step whose value was not finite holds ``nan``. ``progress`` shows the
    Trainer's bar.
    """
    from kinema.config import TrainConfig
    from kinema.train.trainer import Trainer

    dataset = as_dataset(data)
    config = TrainConfig(steps=steps, batch_size=min(batch_size, len(dataset)), seed=seed,
                         log_every=1, checkpoint_every=0, keep_checkpoints=1,
                         **({} if lr is None else {"lr": lr}), **train_options)
    parameter = next(model.parameters(), None)
    device = str(parameter.device) if parameter is not None else "cpu"
    with tempfile.TemporaryDirectory(prefix="kinema-quick-") as tmp:
        trainer = Trainer(model, dataset, config, Path(tmp) / "run", device=device,
                          tensorboard=False, progress=progress, quiet=True)
        trainer.fit()
        records = [json.loads(line) for line in
                   (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines() if line]
    keys = sorted({key for r in records for key in r["losses"]})
    model.eval()
    return {key: [_value(r["losses"].get(key)) for r in records] for key in keys}


def _value(v) -> float:
    return float("nan") if v is None else float(v)
