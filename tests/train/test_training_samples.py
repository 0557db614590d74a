"""Samples while training, as `kinema train` writes them: every cINN stage writes
samples/step-N.mp4 and .png periodically and at the last step, the same picture goes to
TensorBoard as an image, and the end-of-run message names a samples folder only when one was
written."""
from __future__ import annotations

import numpy as np
import pytest

from tests.commands import run_cli


def tensorboard_images(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"images": 0})
    events.Reload()
    return {tag: [(e.step, e.width, e.height) for e in events.Images(tag)]
            for tag in events.Tags()["images"]}


@pytest.mark.slow
def test_every_cinn_stage_writes_samples(tmp_path, monkeypatch, capsys):
    from PIL import Image

    runs = tmp_path / "runs"
    for stage in ("cinn-autoencoder", "cinn-image-encoder", "cinn-flow"):
        extra = ["--set", f"model.autoencoder_path={runs / 'cinn-autoencoder'}", "--set",
                 f"model.image_encoder_path={runs / 'cinn-image-encoder'}"] if stage == "cinn-flow" else []
        code, _, err = run_cli(["train", stage, "--preset", "tiny", "--steps", "4", "--set",
                                "train.sample_every=3", *extra, "--out", runs / stage],
                               monkeypatch, capsys)
        assert code == 0, err
        samples = runs / stage / "samples"
        # step 3 (periodic) and step 4 (the last)
        assert sorted(p.name for p in samples.iterdir()) == [
            "step-000003.mp4", "step-000003.png", "step-000004.mp4", "step-000004.png"], stage
        assert f"samples: {samples}" in err
        png = np.asarray(Image.open(samples / "step-000004.png"))
        images = tensorboard_images(runs / stage / "tensorboard")
        assert [s for s, _, _ in images["samples"]] == [3, 4]
        _, width, height = images["samples"][-1]
        # the png is the TensorBoard picture upscaled (nearest) by an integer factor
        assert png.shape[0] % height == 0 and png.shape[0] // height == png.shape[1] // width


def test_a_run_without_samples_names_no_samples_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "tests.train.toy:recipe", "--steps", "2", "--out", out,
                            "--no-tensorboard"], monkeypatch, capsys)
    assert code == 0, err
    assert not (out / "samples").exists() and "samples:" not in err


def test_the_toy_with_sample_every_writes_at_the_end_too(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "tests.train.toy:recipe", "--steps", "5", "--set",
                            "train.sample_every=2", "--out", out], monkeypatch, capsys)
    assert code == 0, err
    names = sorted(p.name for p in (out / "samples").glob("*.mp4"))
    assert names == ["step-000002.mp4", "step-000004.mp4", "step-000005.mp4"]
    assert [s for s, _, _ in tensorboard_images(out / "tensorboard")["samples"]] == [2, 4, 5]


def test_registered_stages_that_draw_samples_default_to_four_per_run(monkeypatch, capsys):
    import yaml

    from kinema.methods.baselines.config import mathieu_recipe

    preset = mathieu_recipe("small").train
    assert preset.sample_every is None                 # the preset leaves it unset
    code, text, _ = run_cli(["recipe", "baselines.mathieu", "--preset", "small"], monkeypatch, capsys)
    assert code == 0 and yaml.safe_load(text)["train"]["sample_every"] == preset.steps // 4
    code, text, _ = run_cli(["train", "baselines.mathieu", "--preset", "small", "--set",
                             "train.sample_every=null", "--dry-run"], monkeypatch, capsys)
    assert code == 0 and yaml.safe_load(text)["train"]["sample_every"] is None
    # a stage that draws none keeps none
    code, text, _ = run_cli(["recipe", "baselines.dynamic-texture", "--preset", "small"],
                            monkeypatch, capsys)
    assert code == 0 and yaml.safe_load(text)["train"]["sample_every"] is None
