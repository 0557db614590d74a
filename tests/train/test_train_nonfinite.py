"""Non-finite losses: the step is skipped and counted; a long streak stops the run clearly."""
from __future__ import annotations

import json

import pytest
import torch

from kinema.errors import KinemaError
from kinema.train.checkpoint import checkpoint_dirs, read_checkpoint
from tests.train import toy


def _float_weights(state: dict) -> dict:
    return {k: v for k, v in state.items() if v.is_floating_point()}


def test_nan_step_is_skipped_and_changes_nothing(tmp_path):
    # run A: three clean steps; run B: the same three, then a fourth whose loss is NaN
    toy.run(tmp_path / "a", steps=3, checkpoint_every=3)
    toy.run(tmp_path / "b", steps=4, checkpoint_every=4, log_every=1,
            model_options={"nan_at": (3,)})
    a, b = toy.final_state(tmp_path / "a"), toy.final_state(tmp_path / "b")
    for part in ("model", "ema"):
        wa, wb = _float_weights(a[part]), _float_weights(b[part])
        assert wa.keys() == wb.keys()
        for key in wa:
            assert torch.equal(wa[key], wb[key]), f"{part}/{key} changed in the NaN step"
    records = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["nonfinite"] for r in records] == [0, 0, 0, 1]
    assert records[3]["losses"]["model/loss"] is None     # no finite value to average
    state = read_checkpoint(tmp_path / "b" / "checkpoints" / "step-000004").state
    assert state["nonfinite_total"] == 1 and state["nonfinite_run"] == 1
    # Adam's own step counter saw three updates, not four
    adam_steps = {int(s["step"]) for s in state["optimizers"]["model"]["state"].values()}
    assert adam_steps == {3}


def test_isolated_nan_steps_do_not_stop_the_run(tmp_path):
    toy.run(tmp_path, steps=8, log_every=8, max_nonfinite=2,
            model_options={"nan_at": (1, 3, 5)})
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 8 and record["nonfinite"] == 3
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_nan_streak_stops_with_a_message_and_keeps_the_last_checkpoint(tmp_path):
    # steps 6, 7, 8 (0-based calls 5, 6, 7) are NaN; the third in a row stops the run
    with pytest.raises(KinemaError) as caught:
        toy.run(tmp_path, steps=20, checkpoint_every=2, keep_checkpoints=0, max_nonfinite=3,
                model_options={"nan_from": 5})
    message = str(caught.value)
    assert "stopped at step 8" in message and "3 steps in a row" in message
    assert "steps 6-8" in message and "step-000006" in message
    assert [s for s, _ in checkpoint_dirs(tmp_path / "checkpoints")] == [6, 4, 2]
    last = read_checkpoint(tmp_path / "checkpoints" / "step-000006")
    assert all(torch.isfinite(v).all() for v in _float_weights(last.model).values())
    assert not (tmp_path / "model").exists()
