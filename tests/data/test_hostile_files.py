"""Files a hostile user may hand to the data layer: each is one VideoReadError naming it,
refused before it can hang (FIFO), exhaust memory (bombs) or point outside an archive."""
from __future__ import annotations

import os
import struct
import zipfile
import zlib

import numpy as np
import pytest

from kinema.data import io as vio
from kinema.errors import VideoReadError


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height, followed by one tiny (wrong) IDAT."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_by_its_header(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(100_000, 100_000))
    with pytest.raises(VideoReadError, match=r"bomb.png: declares 100000x100000 pixels, more than the limit of 67108864"):
        vio.read_image(path)


def test_read_image_decodes_a_real_picture(tmp_path):
    import cv2

    image = np.random.default_rng(0).integers(0, 255, (6, 9, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "p.png"), image[..., ::-1])
    assert np.array_equal(vio.read_image(tmp_path / "p.png"), image)


def test_a_tiny_picture_is_refused(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(VideoReadError, match="one.png: frame is 1x1 pixels; kinema needs at least 4x4"):
        vio.read_image(tmp_path / "one.png")


def test_a_fifo_is_never_opened(tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    with pytest.raises(VideoReadError, match="clip.mp4: not a regular file"):
        vio.read_video(fifo)          # would block forever in open() if it were opened


@pytest.mark.parametrize("member", ["/etc/frames/0.png", "../up/0.png", "a/../../0.png", "C:/x/0.png"])
def test_unsafe_zip_member_names_are_refused(tmp_path, member):
    import cv2

    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    with zipfile.ZipFile(tmp_path / "v.zip", "w") as archive:
        archive.writestr(member, png.tobytes())
    with pytest.raises(VideoReadError, match="unsafe member name"):
        vio.read_video(tmp_path / "v.zip")


def test_a_zip_member_declaring_too_many_bytes_is_refused_before_reading(tmp_path, monkeypatch):
    import cv2

    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    with zipfile.ZipFile(tmp_path / "v.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("v/0.png", png.tobytes() + b"\0" * 100_000)
    from kinema.data import limits
    monkeypatch.setattr(limits, "MAX_ZIP_MEMBER_BYTES", 50_000)
    read = []
    monkeypatch.setattr(vio, "_read_zip_member", lambda *a: read.append(a))
    with pytest.raises(VideoReadError, match=r"v/0.png: declares \d+ bytes, more than the limit of 50000"):
        vio.read_video(tmp_path / "v.zip")
    assert read == []
