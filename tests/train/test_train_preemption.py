"""Stopping on a signal and checkpointing on a timer: every rank stops at one step with one
checkpoint, and a run resumes on another number of processes."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from kinema.config import TrainConfig
from kinema.errors import KinemaError
from kinema.train.checkpoint import checkpoint_dirs, read_checkpoint
from kinema.train.distributed import DistContext
from kinema.train.stop import GracefulStop
from kinema.train.trainer import Trainer
from tests.commands import ROOT, torchrun_command, torchrun_env
from tests.train import toy


class FakeClock:
    """``time.monotonic`` advancing ``tick`` seconds per reading."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def monotonic(self) -> float:
        self.now += self.tick
        return self.now


def test_poll_reports_a_signal_and_rank_zeros_timer(monkeypatch):
    clock = FakeClock(tick=50.0)
    monkeypatch.setattr("kinema.train.stop.time", clock)
    one = DistContext()
    stop = GracefulStop(enabled=False, checkpoint_minutes=2)   # started at 50 s
    assert stop.poll(one) == (False, False)                    # 100 s: 50 s since
    assert stop.poll(one) == (False, False)                    # 150 s
    assert stop.poll(one) == (False, True)                     # 200 s: 150 s >= 120 s
    stop.restart_timer()                                       # 250 s
    assert stop.poll(one) == (False, False)                    # 300 s
    stop.requested = True
    assert stop.poll(one) == (True, False)
    other_rank = GracefulStop(enabled=False, checkpoint_minutes=0.01)
    assert other_rank.poll(DistContext(rank=1)) == (False, False)   # only rank 0's clock


def test_checkpoint_minutes_writes_checkpoints_on_the_clock(tmp_path, monkeypatch):
    monkeypatch.setattr("kinema.train.stop.time", FakeClock(tick=25.0))
    toy.run(tmp_path / "run", steps=7, checkpoint_every=0, keep_checkpoints=0,
            checkpoint_minutes=1.0)
    # a reading at the start (25 s) and one per step: due at step 3 (100 s), then the timer
    # restarts at 125 s, so again at step 6 (200 s); the last step always checkpoints
    steps = sorted(step for step, _ in checkpoint_dirs(tmp_path / "run" / "checkpoints"))
    assert steps == [3, 6, 7]


def test_sigusr1_finishes_the_step_and_checkpoints(tmp_path):
    handler_before = signal.getsignal(signal.SIGUSR1)
    trainer = Trainer(toy.ToyPredictor(toy.ToyConfig()), toy.ShiftingVideos(num_videos=12),
                      TrainConfig(steps=6, batch_size=4, checkpoint_every=100), tmp_path / "run",
                      tensorboard=False, progress=False)
    trainer.optimizers["model"].register_step_post_hook(
        lambda *_: trainer.step == 1 and os.kill(os.getpid(), signal.SIGUSR1))
    with pytest.raises(KinemaError, match="interrupted at step 2; the checkpoint .*step-000002"):
        trainer.fit()
    assert signal.getsignal(signal.SIGUSR1) is handler_before
    assert [s for s, _ in checkpoint_dirs(tmp_path / "run" / "checkpoints")] == [2]


def _torchrun(out: Path, *extra: str) -> subprocess.Popen:
    cmd = torchrun_command("train", "tests.train.toy:recipe", "--out", out, "--batch-size", "4",
                           "--no-tensorboard", *extra)
    return subprocess.Popen(cmd, cwd=ROOT, env=torchrun_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _one_process(out: Path, steps: int) -> dict:
    recipe = toy.recipe("tiny")
    recipe.train.steps, recipe.train.batch_size = steps, 4
    from kinema.train.recipes import train_recipe

    train_recipe(recipe, out, tensorboard=False, progress=False)
    return toy.final_state(out)


def _assert_close(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    for part in ("model", "ema"):
        for key in b[part]:
            assert torch.allclose(a[part][key].float(), b[part][key].float(), atol=1e-5), key


@pytest.mark.slow
def test_sigterm_to_one_rank_stops_both_at_one_step_then_resumes_on_one_process(tmp_path):
    out = tmp_path / "run"
    proc = _torchrun(out, "--steps", "400", "--set", "model.sleep=0.05",
                     "--set", "train.checkpoint_every=1000", "--set", "train.log_every=1")
    deadline = time.monotonic() + 120
    metrics = out / "metrics.jsonl"
    while proc.poll() is None and time.monotonic() < deadline and not (
            metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        time.sleep(0.05)
    ranks = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert len(ranks) == 2
    os.kill(int(ranks[1]), signal.SIGTERM)                  # rank 1 alone gets the notice
    _, err = proc.communicate(timeout=120)
    stops = re.findall(r"error: interrupted at step (\d+); the checkpoint (\S+) holds it", err)
    assert len(stops) == 2, err[-3000:]                      # one line from each rank
    (step, path), other = stops
    assert other == (step, path) and path == str(out / "checkpoints" / f"step-{int(step):06d}")
    assert not re.search(r'File ".*/kinema/', err), err[-3000:]   # no traceback of kinema's
    checkpoint = read_checkpoint(Path(path))
    assert 3 <= int(step) < 400 and len(checkpoint.state["rng"]) == 2
    assert [s for s, _ in checkpoint_dirs(out / "checkpoints")] == [int(step)]

    resumed = toy.recipe("tiny")                             # 2 -> 1 process, 3 more steps
    resumed.train.steps, resumed.train.batch_size = int(step) + 3, 4
    resumed.model.sleep = 0.05
    from kinema.train.recipes import train_recipe

    train_recipe(resumed, out, tensorboard=False, progress=False)
    _assert_close(toy.final_state(out), _one_process(tmp_path / "single", int(step) + 3))


@pytest.mark.slow
def test_a_one_process_run_resumes_on_two(tmp_path):
    out = tmp_path / "run"
    _one_process(out, 4)
    proc = _torchrun(out, "--steps", "8")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "resuming from" in err and "rank 1 starts a fresh random stream" in err
    _assert_close(toy.final_state(out), _one_process(tmp_path / "single", 8))
