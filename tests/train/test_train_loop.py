"""The loop's pieces: EMA, gradient clipping, alternating groups, warm-up, logs, samples, data."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from kinema.config import TrainConfig
from kinema.errors import KinemaError
from kinema.train.data import DataPosition, ResumableBatches
from kinema.train.recipes import build_recipe
from kinema.train.trainer import Trainer
from tests.train import toy


def make_trainer(tmp_path, adversarial: bool = False, **train_options) -> Trainer:
    options = dict(steps=3, batch_size=4, lr=1e-2, log_every=1, checkpoint_every=100)
    options.update(train_options)
    torch.manual_seed(0)                         # the same initial weights every time
    model = toy.ToyPredictor(toy.ToyConfig(adversarial=adversarial))
    return Trainer(model, toy.ShiftingVideos(num_videos=12), TrainConfig(**options),
                   tmp_path, tensorboard=False, progress=False)


def read_metrics(path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def fit_recording_weights(trainer) -> list[dict]:
    """Train; the float weights before the first optimiser step and after every one."""
    optimizer = trainer.optimizers["model"]
    snapshots = []

    def snapshot(*_):
        snapshots.append({k: v.detach().clone() for k, v in trainer.method.state_dict().items()
                          if v.is_floating_point()})

    optimizer.register_step_pre_hook(lambda *_: None if snapshots else snapshot())
    optimizer.register_step_post_hook(snapshot)
    trainer.fit()
    return snapshots


def test_ema_follows_its_recurrence_and_skips_integer_entries(tmp_path):
    trainer = make_trainer(tmp_path, ema_decay=0.7)
    snapshots = fit_recording_weights(trainer)
    assert len(snapshots) == 4                       # initial weights + three updates
    expected = dict(snapshots[0])
    for weights in snapshots[1:]:
        expected = {k: 0.7 * expected[k] + 0.3 * weights[k] for k in expected}
    assert "calls" not in trainer.ema.shadow         # the int64 buffer has no average
    for key, value in expected.items():
        assert torch.allclose(trainer.ema.shadow[key], value, atol=1e-6), key
    saved = toy.ToyPredictor.from_pretrained(tmp_path / "model").state_dict()   # EMA weights
    assert torch.allclose(saved["net.0.weight"], expected["net.0.weight"], atol=1e-6)


def test_ema_rampup_follows_stylegan2_adas_half_life_per_step(tmp_path):
    # decay 0.9 has a half-life of log 0.5 / log 0.9 = 6.58 steps; rampup 0.5 caps it at
    # 0.5, 1.0, 1.5 steps after updates 1, 2, 3: decays 0.25, 0.5, 0.5 ** (1 / 1.5)
    trainer = make_trainer(tmp_path, ema_decay=0.9, ema_rampup=0.5)
    snapshots = fit_recording_weights(trainer)
    decays = [0.25, 0.5, 0.5 ** (1 / 1.5)]
    expected = dict(snapshots[0])
    for decay, weights in zip(decays, snapshots[1:]):
        expected = {k: decay * expected[k] + (1 - decay) * weights[k] for k in expected}
    for key, value in expected.items():
        assert torch.allclose(trainer.ema.shadow[key], value, atol=1e-6), key


def test_ramped_decay_reaches_the_plain_decay_once_the_run_is_long_enough():
    from kinema.train.ema import ramped_decay

    assert ramped_decay(0.99, None, 1) == 0.99
    half_life = math.log(0.5) / math.log(0.99)                # 68.97 steps
    assert ramped_decay(0.99, 0.05, 10) == pytest.approx(0.5 ** (1 / 0.5))
    assert ramped_decay(0.99, 0.05, 1000) == pytest.approx(0.5 ** (1 / 50))
    assert ramped_decay(0.99, 0.05, int(half_life / 0.05) + 1) == 0.99
    with pytest.raises(ValueError):
        ramped_decay(0.99, 0.05, 0)


@pytest.mark.parametrize("clip", [1e-3, None])
def test_gradient_clipping(tmp_path, clip):
    trainer = make_trainer(tmp_path, grad_clip=clip, steps=2)
    norms = []
    params = trainer.groups["model"]
    trainer.optimizers["model"].register_step_pre_hook(lambda *_: norms.append(
        float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))))
    trainer.fit()
    logged = [r["losses"]["model/grad_norm"] for r in read_metrics(tmp_path)]
    assert len(norms) == 2 and all(n > 1e-2 for n in logged)   # the raw norm is logged
    if clip is None:
        assert np.allclose(norms, logged, rtol=1e-5)
    else:
        assert all(n <= clip * (1 + 1e-4) for n in norms) and np.allclose(norms, clip, rtol=1e-3)


def test_groups_alternate_and_each_step_moves_only_its_group(tmp_path):
    trainer = make_trainer(tmp_path, adversarial=True)
    method = trainer.method
    order, before = [], {}
    step_of = method.training_step
    method.training_step = lambda batch, group: order.append(group) or step_of(batch, group)
    names = {id(p): n for n, p in method.named_parameters()}
    for group, optimizer in trainer.optimizers.items():
        mine = {names[id(p)] for p in trainer.groups[group]}

        def pre(*_, group=group):
            before.update({n: p.detach().clone() for n, p in method.named_parameters()})

        def post(*_, mine=mine):
            # the critic's last bias may see an exactly zero hinge gradient and stay put
            moved = {n for n, p in method.named_parameters() if not torch.equal(p, before[n])}
            assert moved <= mine and len(moved) >= len(mine) - 1, (moved, mine)

        optimizer.register_step_pre_hook(pre)
        optimizer.register_step_post_hook(post)
    trainer.fit()
    assert order == ["discriminator", "generator"] * 3
    record = read_metrics(tmp_path)[-1]
    assert {"discriminator/loss", "discriminator/real", "generator/loss",
            "generator/mse"} <= set(record["losses"])


def test_warmup_metrics_and_falling_loss(tmp_path):
    trainer = make_trainer(tmp_path, steps=12, warmup_steps=4, lr=0.02)
    trainer.fit()
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == list(range(1, 13))
    assert [r["lr"]["model"] for r in records[:6]] == pytest.approx(
        [0.005, 0.01, 0.015, 0.02, 0.02, 0.02])
    for r in records:
        assert set(r) == {"step", "time", "wall", "losses", "lr", "nonfinite",
                          "steps_per_second"}
        assert r["nonfinite"] == 0
    assert records[-1]["losses"]["model/mse"] < 0.5 * records[0]["losses"]["model/mse"]
    assert records[-1]["time"] > records[0]["time"] > 0


@pytest.mark.parametrize("schedule", ["linear", "exponential", "cosine"])
def test_lr_schedules_decay_to_the_final_factor_after_warmup(tmp_path, schedule):
    trainer = make_trainer(tmp_path, steps=10, warmup_steps=2, lr=0.02, lr_schedule=schedule,
                           lr_final_factor=0.25)
    trainer.fit()
    logged = [r["lr"]["model"] for r in read_metrics(tmp_path)]   # lr used at steps 0..9
    # written out from the definitions, independently of kinema.config.lr_factor
    decay = {"linear": lambda k: 1 - 0.75 * k / 10, "exponential": lambda k: 0.25 ** (k / 10),
             "cosine": lambda k: 0.25 + 0.75 * (1 + math.cos(math.pi * k / 10)) / 2}[schedule]
    expected = [0.02 * min(1.0, (k + 1) / 2) * decay(k) for k in range(10)]
    assert logged == pytest.approx(expected, rel=1e-12)
    assert logged[-1] < logged[2] < logged[1]


def test_cosine_to_zero_is_torchs_cosine_annealing(tmp_path):
    trainer = make_trainer(tmp_path, steps=10, lr=0.02, lr_schedule="cosine", lr_final_factor=0.0)
    trainer.fit()
    logged = [r["lr"]["model"] for r in read_metrics(tmp_path)]
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 10)
    expected = []
    for _ in range(10):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert logged == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_bad_lr_schedule_is_one_clear_error(tmp_path):
    with pytest.raises(KinemaError, match="lr_schedule must be one of constant, linear, "
                                          "exponential, cosine"):
        make_trainer(tmp_path, lr_schedule="cosin").fit()
    with pytest.raises(KinemaError, match="exponential never reaches 0"):
        make_trainer(tmp_path, lr_schedule="exponential", lr_final_factor=0.0).fit()


def test_periodic_samples_are_videos(tmp_path):
    from kinema.data.io import read_video

    make_trainer(tmp_path, steps=2, sample_every=2).fit()
    video = read_video(tmp_path / "samples" / "step-000002.mp4")
    assert video.shape[0] == 4 and video.ndim == 4       # t frames of a grid of 2 samples


def test_sampling_does_not_change_training_and_the_end_summary_says_where_things_are(
        tmp_path, capsys):
    plain = make_trainer(tmp_path / "plain", steps=3).fit().state_dict()
    capsys.readouterr()
    sampled = make_trainer(tmp_path / "sampled", steps=3, sample_every=1,
                           checkpoint_every=2).fit().state_dict()
    assert sorted(p.name for p in (tmp_path / "sampled" / "samples").glob("*.mp4")) == \
        ["step-000001.mp4", "step-000002.mp4", "step-000003.mp4"]
    for key in plain:                                   # sampling restores the RNG and mode
        assert torch.equal(plain[key], sampled[key]), key
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    run = tmp_path / "sampled"
    assert summary.startswith("finished at step 3 (")
    assert " s of training, 0 non-finite step(s) skipped); last losses model=" in summary
    assert summary.endswith(f"; metrics: {run / 'metrics.jsonl'}; checkpoint: "
                            f"{run / 'checkpoints' / 'step-000003'}; samples: {run / 'samples'}")


def test_batches_shard_resume_and_reshuffle():
    data = toy.ShiftingVideos(num_videos=10)

    def indices(batches, n):
        it = iter(batches)
        return [next(it)["index"].tolist() for _ in range(n)]

    whole = indices(ResumableBatches(data, 4, seed=1), 6)   # 2 batches/epoch, tail dropped
    assert whole[0] + whole[1] != whole[2] + whole[3]          # reshuffled per epoch
    assert all(len(set(a + b)) == 8 for a, b in zip(whole[::2], whole[1::2]))
    ranks = [indices(ResumableBatches(data, 4, seed=1, rank=r, world_size=2), 6)
             for r in range(2)]
    assert [a + b for a, b in zip(*ranks)] == whole
    first = ResumableBatches(data, 4, seed=1)
    head = indices(first, 3)
    assert first.position == DataPosition(epoch=1, sample=4)
    tail = indices(ResumableBatches(data, 4, seed=1, position=first.position), 3)
    assert head + tail == whole
    with pytest.raises(KinemaError, match="fewer than one batch"):
        ResumableBatches(data, 16, seed=1)
    with pytest.raises(KinemaError, match="divisible"):
        ResumableBatches(data, 3, seed=1, world_size=2)


def test_recipe_building_errors_are_clear():
    recipe = build_recipe("tests.train.toy:recipe", "tiny", steps=7, batch_size=2,
                          overrides=["train.lr=0.5", "model.hidden=3"])
    assert (recipe.train.steps, recipe.train.batch_size, recipe.train.lr,
            recipe.model.hidden) == (7, 2, 0.5, 3)
    with pytest.raises(KinemaError, match="unknown method"):
        build_recipe("no-such-method", "tiny")
    with pytest.raises(KinemaError, match="cannot import"):
        build_recipe("tests.train.nowhere:recipe", "tiny")
    with pytest.raises(KinemaError, match="preset 'huge'"):
        build_recipe("tests.train.toy:recipe", "huge")
    with pytest.raises(KinemaError, match="no such config field"):
        build_recipe("tests.train.toy:recipe", "tiny", overrides=["train.nope=1"])


def test_worker_processes_load_the_same_batches(tmp_path):
    weights = []
    for workers in (0, 2):
        trainer = make_trainer(tmp_path / str(workers), num_workers=workers, steps=3)
        weights.append(trainer.fit().state_dict())
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


def test_ctrl_c_finishes_the_step_checkpoints_and_resumes_exactly(tmp_path):
    import os
    import signal

    handler_before = signal.getsignal(signal.SIGINT)
    interrupted = make_trainer(tmp_path / "run", steps=6, adversarial=True)
    calls = []

    def ctrl_c(*_):   # arrives between the two groups' updates of step 3
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    interrupted.optimizers["discriminator"].register_step_post_hook(ctrl_c)
    with pytest.raises(KinemaError, match="interrupted at step 3"):
        interrupted.fit()
    assert signal.getsignal(signal.SIGINT) is handler_before
    resumed = make_trainer(tmp_path / "run", steps=6, adversarial=True).fit().state_dict()
    reference = make_trainer(tmp_path / "reference", steps=6, adversarial=True).fit().state_dict()
    for key in reference:
        assert torch.equal(resumed[key], reference[key]), key


class _Unreadable(torch.utils.data.Dataset):
    """Item 3 is a file that cannot be read; the others are videos of two different sizes."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> dict:
        from kinema.errors import VideoReadError

        if index == 3:
            raise VideoReadError("clips/3.mp4: not a readable video")
        side = 8 if index % 2 else 6
        return {"video": torch.zeros(2, 1, side, side)}


@pytest.mark.parametrize("workers", [0, 2])
def test_batch_errors_are_one_line_with_or_without_workers(workers):
    from kinema.errors import VideoReadError

    data = _Unreadable()
    with pytest.raises(VideoReadError) as info:     # the dataset's own error, unwrapped
        for _ in ResumableBatches(data, 6, seed=0, num_workers=workers):
            pass
    assert str(info.value) == "clips/3.mp4: not a readable video"
    mixed = torch.utils.data.Subset(data, [0, 1, 2, 4])
    with pytest.raises(KinemaError) as info:
        next(iter(ResumableBatches(mixed, 4, seed=0, num_workers=workers)))
    message = str(info.value)
    assert "\n" not in message and message.startswith("the items of one batch cannot be stacked (")
    assert message.endswith("give the dataset one clip size (e.g. data.options.size=64)")
