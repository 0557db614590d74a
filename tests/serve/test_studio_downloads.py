"""kinema.serve.downloads: a job's media as files (the browser test downloads them in chromium)."""
from __future__ import annotations

import numpy as np
import pytest


def finished_job(frames: np.ndarray):
    from kinema.serve.jobs import Job, Result

    result = Result({})
    result.add_video(frames, "a video", fps=10.0)
    result.add_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "a plot", "image/svg+xml")
    return Job(id="0123456789abcdef", kind="animate", state="done", result=result)


def test_frames_of_inverts_the_sprite_sheet():
    from kinema.serve.downloads import frames_of
    from kinema.serve.media import sprite_sheet

    frames = np.random.default_rng(0).integers(0, 256, (11, 5, 7, 3), dtype=np.uint8)  # 2 rows, 1 partial
    sheet, layout = sprite_sheet(frames)
    assert layout["columns"] == 8
    assert np.array_equal(frames_of(sheet, layout), frames)


def test_upscale_factor_reaches_the_minimum_side_by_a_whole_factor():
    from kinema.serve.downloads import MIN_SIDE, upscale_factor

    assert MIN_SIDE == 128
    assert [upscale_factor(8, 8), upscale_factor(16, 12), upscale_factor(100, 64),
            upscale_factor(160, 256)] == [16, 8, 2, 1]


def test_a_video_downloads_as_gif_png_and_mp4_upscaled(tmp_path, monkeypatch):
    import io
    import tempfile

    from PIL import Image

    from kinema.data.io import read_video
    from kinema.serve.downloads import download

    frames = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    frames[..., 1:] = frames[..., :1]                                  # grey: a GIF keeps it exactly
    job = finished_job(frames)
    scratch = tmp_path / "scratch"                       # where the encoder's temporary folder goes
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    big = frames.repeat(16, 1).repeat(16, 2)
    data, mime, name = download(job, 0, "gif")
    assert (mime, name) == ("image/gif", "animate-012345-0.gif")
    (tmp_path / name).write_bytes(data)
    assert np.array_equal(read_video(tmp_path / name), big)
    data, mime, _ = download(job, 0, "png")
    strip = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert mime == "image/png" and np.array_equal(strip, np.concatenate(list(big), axis=1))
    data, mime, name = download(job, 0, "mp4")
    (tmp_path / name).write_bytes(data)
    assert mime == "video/mp4" and read_video(tmp_path / name).shape == big.shape
    assert list(scratch.iterdir()) == []                  # nothing left behind


def test_a_still_downloads_as_itself_and_a_wrong_format_is_one_clear_error():
    from kinema.serve.downloads import download
    from kinema.serve.requests import ApiError

    job = finished_job(np.zeros((2, 8, 8, 3), np.uint8))
    assert download(job, 1, "svg") == (job.result.media[1], "image/svg+xml", "animate-012345-1.svg")
    with pytest.raises(ApiError, match="downloads as svg, not 'png'") as err:
        download(job, 1, "png")
    assert err.value.status == 404
    with pytest.raises(ApiError, match="mp4, gif, png, not 'webm'"):
        download(job, 0, "webm")
    with pytest.raises(ApiError, match="no media #2"):
        download(job, 2, "png")
