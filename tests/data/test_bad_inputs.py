"""Every bad input gives one VideoReadError naming the file, from the library and from the CLI
(exit code 2, one line on stderr, no traceback)."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

from kinema.data import io as vio
from kinema.data.io import read_video, write_video
from kinema.errors import VideoReadError


def _mp4_bytes(tmp_path, make_video) -> bytes:
    path = write_video(tmp_path / "source.mp4", make_video(t=12, h=16, w=16))
    data = path.read_bytes()
    path.unlink()
    return data


def corrupt_mp4(tmp_path, make_video):
    data = _mp4_bytes(tmp_path, make_video)
    noise = np.random.default_rng(0).integers(0, 256, len(data) - 32, dtype=np.uint8).tobytes()
    (tmp_path / "corrupt.mp4").write_bytes(data[:32] + noise)     # valid 'ftyp' box, then noise
    return tmp_path / "corrupt.mp4", "corrupt.mp4"


def truncated_mp4(tmp_path, make_video):
    noise = np.random.default_rng(0).integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    data = write_video(tmp_path / "whole.mp4", noise).read_bytes()   # index first (faststart)
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) * 6 // 10])
    return tmp_path / "cut.mp4", "cut.mp4"


def mixed_sizes_folder(tmp_path, make_video):
    (tmp_path / "walk").mkdir()
    for name, (h, w) in [("f1.png", (16, 16)), ("f2.png", (16, 16)), ("f10.png", (12, 16)),
                         ("f11.png", (16, 12))]:
        cv2.imwrite(str(tmp_path / "walk" / name), np.zeros((h, w, 3), np.uint8))
    return tmp_path / "walk", "f10.png"


def empty_mp4(tmp_path, make_video):
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path / "empty.mp4", "empty.mp4"


def text_as_mp4(tmp_path, make_video):
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 20)
    return tmp_path / "notes.mp4", "notes.mp4"


def missing_path(tmp_path, make_video):
    return tmp_path / "nowhere" / "ghost.mp4", "ghost.mp4"


def empty_folder(tmp_path, make_video):
    (tmp_path / "hollow").mkdir()
    return tmp_path / "hollow", "hollow"


def mixed_sizes_zip(tmp_path, make_video):
    with zipfile.ZipFile(tmp_path / "mixed.zip", "w") as archive:
        for i, (h, w) in enumerate([(16, 16), (16, 16), (16, 24)]):
            ok, png = cv2.imencode(".png", np.zeros((h, w, 3), np.uint8))
            archive.writestr(f"walk/frame{i}.png", png.tobytes())
    return tmp_path / "mixed.zip", "frame2.png"


def tiny_image(tmp_path, make_video):
    (tmp_path / "dot").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "dot" / f"{i}.png"), np.zeros((1, 1, 3), np.uint8))
    return tmp_path / "dot", "0.png"


def corrupt_png(tmp_path, make_video):
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "a0.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "frames" / "a1.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return tmp_path / "frames", "a1.png"


def not_a_zip(tmp_path, make_video):
    (tmp_path / "fake.zip").write_text("plain text")
    return tmp_path / "fake.zip", "fake.zip"


def sound_only_mp4(tmp_path, make_video):
    """A real mp4 holding an audio stream and no video."""
    import av

    path = tmp_path / "song.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path, "song.mp4"


BAD_INPUTS = [corrupt_mp4, truncated_mp4, empty_mp4, text_as_mp4, missing_path, empty_folder,
              mixed_sizes_zip, mixed_sizes_folder, tiny_image, corrupt_png, not_a_zip,
              sound_only_mp4]


def test_sound_only_mp4_says_it_holds_no_video(tmp_path, make_video):
    path, _ = sound_only_mp4(tmp_path, make_video)
    with pytest.raises(VideoReadError, match=r"song\.mp4: holds no video stream$"):
        read_video(path)
    with pytest.raises(VideoReadError, match=r"song\.mp4: holds no video stream$"):
        vio.count_frames(str(path), lambda: vio.open_binary(path))


def test_truncated_mp4_says_so(tmp_path, make_video):
    path, _ = truncated_mp4(tmp_path, make_video)
    with pytest.raises(VideoReadError, match=r"cut\.mp4: truncated: header promises 30 frames"):
        read_video(path)


@pytest.mark.parametrize("make_bad", BAD_INPUTS, ids=lambda f: f.__name__)
def test_read_video_names_the_bad_file(make_bad, tmp_path, make_video):
    path, name = make_bad(tmp_path, make_video)
    with pytest.raises(VideoReadError) as info:
        read_video(path)
    message = str(info.value)
    assert name in message and "\n" not in message


def make_unreadable(path, monkeypatch):
    """chmod 000; as root (who reads anything) open() is made to fail as the OS would for others."""
    os.chmod(path, 0)
    if os.geteuid() == 0:
        def denied(file, mode="r", *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(file))
        monkeypatch.setattr(vio, "open", denied, raising=False)


def test_unreadable_file_names_the_file(tmp_path, make_video, monkeypatch):
    path = write_video(tmp_path / "locked.mp4", make_video(t=4, h=8, w=8))
    make_unreadable(path, monkeypatch)
    with pytest.raises(VideoReadError, match=r"locked\.mp4.*Permission denied"):
        read_video(path)


def _as_dataset(make_bad, tmp_path, make_video):
    """The bad input as the only video of a ``folder:`` dataset (or the dataset path itself)."""
    path, name = make_bad(tmp_path, make_video)
    if make_bad in (missing_path, empty_folder) or path.suffix == ".zip":
        return path, name
    root = tmp_path / "dataset"
    root.mkdir()
    os.replace(path, root / path.name)
    return root, name


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    from kinema.cli import main

    monkeypatch.setattr(sys, "argv", ["kinema", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("make_bad", BAD_INPUTS, ids=lambda f: f.__name__)
def test_cli_preview_prints_one_line_and_exits_2(make_bad, tmp_path, make_video, monkeypatch, capsys):
    root, name = _as_dataset(make_bad, tmp_path, make_video)
    out = tmp_path / "preview.mp4"
    code, err = run_cli(["data", "preview", f"folder:{root}", "--out", str(out), "--frames", "2"],
                        monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and name in err
    assert "Traceback" not in err and not out.exists()


def test_cli_unreadable_file(tmp_path, make_video, monkeypatch, capsys):
    (tmp_path / "dataset").mkdir()
    path = write_video(tmp_path / "dataset" / "locked.mp4", make_video(t=4, h=8, w=8))
    make_unreadable(path, monkeypatch)
    code, err = run_cli(["data", "preview", f"folder:{tmp_path / 'dataset'}", "--out",
                         str(tmp_path / "p.mp4"), "--frames", "2"], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "locked.mp4" in err


def test_real_entry_point_has_no_traceback(tmp_path):
    """The installed command itself (a fresh interpreter), not only ``main()`` in-process."""
    result = subprocess.run([sys.executable, "-m", "kinema", "data", "preview",
                             f"folder:{tmp_path / 'ghost'}", "--out", str(tmp_path / "p.mp4")],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'ghost'}: no such folder or zip"]
