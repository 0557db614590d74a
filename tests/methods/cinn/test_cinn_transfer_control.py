"""Transfer with a control model: eta is read from the source's motion where the data defines
it (clouds: the drift direction; bouncing-digits: the digit's final cell), else the stated
default 0; `kinema transfer` without --control uses it and says so."""
from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pytest
import torch

from kinema.methods.cinn.apps import drift_direction, final_position_bin, infer_control


def test_drift_direction_of_a_texture_moved_by_hand():
    rng = np.random.default_rng(0)
    texture = torch.from_numpy(rng.random((80, 80))).float()
    texture = torch.nn.functional.avg_pool2d(texture[None, None], 3, 1, 1)[0, 0] * 2 - 1
    # content at (x, y) moves to (x + 1, y + 2) per frame: angle atan2(2, 1) from +x to +y
    frames = torch.stack([texture[20 - 2 * t:52 - 2 * t, 20 - t:52 - t] for t in range(6)])
    angle = drift_direction(frames[:, None])
    assert abs(angle - math.atan2(2, 1)) < math.radians(6)
    up_left = torch.stack([texture[20 + 2 * t:52 + 2 * t, 20 + t:52 + t] for t in range(6)])
    assert abs(drift_direction(up_left[:, None]) - (math.atan2(2, 1) + math.pi)) < math.radians(6)
    assert drift_direction(frames[:1].expand(4, -1, -1)[:, None]) is None     # still: none


def test_final_cell_of_a_square_placed_by_hand():
    frame = -torch.ones(1, 32, 32)
    frame[:, 18:32, 2:16] = 1.0        # a 14-px box (the data's digit size at 32 px) at (18, 2)
    eta, (top, left) = final_position_bin(frame, 4)
    assert (top, left) == (18, 2)
    assert eta == int(18 / 18 * 4 - 1) * 4 + int(2 / 18 * 4)     # row 3 (the last), column 0
    assert final_position_bin(-torch.ones(1, 32, 32), 4) is None


def test_inferred_eta_against_the_datasets_ground_truth():
    from kinema.data import load_dataset

    clouds = load_dataset("clouds", "test", num_videos=16, num_frames=16, size=32)
    off = [min((int(c["eta"]) - e) % 36, (e - int(c["eta"])) % 36)
           for c in clouds for e in [infer_control(c["video"][None], "clouds", 36)[0]]]
    assert sum(o <= 1 for o in off) >= 12, off          # measured: 85% of 48 clips within a bin
    digits = load_dataset("bouncing-digits", "test", num_videos=16, num_frames=16, size=32)
    right = [int(d["eta"]) == infer_control(d["video"][None], "bouncing-digits", 16)[0]
             for d in digits]
    assert sum(right) >= 11, right                      # measured: 81% of 48 clips exact


def test_other_data_gets_the_stated_default():
    eta, how = infer_control(torch.zeros(1, 4, 1, 8, 8), "swaying", 10)
    assert eta == 0 and "default eta 0" in how and "--control 0..9" in how


def test_transfer_without_control_reads_eta_from_the_source(tmp_path, monkeypatch, capsys):
    import cv2

    from kinema.data import load_dataset
    from kinema.data.io import write_video
    from kinema.data.pictures import clip_to_model
    from kinema.methods.cinn.config import autoencoder_config, flow_config, image_encoder_config
    from kinema.methods.cinn.model import CINN
    from kinema.cli import main

    torch.manual_seed(0)
    config = dataclasses.replace(flow_config("tiny-clouds-control"),
                                 autoencoder=autoencoder_config("tiny-clouds"),
                                 image_encoder=image_encoder_config("tiny-clouds"))
    assert config.control_bins == 36
    run = tmp_path / "run"
    CINN(config).save_pretrained(run / "model")
    (run / "recipe.json").write_text(json.dumps({"data": {"name": "clouds", "options": {}}}))
    clip = load_dataset("clouds", "test", num_videos=1, num_frames=16, size=32)[0]["video"]
    write_video(tmp_path / "source.mp4", clip)
    cv2.imwrite(str(tmp_path / "x0.png"), np.full((16, 16, 3), 90, np.uint8))
    # the tiny model reads 8 px; eta is read from the source at 32 px
    source = clip_to_model(tmp_path / "source.mp4", 3, 32, config.autoencoder.num_frames)
    expected, _ = infer_control(source, "clouds", 36)
    monkeypatch.setattr(sys, "argv", ["kinema", "transfer", str(tmp_path / "source.mp4"),
                                      str(tmp_path / "x0.png"), "--model", str(run),
                                      "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 0, err
    assert f"eta = {expected} (clouds: drift direction" in err
    assert (tmp_path / "out" / "transfer.mp4").is_file()
