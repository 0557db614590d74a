"""kinema bench precision: the verdict rule, and one interleaved comparison of a tiny stage."""
from __future__ import annotations

import pytest

from kinema.bench.precision import StageBuilder, compare_stage, group_verdict


@pytest.mark.parametrize("bf16,skipped,within,as_well", [
    ([1.05, 1.15], {"fp32": 0, "bf16": 0}, True, True),      # mean 1.1 vs 1.1, spread 0.2
    ([1.3, 1.4], {"fp32": 0, "bf16": 0}, False, False),      # 0.25 off, beyond the spread
    ([1.05, 1.15], {"fp32": 0, "bf16": 3}, True, False),     # same loss, but skipped updates
    ([1.19, 1.21], {"fp32": 1, "bf16": 1}, True, True),
])
def test_bf16_trains_as_well_within_fp32_spread_without_extra_skips(bf16, skipped, within, as_well):
    v = group_verdict([1.0, 1.2], bf16, skipped)
    assert v["spread"] == pytest.approx(0.2)
    assert v["difference"] == pytest.approx(sum(bf16) / 2 - 1.1)
    assert (v["within"], v["as_well"]) == (within, as_well)


def test_one_stage_compared_from_the_same_weights(tmp_path):
    row = compare_stage(StageBuilder("tiny", tmp_path), "ile", steps=2, seeds=(0, 1))
    assert row["stage"] == "ile" and row["ratio"] == pytest.approx(row["bf16_ms"] / row["fp32_ms"])
    losses = row["losses"]["model"]
    # two seeds give two different runs; bf16 follows fp32 closely from the same weights
    assert losses["fp32"][0] != losses["fp32"][1]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02)
    assert losses["skipped"] == {"fp32": 0, "bf16": 0}


def test_a_plain_step_runs_bf16_in_the_trainers_autocast_and_fp32_without():
    import torch
    from torch import nn

    from kinema.bench.precision import plain_step

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear, self.seen = nn.Linear(2, 1), []

        def training_step(self, batch, group):
            on = torch.is_autocast_enabled("cpu")
            self.seen.append(torch.get_autocast_dtype("cpu") if on else None)
            return {"loss": self.linear(batch["x"]).float().pow(2).mean()}

    probe = Probe()
    optimizers = {"model": torch.optim.SGD(probe.parameters(), lr=0.1)}
    before = probe.linear.weight.detach().clone()
    for precision in ("fp32", "bf16"):
        plain_step(probe, {"x": torch.ones(2, 2)}, optimizers, precision)
    assert probe.seen == [None, torch.bfloat16]
    assert not torch.equal(probe.linear.weight, before)          # both updates were made
