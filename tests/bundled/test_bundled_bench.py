"""kinema bench bundled-models on the tiny bundle: the numbers are motion-fd and speed ratios of
the models' videos and of their still baselines against the real held-out clips, the page and
each card carry the same numbers, and the strips are upscaled pictures of the samples."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import kinema.bundled.bench as bench
from kinema.bundled import ENV
from kinema.metrics.flow_statistics import FEATURE_NAMES, flow_features, motion_fd


@pytest.fixture(scope="module")
def measured(tiny_bundle, tmp_path_factory):
    """The bench run once on a copy of the tiny bundle: 4 clips, 2 seeds."""
    source, _ = tiny_bundle
    bundle = tmp_path_factory.mktemp("bench-bundle") / "models"
    shutil.copytree(source, bundle)
    out = tmp_path_factory.mktemp("bench-out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, str(bundle))
        patch.setattr(bench, "CLIPS", 4)
        patch.setattr(bench, "SEEDS", (0, 1))
        md, js = bench.bundled_models_benchmark(out)
    return bundle, out, md, json.loads(js.read_text())


def test_spread_is_mean_and_sample_std():
    found = bench.spread([1.0, 2.0, 4.0])
    assert found["mean"] == pytest.approx(7 / 3) and found["std"] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert bench.spread([5.0]) == {"mean": 5.0, "std": 0.0, "values": [5.0]}


def test_baselines_hold_the_input_frame_still():
    class Pipe:
        def __init__(self, task):
            self.task, self.spec = task, {"context_frames": 2}

    video = torch.randn(3, 6, 1, 4, 4)
    still = bench.baseline_videos(Pipe("ImageToVideo"), {"video": video})
    assert still.shape == video.shape and torch.equal(still, video[:, :1].expand_as(video))
    ahead = bench.baseline_videos(Pipe("Prediction"), {"video": video})
    assert ahead.shape == (3, 4, 1, 4, 4) and torch.equal(ahead, video[:, 1:2].expand(-1, 4, -1, -1, -1))


def test_page_and_cards_carry_the_same_numbers(measured):
    from kinema.bundled.card import read_card

    bundle, out, md, record = measured
    assert list(record["models"]) == ["cinn", "gendef", "ile"]
    assert record["missing"] == ["dynamics", "cinn-control", "latentgan"]
    page = md.read_text()
    for name, r in record["models"].items():
        card = read_card(bundle / name)
        assert card["benchmark"] == bench.card_numbers(r)
        fd = r["motion_fd"]
        assert fd["mean"] == pytest.approx(np.mean(fd["values"])) and len(fd["values"]) == 2
        assert f"| {fd['mean']:.3f} ± {fd['std']:.3f} |" in (bundle / name / "card.md").read_text()
        assert f"| `{name}` | {r['task']} |" in page and f"{fd['mean']:.3f} ± {fd['std']:.3f}" in page
        assert r["clips"] == 4 and r["seeds"] == [0, 1]
        assert r["baseline_speed_ratio"]["mean"] == 0.0       # a still video has no flow
    assert record["models"]["gendef"]["baseline"] == "a real frame repeated"
    assert record["models"]["ile"]["baseline"] == "repeat the last context frame"
    assert "make -f benchmarks/runs.mk bundled-models" in page and "## How this was made" in page


def test_numbers_are_motion_fd_of_the_models_videos_against_the_real_clips(measured):
    """Recomputed from the pieces: the real clips, the seed-0 videos, the still baseline."""
    import kinema.pipelines as pipelines

    bundle, _, _, record = measured
    r = record["models"]["cinn"]
    pipe = pipelines.load(bundle / "cinn")
    clips, _ = bench.held_out_clips(bundle / "cinn", pipe, 4)
    assert clips["video"].shape[:2] == (4, r["frames"])
    fake, real = bench.model_videos(pipe, clips, 0)
    assert torch.equal(fake[:, 0], real[:, 0].clamp(-1, 1))       # the cINN starts at the picture
    real_features = flow_features(real)
    assert motion_fd(real_features, flow_features(fake)) == pytest.approx(r["motion_fd"]["values"][0])
    still = flow_features(real[:, :1].expand_as(real))
    assert motion_fd(real_features, still) == pytest.approx(r["baseline_motion_fd"]["mean"])
    speed = FEATURE_NAMES.index("speed_mean")
    assert r["real_speed_mean"] == pytest.approx(real_features[:, speed].mean())
    assert r["speed_ratio"]["values"][0] == pytest.approx(
        flow_features(fake)[:, speed].mean() / real_features[:, speed].mean())


def test_strips_are_upscaled_pictures_of_the_samples(measured):
    bundle, out, _, record = measured
    for name, r in record["models"].items():
        picture = out / "bundled" / f"{name}.png"
        assert r["pictures"] == [str(picture)]
        width, height = Image.open(picture).size
        factor = bench.strip_factor(r["size"][0])
        columns = min(bench.STRIP_FRAMES, r["frames"]) + (r["task"] == "Prediction")
        assert factor >= bench.UPSCALE
        assert (width, height) == ((columns * (r["size"][1] + 2) - 2) * factor,
                                   (bench.STRIP_VIDEOS * (r["size"][0] + 2) - 2) * factor)


def test_gif_is_every_other_frame_upscaled(tmp_path):
    from kinema.data.io import read_video

    video = torch.linspace(-1, 1, 6).view(6, 1, 1, 1).expand(6, 3, 8, 8)
    frames = read_video(bench.write_gif(tmp_path / "x.gif", video))
    assert frames.shape == (3, 8 * bench.GIF_UPSCALE, 8 * bench.GIF_UPSCALE, 3)
    expected = ((video[::bench.GIF_FRAME_STEP, 0, 0, 0] + 1) * 127.5).round()
    assert np.abs(frames[:, 0, 0, 0].astype(float) - expected.numpy()).max() <= 2


def test_a_model_that_cannot_be_measured_is_named_on_the_page(tiny_bundle, tmp_path, monkeypatch):
    source, _ = tiny_bundle
    bundle = tmp_path / "models"
    shutil.copytree(source / "ile", bundle / "ile")
    (bundle / "ile" / "recipe.json").unlink()                 # no training data to hold out
    monkeypatch.setenv(ENV, str(bundle))
    md, js = bench.bundled_models_benchmark(tmp_path / "out")
    record = json.loads(js.read_text())
    assert record["models"] == {} and list(record["failed"]) == ["ile"]
    assert "no recipe.json naming its training data" in record["failed"]["ile"]
    assert "`ile` could not be measured: " in md.read_text()
