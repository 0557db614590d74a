"""`kinema animate` outputs as a user asks for them: --out a .gif file, --fps, --size display
upscaling (nearest), and samples.png rows that start with the input picture."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tests.commands import run_cli


@pytest.fixture(scope="module")
def cinn(tmp_path_factory):
    import cv2

    from kinema.methods.cinn.config import autoencoder_config, flow_config, image_encoder_config
    from kinema.methods.cinn.model import CINN

    root = tmp_path_factory.mktemp("cinn")
    torch.manual_seed(0)
    config = dataclasses.replace(flow_config("tiny-clouds"), autoencoder=autoencoder_config("tiny-clouds"),
                                 image_encoder=image_encoder_config("tiny-clouds"))
    CINN(config).save_pretrained(root / "run" / "model")
    picture = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "x0.png"), picture)
    return root


def test_gif_file_with_fps_and_display_size(cinn, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from kinema.data.io import read_video
    from kinema.data.pictures import picture_to_model

    out = tmp_path / "clip.gif"
    code, printed, err = run_cli(["animate", cinn / "x0.png", "--model", cinn / "run", "--num", "2",
                                  "--frames", "4", "--fps", "12.5", "--size", "50", "--out", out],
                                 monkeypatch, capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip-animation-01.mp4", "clip-samples.png",
                                                           "clip.gif"]
    frames = read_video(out)
    side = 8                                   # the tiny model's frames
    k = -(-50 // side)                         # 7: the smallest factor reaching 50 px
    assert frames.shape == (4, side * k, side * k, 3)
    # nearest upscaling: every k x k block is (up to the mp4/gif coding) one colour; smooth
    # (bilinear) upscaling of this random picture would spread values across each block
    blocks = frames.reshape(4, side, k, side, k, 3).astype(float)
    spread = np.abs(blocks - blocks.mean(axis=(2, 4), keepdims=True)).mean()
    assert spread < 4.0, spread
    with Image.open(out) as gif:
        assert gif.info["duration"] == 80      # 12.5 fps
    # samples.png: each row begins with the input picture as the model reads it
    x0 = picture_to_model(cinn / "x0.png", 3, 8)[0]
    expected = ((x0.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    strip = np.asarray(Image.open(tmp_path / "clip-samples.png").convert("RGB"))
    cell = strip.shape[0] // (2 * side + 2)    # its own upscale factor (at least 256 px)
    first = strip[:side * cell:cell, :side * cell:cell]
    np.testing.assert_array_equal(first, expected)
    second_row = strip[(side + 2) * cell:(2 * side + 2) * cell:cell, :side * cell:cell]
    np.testing.assert_array_equal(second_row, expected)
    assert printed.splitlines()[0] == str(out)


def test_size_must_be_a_positive_display_size(cinn, tmp_path, monkeypatch, capsys):
    out = tmp_path / "anim"
    code, _, err = run_cli(["animate", cinn / "x0.png", "--model", cinn / "run", "--size", "0",
                            "--out", out], monkeypatch, capsys)
    assert code == 2 and not out.exists()
    assert err.strip() == "error: --size must be an integer in [1, 4096] (pixels of the short side), got 0"
