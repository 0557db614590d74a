"""Checkpoints are complete or absent; a damaged one is named in a warning and skipped."""
from __future__ import annotations

import warnings

import pytest
import torch

from kinema.errors import KinemaError
from kinema.train import checkpoint as ckpt_module
from kinema.train.checkpoint import (CheckpointWarning, checkpoint_dirs, latest_path,
                                     load_latest, read_checkpoint, save_checkpoint)
from tests.train import toy


def _state(value: float) -> dict:
    return {"model": {"w": torch.full((3,), value)}, "ema": None,
            "state": {"step": int(value), "note": (1, 2.5, None)}, "recipe": {"x": 1}}


def test_round_trip_latest_pointer_and_pruning(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, keep=2, **_state(step))
    assert [s for s, _ in checkpoint_dirs(tmp_path)] == [4, 3]
    assert (tmp_path / "latest").read_text().strip() == "step-000004"
    assert latest_path(tmp_path) == tmp_path / "step-000004"
    loaded = load_latest(tmp_path)
    assert loaded.step == 4 and torch.equal(loaded.model["w"], torch.full((3,), 4.0))
    assert loaded.state["note"] == (1, 2.5, None) and loaded.recipe == {"x": 1}


def test_failed_write_leaves_previous_checkpoint_and_no_partial_folder(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 1, keep=0, **_state(1))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.torch, "save", crash)   # dies after model.safetensors
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, 2, keep=0, **_state(2))
    assert [p.name for p in tmp_path.iterdir() if p.name != "latest"] == ["step-000001"]
    assert load_latest(tmp_path).step == 1


def test_leftover_temp_folder_of_a_killed_write_is_ignored_and_removed(tmp_path):
    toy.run(tmp_path, steps=4, checkpoint_every=2)
    # what a SIGKILL in the middle of writing step 6 leaves behind
    partial = tmp_path / "checkpoints" / ".tmp-abc123"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"\x00" * 10)
    toy.run(tmp_path, steps=6, checkpoint_every=2)
    assert not partial.exists()
    assert [s for s, _ in checkpoint_dirs(tmp_path / "checkpoints")] == [6, 4, 2]


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _scramble(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, file, reason", [
    (_truncate, "model.safetensors", "truncated"),
    (_scramble, "state.pt", "sha256"),
    (lambda p: p.unlink(), "manifest.json", "missing"),
    (lambda p: p.write_text("{not json"), "manifest.json", "unreadable"),
])
def test_corrupt_newest_checkpoint_warns_and_falls_back(tmp_path, damage, file, reason):
    options = dict(checkpoint_every=2, keep_checkpoints=0)
    reference = tmp_path / "reference"
    toy.run(reference, steps=8, **options)
    run = tmp_path / "run"
    toy.run(run, steps=6, **options)
    damage(run / "checkpoints" / "step-000006" / file)
    with pytest.warns(CheckpointWarning) as caught:
        toy.run(run, steps=8, **options)
    message = str(caught[0].message)
    assert f"step-000006/{file}" in message and reason in message
    assert "falling back to step-000004" in message
    assert (run / "checkpoints" / "step-000006.corrupt").is_dir()   # kept for inspection
    got, expected = toy.final_state(run), toy.final_state(reference)
    for key in expected["model"]:
        assert torch.equal(got["model"][key], expected["model"][key])


def test_every_checkpoint_corrupt_is_a_clear_error(tmp_path):
    toy.run(tmp_path, steps=4, checkpoint_every=2)
    for _, path in checkpoint_dirs(tmp_path / "checkpoints"):
        _truncate(path / "model.safetensors")
    with pytest.warns(CheckpointWarning), pytest.raises(KinemaError, match="no usable checkpoint"):
        toy.run(tmp_path, steps=6, checkpoint_every=2)


def test_no_resume_moves_old_checkpoints_aside(tmp_path):
    toy.run(tmp_path, steps=4, checkpoint_every=2)
    toy.run(tmp_path, steps=2, checkpoint_every=2, resume=False)
    assert [s for s, _ in checkpoint_dirs(tmp_path / "checkpoints")] == [2]
    old = list(tmp_path.glob("checkpoints.old-*"))
    assert len(old) == 1 and [s for s, _ in checkpoint_dirs(old[0])] == [4, 2]
    read_checkpoint(old[0] / "step-000004")


def test_resume_flag_without_checkpoints_is_an_error(tmp_path):
    with pytest.raises(KinemaError, match="holds no checkpoint"):
        toy.run(tmp_path, steps=2, resume=True)


def test_checkpoint_of_another_model_shape_is_a_clear_error(tmp_path):
    toy.run(tmp_path, steps=2, checkpoint_every=2)
    with pytest.raises(KinemaError) as info:
        toy.run(tmp_path, steps=4, model_options={"hidden": 5})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'checkpoints' / 'step-000002'} does not fit this "
                              "model: the recipe changed (model.hidden: ")
    assert message.endswith(" -> 5). Start over with --no-resume or use another --out")


def test_weights_that_do_not_fit_are_described_without_a_recipe():
    from kinema.train.resume import state_mismatch

    saved = {"a": torch.zeros(3), "b": torch.zeros(2, 2), "old": torch.zeros(1)}
    model = {"a": torch.zeros(3), "b": torch.zeros(2, 5), "new": torch.zeros(1)}
    assert state_mismatch(saved, model) == (
        "1 tensors the model lacks (first: old); 1 tensors the checkpoint lacks (first: new); "
        "1 tensors of another shape (first: b (2, 2) vs (2, 5))")


def test_resume_with_a_new_learning_rate_uses_it_and_says_so(tmp_path, capsys):
    """Restored optimisers used to keep the checkpoint's lr silently (--set train.lr ignored)."""
    import json

    toy.run(tmp_path, steps=4, checkpoint_every=2, warmup_steps=0, lr=1e-2)
    capsys.readouterr()
    toy.run(tmp_path, steps=6, checkpoint_every=2, warmup_steps=0, lr=2e-3,
            betas=(0.5, 0.9))
    err = capsys.readouterr().err
    assert "resuming from" in err and "new optimiser settings: model lr 0.01 -> 0.002, " \
        "model betas (0.9, 0.999) -> (0.5, 0.9)" in err
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"]["model"] for r in records] == [1e-2, 1e-2, 2e-3]
    state = read_checkpoint(tmp_path / "checkpoints" / "step-000006").state
    group = state["optimizers"]["model"]["param_groups"][0]
    assert group["lr"] == group["initial_lr"] == 2e-3 and tuple(group["betas"]) == (0.5, 0.9)
    assert state["schedulers"]["model"]["base_lrs"] == [2e-3]


def test_resume_with_the_same_recipe_reports_no_change(tmp_path, capsys):
    toy.run(tmp_path, steps=4, checkpoint_every=2)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # nor a CheckpointWarning about a changed recipe
        toy.run(tmp_path, steps=6, checkpoint_every=2)
    err = capsys.readouterr().err
    assert "resuming from" in err and "new optimiser settings" not in err
    assert "train settings changed" not in err


def test_resume_with_other_train_settings_says_which(tmp_path, capsys):
    toy.run(tmp_path, steps=4, checkpoint_every=2)
    capsys.readouterr()
    toy.run(tmp_path, steps=6, checkpoint_every=2, seed=3, log_every=3)
    err = capsys.readouterr().err
    assert ("train settings changed since the checkpoint: train.log_every: 2 -> 3, "
            "train.seed: 0 -> 3\n") in err


def test_resume_with_other_data_warns_naming_the_field(tmp_path):
    toy.run(tmp_path, steps=2, checkpoint_every=2)
    r = toy.recipe()
    r.train.steps, r.data.options["num_videos"] = 4, 12
    from kinema.train.recipes import train_recipe

    with pytest.warns(CheckpointWarning, match=r"data\.options\.num_videos: 16 -> 12"):
        train_recipe(r, tmp_path, tensorboard=False, progress=False)


def test_run_outputs_get_the_umask_mode_not_the_private_temp_mode(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        toy.run(tmp_path, steps=4, checkpoint_every=2)
        toy.run(tmp_path, steps=6, checkpoint_every=2)   # resume rewrites metrics.jsonl too
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in [tmp_path / "model", tmp_path / "recipe.json", tmp_path / "metrics.jsonl",
                       tmp_path / "checkpoints" / "latest", tmp_path / "checkpoints" / "step-000006"]}
    assert modes == {"model": 0o755, "recipe.json": 0o644, "metrics.jsonl": 0o644,
                     "checkpoints/latest": 0o644, "checkpoints/step-000006": 0o755}
