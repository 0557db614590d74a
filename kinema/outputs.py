"""Where a command's outputs go, and how they get there: all at once or not at all.

``--out`` names a folder, or a file whose suffix says the form of the main video
(``.mp4``, ``.gif``, or ``.png`` for a frame strip). A command writes into a staging folder
beside the destination (``write_staged``); only when it succeeds are the files moved into
place, so a failure at any point leaves the destination as it was.

- Folder form: the staged files move into the folder (created if missing; files of the same
  name are replaced, others left alone). A path that is a file is refused.
- File form: ``.mp4`` / ``.gif``: the first video the command wrote becomes ``--out`` in that
  form; every other file goes beside it as ``<stem>-<name>``. ``.png``: one file, a picture of
  every video the command wrote (the frame strip, one row per video of the first one's shape),
  and nothing beside it. A path that is a folder is refused.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from kinema.errors import KinemaError
from kinema.validate import check_work

FILE_SUFFIXES = (".mp4", ".gif", ".png")
VIDEO_SUFFIXES = (".mp4", ".gif")
# suffixes of files kinema never writes as --out: a folder output named like one
# (``--out a.txt``) is a slip, refused instead of becoming a folder called a.txt
FILE_LIKE_SUFFIXES = (".txt", ".json", ".yaml", ".yml", ".csv", ".jpg", ".jpeg", ".webp",
                      ".bmp", ".tif", ".tiff", ".avi", ".mov", ".mkv", ".webm", ".npy", ".npz",
                      ".pt", ".pth", ".safetensors", ".zip", ".html", ".md")


def is_file_target(out: Path) -> bool:
    return Path(out).suffix.lower() in FILE_SUFFIXES


def check_target(out: Path) -> None:
    """Refuse a destination of the wrong kind before any work is done."""
    out = Path(out)
    if is_file_target(out) and out.is_dir():
        raise KinemaError(f"--out {out} is a folder; a {out.suffix} output must be a file path "
                          f"(or name a folder without a suffix)")
    if not is_file_target(out) and out.exists() and not out.is_dir():
        raise KinemaError(f"--out {out} is a file; name a folder, or a file ending in "
                          f"{', '.join(FILE_SUFFIXES)}")
    if out.suffix.lower() in FILE_LIKE_SUFFIXES and not out.is_dir():
        raise KinemaError(f"--out {out} looks like a {out.suffix} file, which this command does "
                          f"not write: name a folder, or a file ending in {', '.join(FILE_SUFFIXES)}")


def write_staged(out: Path, write: Callable[[Path], object], size: int | None = None) -> list[Path]:
    """Run ``write(staging_folder)``; on success place its files at ``out`` (see the module
    docstring) and return where they went; on failure nothing changes at ``out``. A parent
    folder this call had to create is removed again on failure. ``size`` (``--size``): videos
    and pictures are upscaled for display (nearest, by an integer factor) until their short
    side is at least ``size`` pixels (``upscale_outputs``)."""
    out = Path(out)
    check_target(out)
    missing = next((p for p in reversed(out.parents) if not p.exists()), None)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    except OSError as err:
        raise KinemaError(f"--out {out}: cannot write there ({err.strerror or err})") from None
    try:
        write(staging)
        if size is not None:
            upscale_outputs(staging, size)
        return place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if missing is not None:
            shutil.rmtree(missing, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def place(staging: Path, out: Path) -> list[Path]:
    """Move the files of ``staging`` to ``out``; returns where they went."""
    from kinema.data.io import set_default_mode

    files = sorted(p for p in staging.rglob("*") if p.is_file())
    if not files:
        raise KinemaError("the command wrote no output")
    placed = []
    if not is_file_target(out):
        check_destinations(out, [out / f.relative_to(staging) for f in files])
        for f in files:
            dest = out / f.relative_to(staging)
            dest.parent.mkdir(parents=True, exist_ok=True)
            set_default_mode(f)
            os.replace(f, dest)
            placed.append(dest)
        return placed
    videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    if not videos:
        raise KinemaError(f"--out {out}: the command wrote no video to save as {out.suffix}")
    if out.suffix.lower() == ".png":     # a picture target is one picture: every video's strip
        check_destinations(out, [out])
        strip = staging / ".strip.png"
        _strip(videos, strip)
        set_default_mode(strip)
        os.replace(strip, out)
        return [out]
    main = videos[0]
    check_destinations(out, [out] + [out.with_name(f"{out.stem}-{f.relative_to(staging).as_posix().replace('/', '-')}")
                                     for f in files if f != main])
    if main.suffix.lower() != out.suffix.lower():
        converted = staging / f".main{out.suffix.lower()}"
        _convert(main, converted)
        main.unlink()
        main = converted
    for f in files:
        if not f.exists():
            continue
        dest = out if f == main else out.with_name(f"{out.stem}-{f.relative_to(staging).as_posix().replace('/', '-')}")
        set_default_mode(f)
        os.replace(f, dest)
        placed.append(dest)
    if main not in files:   # the converted file
        set_default_mode(main)
        os.replace(main, out)
        placed.insert(0, out)
    return placed


def check_destinations(out: Path, destinations: list[Path]) -> None:
    """Before anything is moved: every destination is a file or free, and its folder a folder
    or free, so placing is all or nothing. The message names the user's path, not the
    staging folder's."""
    for dest in destinations:
        if dest.is_dir() and not dest.is_symlink():
            raise KinemaError(f"--out {out}: {dest} is a folder, where the command would write a "
                              f"file of that name; move it away (nothing was replaced)")
        blocker = next((p for p in reversed(dest.parents) if p.exists() and not p.is_dir()
                        and len(p.parts) > len(out.parent.parts)), None)
        if blocker is not None:
            raise KinemaError(f"--out {out}: {blocker} is a file, where the command would make a "
                              f"folder of that name; move it away (nothing was replaced)")


def upscale_factor(height: int, width: int, size: int) -> int:
    """The smallest integer factor that brings the short side to at least ``size``."""
    return max(1, -(-int(size) // max(1, min(height, width))))


def upscale_outputs(folder: Path, size: int) -> None:
    """Re-write every video (.mp4, .gif) and picture (.png) in ``folder`` upscaled by
    ``upscale_factor`` (nearest neighbour: pixels stay sharp squares, colours unchanged)."""
    import numpy as np

    from kinema.data.io import read_video, write_video

    if not (isinstance(size, int) and size > 0):
        raise KinemaError(f"--size must be an integer > 0, got {size!r}")
    for f in sorted(folder.rglob("*")):
        suffix = f.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            frames = read_video(f)
            k = upscale_factor(frames.shape[1], frames.shape[2], size)
            check_work(f"--size {size}", frames.shape[1] * k, frames.shape[2] * k, len(frames))
            if k > 1:
                fps = _fps_of(f)
                write_video(f, frames.repeat(k, axis=1).repeat(k, axis=2), fps=fps)
        elif suffix == ".png":
            from PIL import Image

            with Image.open(f) as image:
                picture = np.asarray(image)
            k = upscale_factor(picture.shape[0], picture.shape[1], size)
            check_work(f"--size {size}", picture.shape[0] * k, picture.shape[1] * k, 1)
            if k > 1:
                Image.fromarray(picture.repeat(k, axis=0).repeat(k, axis=1)).save(f)


def _convert(video: Path, dest: Path) -> None:
    """Re-write a staged video in the form ``dest``'s suffix asks for (mp4 or gif)."""
    from kinema.data.io import read_video, write_video

    write_video(dest, read_video(video), fps=_fps_of(video))


def _strip(videos: list[Path], dest: Path) -> None:
    """The frame strip of ``videos`` as one png: a row per video of the first one's shape
    (frames, size), at least 256 px on its short side."""
    import torch

    from kinema.data.io import read_video, to_tensor
    from kinema.viz.grid import filmstrip
    from kinema.viz.report import encode_png

    rows = [to_tensor(read_video(videos[0]))]
    for video in videos[1:]:
        frames = to_tensor(read_video(video))
        if frames.shape == rows[0].shape:
            rows.append(frames)
    dest.write_bytes(encode_png(filmstrip(torch.stack(rows)), min_size=256))


def _fps_of(video: Path) -> float:
    if video.suffix.lower() == ".gif":
        from PIL import Image

        with Image.open(video) as image:
            duration = image.info.get("duration") or 125
        return 1000.0 / duration
    import av

    with av.open(str(video)) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else 8.0


def numbered(stem: str, index: int, count: int, suffix: str = ".mp4") -> str:
    """One naming scheme for every verb's per-video files (and ``VideoResult.save``): one video
    is ``stem.mp4``; several are ``stem-00.mp4``, ``stem-01.mp4``, ... (zero-padded, so they
    sort in order)."""
    return f"{stem}{suffix}" if count == 1 else f"{stem}-{index:02d}{suffix}"
