"""``kinema sample`` / ``edit`` / ``track`` on a tiny saved GenDeF: what they write, and values."""
import json

import pytest
import torch
from typer.testing import CliRunner

from kinema.errors import KinemaError
from kinema.methods.gendef.apps import render_seed, track_points
from kinema.methods.gendef.cli import edit, load_video_model, track
from kinema.methods.gendef.config import video_recipe
from kinema.methods.gendef.model import GenDeF


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = GenDeF(video_recipe("tiny-no-pretrain").model)
    model.deformation.heads[-1].conv.weight.data.normal_(std=0.3)          # visible motion
    folder = tmp_path_factory.mktemp("gendef") / "model"
    model.save_pretrained(folder)
    return folder


def test_sample_writes_videos_canonicals_and_fields(saved, tmp_path):
    from kinema.cli import app

    result = CliRunner().invoke(app, ["sample", str(saved), "--num", "2", "--frames", "6", "--seed", "5",
                                      "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == sorted(["samples.png"] + [f"{kind}-{i:02d}.{ext}" for i in range(2)
                                              for kind, ext in (("sample", "mp4"), ("sample", "gif"),
                                                                ("canonical", "png"), ("fields", "png"))])
    from PIL import Image
    import numpy as np

    model = load_video_model(saved)
    canonical = np.asarray(Image.open(tmp_path / "s" / "canonical-01.png"))
    expected = render_seed(model, 6, 6)["canonical"][0]                      # video 1 is seed 5 + 1
    expected = ((expected.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(canonical, expected)


def test_identity_image_is_refused_in_one_error_line(saved, tmp_path, capsys):
    from kinema.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["sample", str(saved), "--identity", "face.png", "--out", str(tmp_path / "s")])
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "s").exists()


def test_edit_propagates_the_edited_canonical(saved, tmp_path):
    from kinema.data.io import read_video
    from kinema.viz.report import encode_png

    model = load_video_model(saved)
    result = render_seed(model, 2, 5)
    edited = -torch.ones(3, 8, 8)                           # a black canonical with one white pixel
    edited[:, 3, 4] = 1.0
    (tmp_path / "edited.png").write_bytes(encode_png(edited))
    written = edit(saved, 2, tmp_path / "edited.png", tmp_path / "e", frames=5)
    assert sorted(p.name for p in written) == ["edit.png", "edited.mp4", "original.mp4", "side_by_side.mp4"]
    video = read_video(tmp_path / "e" / "edited.mp4")                   # (t h w 3) uint8, lossy h264
    expected = model.warp(edited[None], result["fields"])[0]            # the edit, warped by the same fields
    expected = ((expected + 1) * 127.5).permute(0, 2, 3, 1).numpy()
    assert abs(video.astype(float) - expected).mean() < 12


def test_track_json_is_the_tracks_through_the_fields(saved, tmp_path):
    model = load_video_model(saved)
    track(saved, 1, "2,3;6,1.5", tmp_path / "t", frames=5)
    record = json.loads((tmp_path / "t" / "tracks.json").read_text())
    fields = model.to_pixels(render_seed(model, 1, 5)["fields"][0])
    expected = track_points(fields, torch.tensor([[2.0, 3.0], [6.0, 1.5]]))
    assert torch.allclose(torch.tensor(record["tracks"]), expected, atol=1e-3)
    assert record["points"] == [[2.0, 3.0], [6.0, 1.5]]
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["tracks.json", "tracks.mp4", "tracks.png"]


def test_failures_leave_no_output(saved, tmp_path):
    with pytest.raises(KinemaError, match="outside"):
        track(saved, 0, "20,1", tmp_path / "t", frames=4)
    with pytest.raises(KinemaError):
        edit(saved, 0, tmp_path / "missing.png", tmp_path / "e", frames=4)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "missing.png") == []
