"""`kinema eval MODEL` takes size, channels, frame counts, context and task from the model
(the README's `kinema eval runs/ile/model --data bouncing-digits ...` on a small ILE model),
and records what it used and where each value came from."""
from __future__ import annotations

import json

import pytest

from tests.commands import run_cli


def settings_from(record, name):
    return record["settings"][name]["from"]


@pytest.fixture(scope="module")
def ile_run(tmp_path_factory):
    """The tiny ILE preset at 16 px with 3 context frames (the data's default is 64 px and
    eval's fallback context is 2: both must come from the model), trained for seconds."""
    from kinema.train.recipes import build_recipe, train_recipe

    out = tmp_path_factory.mktemp("ile") / "ile"
    recipe = build_recipe("ile", "tiny", overrides=["model.context_frames=3", "model.image_size=16",
                                                    "data.options.size=16", "train.steps=3",
                                                    "train.sample_every=0"])
    train_recipe(recipe, out, tensorboard=False, progress=False)
    return out


def test_the_readme_eval_command_reads_the_model(ile_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.json"
    code, text, err = run_cli(["eval", ile_run / "model", "--data", "bouncing-digits", "--metrics",
                               "psnr,ssim", "--num-videos", "3", "--out", out], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out.read_text())["protocol"]["num_frames"] == 4
    # a model folder without its run's recipe.json: the context + 10 frames
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(ile_run / "model", bare)
    code, text, err = run_cli(["eval", bare, "--data", "bouncing-digits", "--metrics",
                               "psnr,ssim", "--num-videos", "3", "--out", out], monkeypatch, capsys)
    assert code == 0, err
    record = json.loads(out.read_text())
    protocol = record["protocol"]
    assert protocol["context_frames"] == 3 and protocol["task"] == "prediction"
    assert protocol["num_frames"] == 3 + 10
    assert settings_from(record, "num_frames") == "the model (ILE): its context + 10"
    assert protocol["data_options"] == {"size": 16, "channels": 1}
    settings = record["settings"]
    assert settings["context_frames"] == {"value": 3, "from": "the model (ILE)"}
    assert settings["size"]["value"] == 16 and settings["task"]["from"] == "the ile entry's tasks"
    assert record["results"]["psnr_videos"] == 3
    assert "context_frames = 3 (from the model (ILE))" in err


def test_the_command_line_wins_and_is_recorded(ile_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.json"
    code, _, err = run_cli(["eval", ile_run, "--data", "bouncing-digits", "--metrics", "psnr",
                            "--num-videos", "2", "--context-frames", "4", "--num-frames", "6",
                            "--out", out], monkeypatch, capsys)
    assert code == 0, err
    record = json.loads(out.read_text())
    assert record["protocol"]["context_frames"] == 4 and record["protocol"]["num_frames"] == 6
    assert record["settings"]["context_frames"]["from"] == "command line"
    assert record["settings"]["num_frames"]["from"] == "command line"
    assert record["settings"]["size"]["from"] == "the model (ILE)"


def test_an_explicit_size_that_disagrees_is_one_error(ile_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.json"
    code, _, err = run_cli(["eval", ile_run, "--data", "bouncing-digits", "--metrics", "psnr",
                            "--num-videos", "2", "--option", "size=32", "--out", out],
                           monkeypatch, capsys)
    assert code == 2 and not out.exists()
    assert err.strip().splitlines()[-1] == "error: context frames must be (1, 16, 16) for this "\
                                            "ILE model, got (1, 32, 32)"
