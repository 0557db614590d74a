"""Video I/O: round trips, natural sort, pixel formats, tensor conversion, atomic writes."""
from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from kinema.data import io as vio
from kinema.data.io import natural_key, read_video, to_tensor, to_uint8, write_video


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def test_mp4_round_trip_keeps_shape_and_psnr_above_30db(tmp_path, make_video):
    video = make_video(t=12, h=32, w=40)
    out = write_video(tmp_path / "a.mp4", video, fps=10)
    back = read_video(out)
    assert back.shape == video.shape and back.dtype == np.uint8
    assert psnr(back, video) > 30.0


def test_mp4_odd_size_is_padded_to_even_by_edge_repeat(tmp_path, make_video):
    video = make_video(t=6, h=21, w=33)
    back = read_video(write_video(tmp_path / "odd.mp4", video))
    assert back.shape == (6, 22, 34, 3)
    assert psnr(back[:, :21, :33], video) > 30.0
    # the added row repeats the last one (within codec error)
    assert np.abs(back[:, 21].astype(int) - back[:, 20].astype(int)).mean() < 6


def test_gif_round_trip_is_near_exact(tmp_path, make_video):
    video = make_video(t=5, h=16, w=20)
    back = read_video(write_video(tmp_path / "a.gif", video, fps=5))
    assert back.shape == video.shape
    # a gif holds 256 colours per frame: palette quantisation error only
    assert np.abs(back.astype(int) - video.astype(int)).mean() < 3.0
    assert psnr(back, video) > 30.0


def test_gif_keeps_a_frame_equal_to_the_one_before(tmp_path, make_video):
    """Pillow's save_all writes frames 3 and 4, when equal, as one frame lasting two: the gif
    read back was a frame short (and a still video a single frame)."""
    video = make_video(t=8, h=32, w=40)
    video[4] = video[3]
    out = write_video(tmp_path / "a.gif", video, fps=8)
    back = read_video(out)
    assert back.shape == video.shape
    assert np.abs(back.astype(int) - video.astype(int)).mean() < 3.0      # palette error only
    np.testing.assert_array_equal(back[4], back[3])
    with Image.open(out) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    # 8 fps is 12.5 centiseconds a frame: 12 and 13 alternate, frame i starts at 125 i ms
    assert sorted(set(durations)) == [120, 130] and sum(durations) == 1000
    assert len(read_video(write_video(tmp_path / "still.gif", video[[2] * 5], fps=8))) == 5


def test_gif_delays_start_each_frame_at_its_time():
    from kinema.data.gif import MIN_GIF_DELAY, gif_delays

    assert gif_delays(4, 12.5) == [8, 8, 8, 8]
    assert gif_delays(6, 30) == [3, 4, 3, 3, 4, 3]           # 30 fps: frame i at 10 i / 3 cs
    assert gif_delays(3, 100) == [MIN_GIF_DELAY] * 3         # faster than a gif may play


def test_png_folder_round_trip_is_exact_in_natural_order(tmp_path, make_video, make_frame_folder):
    video = make_video(t=12, h=16, w=16)
    make_frame_folder(tmp_path / "v", video)          # frame0 … frame11: lexical order is wrong
    np.testing.assert_array_equal(read_video(tmp_path / "v"), video)


def test_natural_sort():
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame1b.png", "frame0001.png"]
    assert sorted(names, key=natural_key) == ["Frame1.png", "frame0001.png", "frame1b.png",
                                              "frame2.png", "frame10.png"]


def test_zip_of_one_frame_folder_reads_like_the_folder(tmp_path, make_video, make_frame_folder):
    video = make_video(t=11, h=8, w=12)
    make_frame_folder(tmp_path / "v", video, ext="bmp")
    with zipfile.ZipFile(tmp_path / "v.zip", "w") as archive:
        for file in (tmp_path / "v").iterdir():
            archive.write(file, f"v/{file.name}")
    np.testing.assert_array_equal(read_video(tmp_path / "v.zip"), video)


def test_rgba_is_composited_over_black(tmp_path):
    rgba = np.zeros((2, 8, 8, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = np.array([0, 255, 128, 51], np.uint8).repeat(2)[None, None, :]
    (tmp_path / "v").mkdir()
    for i, frame in enumerate(rgba):
        Image.fromarray(frame, "RGBA").save(tmp_path / "v" / f"{i}.png")
    back = read_video(tmp_path / "v")
    expected = np.round(200 * rgba[..., 3:].astype(float) / 255).astype(np.uint8).repeat(3, -1)
    np.testing.assert_allclose(back.astype(int), expected.astype(int), atol=1)


def test_16bit_png_scales_full_range_to_8bit(tmp_path):
    gray16 = np.tile(np.array([0, 257, 32896, 65535], np.uint16).repeat(2), (8, 1))   # (8 8)
    rgb16 = np.stack([gray16, gray16 // 2, 65535 - gray16], -1)
    (tmp_path / "g").mkdir()
    (tmp_path / "c").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "g" / f"{i}.png"), gray16)
        cv2.imwrite(str(tmp_path / "c" / f"{i}.png"), rgb16[..., ::-1])   # OpenCV writes BGR
    assert cv2.imread(str(tmp_path / "g" / "0.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    gray = read_video(tmp_path / "g")
    np.testing.assert_array_equal(gray[0, 0, ::2, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    colour = read_video(tmp_path / "c")
    np.testing.assert_array_equal(colour[0], np.round(rgb16 / 257.0).astype(np.uint8))


def test_grayscale_frames_become_gray_rgb(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (3, 9, 7), dtype=np.uint8)
    (tmp_path / "v").mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame, "L").save(tmp_path / "v" / f"{i}.png")
    back = read_video(tmp_path / "v")
    assert back.shape == (3, 9, 7, 3)
    for c in range(3):
        np.testing.assert_array_equal(back[..., c], frames)


def test_to_tensor_and_to_uint8_are_inverse(make_video):
    video = make_video(t=3, h=5, w=6)
    tensor = to_tensor(video)                                # (t c h w)
    assert tensor.shape == (3, 3, 5, 6) and tensor.dtype == torch.float32
    np.testing.assert_array_equal(to_uint8(tensor), video)
    # 0 -> -1, 255 -> 1, linear between: uint8 u maps to u / 127.5 - 1
    np.testing.assert_allclose(tensor.numpy(), np.moveaxis(video, -1, 1) / 127.5 - 1, atol=1e-6)


def test_to_uint8_tiles_a_batch_and_expands_one_channel():
    batch = torch.linspace(-1, 1, 4).view(4, 1, 1, 1, 1).expand(4, 2, 1, 3, 3)   # (b t c h w)
    tiled = to_uint8(batch)
    assert tiled.shape == (2, 3 * 2 + 2, 3 * 2 + 2, 3)        # 2x2 grid, pad 2 between cells
    assert tiled[0, 0, 0, 0] == 0 and tiled[0, -1, -1, 0] == 255
    np.testing.assert_array_equal(tiled[..., 0], tiled[..., 2])


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, make_video, monkeypatch):
    import av

    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous result")
    real_from_ndarray = av.VideoFrame.from_ndarray
    calls = {"n": 0}

    def failing(frame, format):
        calls["n"] += 1
        if calls["n"] == 4:                       # the encoder has written frames by now
            raise RuntimeError("disk full")
        return real_from_ndarray(frame, format=format)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", staticmethod(failing))
    with pytest.raises(RuntimeError, match="disk full"):
        write_video(target, make_video(t=8, h=16, w=16))
    assert calls["n"] == 4
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_write_rejects_unknown_suffix_and_unwritable_places(tmp_path, make_video):
    from kinema.errors import KinemaError

    video = make_video(t=2, h=8, w=8)
    with pytest.raises(KinemaError, match="out.avi"):
        write_video(tmp_path / "out.avi", video)
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(KinemaError, match=r"file/out\.mp4: cannot write"):
        write_video(tmp_path / "file" / "out.mp4", video)
    (tmp_path / "taken.gif").mkdir()                      # the target name is a folder
    with pytest.raises(KinemaError, match=r"taken\.gif: cannot write"):
        write_video(tmp_path / "taken.gif", video)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "taken.gif"]


def test_count_frames_matches_decode(tmp_path, make_video):
    video = make_video(t=9, h=16, w=16)
    for name in ("a.mp4", "a.gif"):
        path = write_video(tmp_path / name, video)
        assert vio.count_frames(str(path), lambda p=path: open(p, "rb"),
                                gif=name.endswith("gif")) == len(read_video(path)) == 9


@pytest.mark.parametrize("suffix,codec", [(".avi", "mpeg4"), (".mov", "libx264"), (".webm", "libvpx")])
def test_reads_other_containers(tmp_path, make_video, suffix, codec):
    import av

    video = make_video(t=6, h=16, w=16)
    path = tmp_path / f"clip{suffix}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for frame in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    back = read_video(path)
    assert back.shape == video.shape
    assert psnr(back, video) > 20.0


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_written_video_has_the_umask_mode_not_the_private_temp_mode(tmp_path, make_video, suffix):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = write_video(tmp_path / f"out{suffix}", make_video(t=2, h=8, w=8))
        assert stat.S_IMODE(path.stat().st_mode) == 0o644   # what open() would give, not 0600
        os.umask(0o027)
        path = write_video(tmp_path / f"again{suffix}", make_video(t=2, h=8, w=8))
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_jpeg_frames_follow_their_exif_orientation(tmp_path):
    """A phone stores portrait frames landscape plus an EXIF rotation; read them upright
    (the same pixels as Pillow's exif_transpose)."""
    from PIL import Image, ImageOps

    folder = tmp_path / "portrait"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        stored = (rng.random((8, 16, 3)) * 255).astype(np.uint8)     # 16 wide, 8 tall
        image = Image.fromarray(stored)
        exif = image.getexif()
        exif[0x0112] = 6                                              # "rotate 90 CW to view"
        image.save(folder / f"f{i}.jpg", exif=exif, quality=95)
    video = read_video(folder)
    assert video.shape == (2, 16, 8, 3)
    for i in range(2):
        upright = np.asarray(ImageOps.exif_transpose(Image.open(folder / f"f{i}.jpg")))
        np.testing.assert_array_equal(video[i], upright)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_video_without_frames_is_refused_and_nothing_is_written(tmp_path, suffix):
    """mp4 used to become a 0-byte file and gif an IndexError."""
    from kinema.errors import KinemaError

    with pytest.raises(KinemaError, match=r"empty\.(mp4|gif): the video to write has no frames"):
        write_video(tmp_path / f"empty{suffix}", np.zeros((0, 8, 8, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
