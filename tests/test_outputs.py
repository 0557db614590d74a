"""kinema.outputs: --out as a folder or a file; all outputs appear at once or not at all."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kinema.data.io import read_video, write_video
from kinema.errors import KinemaError
from kinema.outputs import write_staged


def _video(value: float = 0.0) -> torch.Tensor:
    video = torch.full((3, 3, 16, 16), value)
    video[1, :, :8] = 1.0                       # frames differ, so a strip shows them apart
    return video


def _write_two(staging):
    write_video(staging / "sample-00.mp4", _video(-1.0))
    (staging / "samples.png").write_bytes(b"png bytes")


def test_folder_form_moves_every_file(tmp_path):
    placed = write_staged(tmp_path / "out", _write_two)
    assert sorted(p.name for p in placed) == ["sample-00.mp4", "samples.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sample-00.mp4", "samples.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]        # no staging left


def test_file_form_names_the_main_video_and_puts_the_rest_beside(tmp_path):
    placed = write_staged(tmp_path / "clip.mp4", _write_two)
    assert [p.name for p in placed] == ["clip.mp4", "clip-samples.png"]
    assert read_video(tmp_path / "clip.mp4").shape == (3, 16, 16, 3)


def test_a_gif_target_converts_the_video(tmp_path):
    write_staged(tmp_path / "clip.gif", _write_two)
    frames = read_video(tmp_path / "clip.gif")
    assert frames.shape == (3, 16, 16, 3)
    assert frames[1, :8].mean() > 200 and frames[1, 8:].mean() < 60   # frame 1: white top half


def test_a_png_target_is_the_frame_strip(tmp_path):
    from PIL import Image

    write_staged(tmp_path / "strip.png", _write_two)
    with Image.open(tmp_path / "strip.png") as image:
        strip = np.asarray(image.convert("L"), dtype=float)
    # 3 frames of 16 px with 2-px white gaps between them (52 x 16), scaled 16x (nearest) so
    # the short side reaches 256
    assert strip.shape == (16 * 16, 52 * 16)
    frame1 = strip[:, 18 * 16:34 * 16]
    assert frame1[:8 * 16].mean() > 200 and frame1[8 * 16:].mean() < 60
    assert strip[:, :16 * 16].mean() < 60 and strip[:, 16 * 16:18 * 16].mean() > 240   # frame 0, gap
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strip.png"]   # one file, nothing beside


def test_a_png_target_is_one_picture_of_every_video(tmp_path):
    from PIL import Image

    def write(staging):
        write_video(staging / "animation-00.mp4", _video(-1.0))
        write_video(staging / "animation-01.mp4", _video(1.0))
        (staging / "samples.png").write_bytes(b"png bytes")

    assert write_staged(tmp_path / "x.png", write) == [tmp_path / "x.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]
    with Image.open(tmp_path / "x.png") as image:
        strip = np.asarray(image.convert("L"), dtype=float)
    # two rows of 3 frames (16 px, 2-px gaps: 34 x 52), scaled by 256 // 34 = 7 (nearest)
    assert strip.shape == (34 * 7, 52 * 7)
    first, second = strip[:16 * 7, :16 * 7], strip[18 * 7:34 * 7, :16 * 7]   # frame 0 of each video
    assert first.mean() < 60 and second.mean() > 200


def test_wrong_kinds_of_target_are_refused_before_work(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir.mp4").mkdir()
    called = []
    for target, message in ((tmp_path / "file", "is a file"), (tmp_path / "dir.mp4", "is a folder")):
        with pytest.raises(KinemaError, match=message):
            write_staged(target, called.append)
    assert called == []


def test_a_failure_leaves_nothing_behind(tmp_path):
    def fail(staging):
        _write_two(staging)
        raise KinemaError("the model broke half-way")

    with pytest.raises(KinemaError, match="half-way"):
        write_staged(tmp_path / "new" / "deeper" / "out", fail)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "old.txt").write_text("old")
    with pytest.raises(KinemaError):
        write_staged(tmp_path / "kept", fail)
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["old.txt"]


def test_one_naming_scheme_for_per_video_files():
    from kinema.outputs import numbered

    assert numbered("animation", 0, 1) == "animation.mp4"
    assert [numbered("sample", i, 3, ".gif") for i in range(3)] == \
        ["sample-00.gif", "sample-01.gif", "sample-02.gif"]
