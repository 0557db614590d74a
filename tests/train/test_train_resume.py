"""A stopped run, started again, ends with exactly the weights of a run never stopped."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kinema.train.checkpoint import checkpoint_dirs, read_checkpoint
from tests.train import toy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def one_thread():
    """Bit-exact comparisons need the same thread count as the 1-thread subprocesses."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_same_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}/{key} differs"


def losses(out: Path) -> dict[int, dict]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["losses"] for r in records}


def test_resume_from_every_checkpoint_matches_uninterrupted(tmp_path, one_thread):
    options = dict(steps=10, checkpoint_every=2, keep_checkpoints=0, log_every=1)
    model = {"noise": 0.1}                     # every step draws from the global torch RNG
    reference = tmp_path / "reference"
    toy.run(reference, model_options=model, **options)
    expected = toy.final_state(reference)
    for step, _ in checkpoint_dirs(reference / "checkpoints")[1:]:
        run = tmp_path / f"from-{step}"
        shutil.copytree(reference, run)
        shutil.rmtree(run / "model")
        for later, path in checkpoint_dirs(run / "checkpoints"):
            if later > step:
                shutil.rmtree(path)
        toy.run(run, model_options=model, **options)
        assert_same_state(toy.final_state(run), expected)
        # the metrics after the resume point are the uninterrupted run's, record for record
        assert losses(run) == losses(reference)


def _train_command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kinema", "train", "tests.train.toy:recipe", "--out", str(out),
            "--steps", "40", "--seed", "3", "--no-tensorboard",
            "--set", "train.checkpoint_every=2", "--set", "model.noise=0.1", *extra]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _newest_step(out: Path) -> int:
    dirs = checkpoint_dirs(out / "checkpoints")
    return dirs[0][0] if dirs else 0


def test_sigkill_then_rerun_matches_uninterrupted(tmp_path, one_thread, monkeypatch, capsys):
    """A real process is SIGKILLed mid-run; the same command, run again (here through
    ``kinema.cli.main`` in this process, which saves a second interpreter start and torch's
    5 s first-optimiser import under load), resumes from what is on disk."""
    from kinema.cli import main

    out = tmp_path / "killed"
    slow = ("--set", "model.sleep=0.04")     # a 1.6 s run: room to kill it in the middle
    proc = subprocess.Popen(_train_command(out, *slow), cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _newest_step(out) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert not (out / "model").exists(), "the run finished before it could be killed"
    stopped_at = _newest_step(out)
    assert 4 <= stopped_at < 40
    for _, path in checkpoint_dirs(out / "checkpoints"):   # only complete checkpoints
        read_checkpoint(path)

    capsys.readouterr()
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["kinema", *_train_command(out, *slow)[3:]])
    with pytest.raises(SystemExit) as finished:
        main()
    err = capsys.readouterr().err
    assert finished.value.code == 0, err[-2000:]
    assert f"resuming from {out / 'checkpoints' / f'step-{stopped_at:06d}'}" in err, err[-2000:]

    reference = tmp_path / "reference"
    r = toy.recipe("tiny")
    r.train.steps, r.train.seed, r.train.checkpoint_every, r.model.noise = 40, 3, 2, 0.1
    from kinema.train.recipes import train_recipe
    train_recipe(r, reference, tensorboard=False, progress=False)
    assert_same_state(toy.final_state(out), toy.final_state(reference))
    assert not list((out / "checkpoints").glob(".tmp-*"))
