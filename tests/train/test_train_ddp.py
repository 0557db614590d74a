"""``torchrun --nproc_per_node 2`` (gloo, CPU) matches one process with the same global batch."""
from __future__ import annotations

import json

import torch

from kinema.train.checkpoint import read_checkpoint
from kinema.train.recipes import train_recipe
from tests.commands import torchrun
from tests.train import toy


def test_two_processes_match_one(tmp_path):
    # the adversarial preset: two alternating optimiser groups and a data-dependent
    # on_train_start, so gradient averaging, ordering and the broadcast are all exercised
    out = tmp_path / "ddp"
    done = torchrun("train", "tests.train.toy:recipe", "--preset", "adversarial",
                    "--out", out, "--steps", "6", "--batch-size", "4", "--no-tensorboard",
                    "--set", "train.checkpoint_every=3", "--set", "train.log_every=3")
    assert done.returncode == 0, done.stderr[-3000:]

    recipe = toy.recipe("adversarial")
    recipe.train.steps, recipe.train.batch_size = 6, 4
    recipe.train.checkpoint_every = recipe.train.log_every = 3
    single = tmp_path / "single"
    train_recipe(recipe, single, tensorboard=False, progress=False)

    two = read_checkpoint(out / "checkpoints" / "step-000006")
    one = read_checkpoint(single / "checkpoints" / "step-000006")
    assert two.state["world_size"] == 2 and len(two.state["rng"]) == 2
    for part in ("model", "ema"):
        a, b = getattr(two, part), getattr(one, part)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), f"{part}/{key}"
    # the weights moved (the comparison is not between two untouched initialisations)
    first = read_checkpoint(single / "checkpoints" / "step-000003").model
    assert not torch.allclose(first["net.0.weight"], one.model["net.0.weight"])
    # only rank 0 logs, and it logs losses averaged over both ranks
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(x) for x in (single / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    for r, s in zip(records, reference):
        for key, value in s["losses"].items():
            assert abs(r["losses"][key] - value) < 1e-4, key
