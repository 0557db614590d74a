"""Read and write videos: video files (PyAV), GIFs (Pillow), folders and zips of frames (OpenCV).

Every read returns ``(t h w c)`` uint8 RGB; every failure raises one ``VideoReadError`` whose
message names the file. Writes go to a temporary name in the destination folder and are
renamed into place with ``os.replace``, so a crash never leaves a half-written video.
"""
from __future__ import annotations

import io
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from kinema.data.limits import check_zip_members, image_size_from_header, reason
from kinema.errors import KinemaError, VideoReadError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
# Frames smaller than this on either side carry no usable motion (and cannot be encoded as
# yuv420p); they are rejected with a clear message instead of being silently upscaled.
MIN_FRAME_SIDE = 4
def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10`` (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def is_video_file(name: str | Path) -> bool:
    return Path(str(name)).suffix.lower() in VIDEO_SUFFIXES


def is_image_file(name: str | Path) -> bool:
    path = Path(str(name))
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


# ----------------------------------------------------------------------------- reading


def read_video(path: str | Path) -> np.ndarray:
    """Read a video file, a folder of frames or a zip of one frame folder -> (t h w c) uint8 RGB."""
    frames = list(iter_frames(path))
    return np.stack(frames)


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield the frames of ``path`` one by one as (h w c) uint8 RGB, so a caller can shrink
    large frames as they arrive instead of holding the full-resolution video."""
    path = Path(path)
    if not path.exists():
        raise VideoReadError(f"{path}: no such file or folder")
    if path.is_dir():
        try:
            names = sorted((p.name for p in path.iterdir() if p.is_file() and is_image_file(p)),
                           key=natural_key)
        except OSError as err:
            raise VideoReadError(f"{path}: cannot list folder ({reason(err)})") from None
        if not names:
            raise VideoReadError(f"{path}: folder holds no frames ({', '.join(IMAGE_SUFFIXES)})")
        yield from _iter_image_frames([(str(path / n), lambda n=n: _read_bytes(path / n))
                                       for n in names])
    elif path.suffix.lower() == ".zip":
        with open_zip(path) as archive:
            groups = zip_frame_groups(archive)
            if len(groups) != 1:
                what = "no frames" if not groups else f"{len(groups)} frame folders"
                raise VideoReadError(f"{path}: a video zip must hold one frame folder, found {what}"
                                     " (use VideoFolder / folder:PATH for a zip of many videos)")
            yield from iter_zip_frames(path, archive, next(iter(groups.values())))
    elif path.suffix.lower() == ".gif":
        yield from _iter_gif(str(path), lambda: _read_bytes(path))
    elif is_video_file(path):
        yield from _iter_av(str(path), lambda: open_binary(path))
    else:
        raise VideoReadError(f"{path}: not a video file, frame folder or zip "
                             f"(video suffixes: {', '.join(VIDEO_SUFFIXES)})")


def zip_frame_groups(archive: zipfile.ZipFile) -> dict[str, list[str]]:
    """Image members of a zip grouped by folder, each group naturally sorted: {folder: [member]}."""
    groups: dict[str, list[str]] = {}
    for member in archive.namelist():
        if member.endswith("/") or "__MACOSX" in member or not is_image_file(member):
            continue
        folder = member.rpartition("/")[0]
        groups.setdefault(folder, []).append(member)
    return {k: sorted(v, key=natural_key) for k, v in sorted(groups.items())}


def iter_zip_frames(path: Path, archive: zipfile.ZipFile, members: list[str]) -> Iterator[np.ndarray]:
    """Frames of one frame folder inside an open zip (members as listed by ``zip_frame_groups``)."""
    yield from _iter_image_frames([(f"{path}:{m}", lambda m=m: _read_zip_member(path, archive, m))
                                   for m in members])


def iter_zip_video(path: Path, archive: zipfile.ZipFile, member: str) -> Iterator[np.ndarray]:
    """Frames of one video file stored inside an open zip."""
    label = f"{path}:{member}"
    if member.lower().endswith(".gif"):
        yield from _iter_gif(label, lambda: _read_zip_member(path, archive, member))
    else:
        yield from _iter_av(label, lambda: io.BytesIO(_read_zip_member(path, archive, member)))


@contextmanager
def open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    """Open a zip for reading; a bad or unreadable zip is a ``VideoReadError`` naming it."""
    try:
        handle = open_binary(path)
    except OSError as err:
        raise VideoReadError(f"{path}: cannot read ({reason(err)})") from None
    with handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise VideoReadError(f"{path}: not a readable zip ({reason(err)})") from None
        with archive:
            check_zip_members(path, archive)
            yield archive


def _read_zip_member(path: Path, archive: zipfile.ZipFile, member: str) -> bytes:
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
        raise VideoReadError(f"{path}:{member}: cannot read from zip ({reason(err)})") from None


def open_binary(path: str | Path):
    """``open(path, "rb")``: the one place kinema opens a video or frame file for reading.
    Only regular files are opened: a FIFO would block forever, a device never end."""
    import stat

    mode = os.stat(path).st_mode      # an OSError (missing, denied) is the caller's to word
    if not stat.S_ISREG(mode):
        raise VideoReadError(f"{path}: not a regular file (a FIFO, device or socket is never read)")
    return open(path, "rb")


def read_image(path: str | Path) -> np.ndarray:
    """One picture file -> (h w 3) uint8 RGB: a regular file, sized by its header first,
    at least ``MIN_FRAME_SIDE`` pixels on each side; errors are ``VideoReadError``s naming it."""
    path = Path(path)
    if not path.exists():
        raise VideoReadError(f"{path}: no such file")
    if path.is_dir():
        raise VideoReadError(f"{path}: is a folder, not a picture")
    return next(_iter_image_frames([(str(path), lambda: _read_bytes(path))]))


def _read_bytes(path: Path) -> bytes:
    try:
        with open_binary(path) as handle:
            return handle.read()
    except OSError as err:
        raise VideoReadError(f"{path}: cannot read ({reason(err)})") from None


def _iter_image_frames(sources: list) -> Iterator[np.ndarray]:
    """Decode (label, read_bytes) pairs with OpenCV, validating that all frames share one size."""
    import cv2

    first_shape, first_label = None, None
    for label, read in sources:
        data = read()
        if not data:
            raise VideoReadError(f"{label}: empty file")
        # JPEG (8-bit, no alpha) decodes as colour, which applies its EXIF orientation, so a
        # phone's portrait frames stand upright; other formats keep alpha and 16-bit depth.
        image_size_from_header(label, data)
        jpeg = label.lower().endswith((".jpg", ".jpeg"))
        image = _quiet_imdecode(cv2, data, cv2.IMREAD_COLOR if jpeg else cv2.IMREAD_UNCHANGED)
        if image is None:
            raise VideoReadError(f"{label}: not a readable image (corrupt or not a png/jpg/bmp)")
        frame = _to_rgb8(image, label, bgr=True)
        if first_shape is None:
            first_shape, first_label = frame.shape, label
        elif frame.shape != first_shape:
            raise VideoReadError(
                f"{label}: frame is {frame.shape[1]}x{frame.shape[0]} but {first_label} is "
                f"{first_shape[1]}x{first_shape[0]}; all frames of a video must share one size")
        yield frame


def _quiet_imdecode(cv2, data: bytes, flags: int):
    """``cv2.imdecode`` without OpenCV's own log lines on stderr: a broken frame is reported
    once, by our error, not also by libpng's warnings."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    finally:
        cv2.utils.logging.setLogLevel(level)


def _to_rgb8(image: np.ndarray, label: str, bgr: bool) -> np.ndarray:
    """Any decoded image -> (h w 3) uint8 RGB: 16-bit scaled to 8, gray expanded, alpha
    composited over black (transparent pixels may hold arbitrary colours)."""
    if image.shape[0] < MIN_FRAME_SIDE or image.shape[1] < MIN_FRAME_SIDE:
        raise VideoReadError(f"{label}: frame is {image.shape[1]}x{image.shape[0]} pixels; "
                             f"kinema needs at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE}")
    if image.dtype == np.uint16:     # full 16-bit range onto 0..255, rounded: 65535 -> 255
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise VideoReadError(f"{label}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    channels = image.shape[2]
    if channels in (2, 4):           # gray+alpha or colour+alpha
        alpha = image[..., -1:].astype(np.uint16)
        image = ((image[..., :-1].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
        channels -= 1
    if channels == 1:
        image = np.repeat(image, 3, axis=2)
    elif bgr:
        image = image[..., ::-1]
    return np.ascontiguousarray(image)


def _iter_gif(label: str, read) -> Iterator[np.ndarray]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    data = read()
    if not data:
        raise VideoReadError(f"{label}: empty file")
    try:
        with Image.open(io.BytesIO(data)) as gif:
            count = 0
            for frame in ImageSequence.Iterator(gif):
                count += 1
                yield _to_rgb8(np.asarray(frame.convert("RGBA")), label, bgr=False)
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as err:
        raise VideoReadError(f"{label}: not a readable gif ({reason(err)})") from None
    if count == 0:
        raise VideoReadError(f"{label}: gif holds no frames")


@contextmanager
def _av_video_stream(label: str, open_source):
    """Open ``open_source()`` with PyAV -> (container, first video stream); a source that does
    not open, or holds no video stream, is one ``VideoReadError`` naming ``label``."""
    import av

    try:
        source = open_source()
    except OSError as err:
        raise VideoReadError(f"{label}: cannot read ({reason(err)})") from None
    with source:
        try:
            container = av.open(source, mode="r")
        except (av.FFmpegError, OSError, ValueError) as err:
            kind = "empty file" if _is_empty(source) else \
                f"not a readable video: corrupt, truncated or not a video ({reason(err)})"
            raise VideoReadError(f"{label}: {kind}") from None
        with container:
            if not container.streams.video:
                raise VideoReadError(f"{label}: holds no video stream")
            yield container, container.streams.video[0]


def _iter_av(label: str, open_source) -> Iterator[np.ndarray]:
    """Decode with PyAV; a file whose header promises more frames than decode is truncated."""
    import av

    with _av_video_stream(label, open_source) as (container, stream):
        stream.thread_type = "AUTO"
        promised, count = stream.frames, 0
        try:
            for frame in container.decode(stream):
                count += 1
                yield _to_rgb8(frame.to_ndarray(format="rgb24"), label, bgr=False)
        except (av.FFmpegError, OSError, ValueError) as err:
            raise VideoReadError(f"{label}: corrupt or truncated after {count} frames "
                                 f"({reason(err)})") from None
    if count == 0:
        raise VideoReadError(f"{label}: no decodable frames (corrupt or truncated file)")
    if promised and count < promised:
        raise VideoReadError(f"{label}: truncated: header promises {promised} frames, "
                             f"only {count} decode")


def count_frames(label: str, open_source, gif: bool = False) -> int:
    """Number of frames in a video file without decoding it (container metadata, else packets).

    ``open_source()`` returns a binary file object; errors name ``label``."""
    if gif:
        from PIL import Image, UnidentifiedImageError
        try:
            with open_source() as source, Image.open(source) as image:
                return int(getattr(image, "n_frames", 1))
        except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as err:
            raise VideoReadError(f"{label}: not a readable gif ({reason(err)})") from None
    import av

    with _av_video_stream(label, open_source) as (container, stream):
        try:
            return stream.frames or sum(1 for p in container.demux(stream) if p.size)
        except (av.FFmpegError, OSError, ValueError) as err:
            raise VideoReadError(f"{label}: not a readable video: corrupt, truncated or not a "
                                 f"video ({reason(err)})") from None


def _is_empty(source) -> bool:
    try:
        source.seek(0, os.SEEK_END)
        return source.tell() == 0
    except (OSError, ValueError):
        return False


# ----------------------------------------------------------------------------- conversion


def to_uint8(video) -> np.ndarray:
    """A video as (t h w c) uint8 RGB numpy.

    Accepts a torch tensor (t c h w) or (b t c h w) float in [-1, 1] (a batch is tiled with
    ``video_grid``), or a uint8 numpy array (t h w c) / (t h w). One channel becomes gray RGB.
    """
    import torch

    if isinstance(video, torch.Tensor):
        video = video.detach().cpu()
        if video.ndim == 5:
            from kinema.viz.grid import video_grid
            video = video_grid(video.float())                         # (t c H W)
        if video.ndim != 4:
            raise KinemaError(f"a video tensor must be (t c h w) or (b t c h w), got {tuple(video.shape)}")
        if video.dtype != torch.uint8:
            video = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        video = video.permute(0, 2, 3, 1).numpy()                     # (t h w c)
    video = np.asarray(video)
    if video.ndim == 3:
        video = video[..., None]
    if video.ndim != 4 or video.shape[-1] not in (1, 3) or video.dtype != np.uint8:
        raise KinemaError(f"expected a uint8 (t h w c) video with 1 or 3 channels, "
                          f"got {video.dtype} {tuple(video.shape)}")
    if video.shape[-1] == 1:
        video = np.repeat(video, 3, axis=-1)
    return np.ascontiguousarray(video)


def to_tensor(video: np.ndarray):
    """(t h w c) uint8 -> torch float (t c h w) in [-1, 1]."""
    import torch

    frames = torch.from_numpy(np.ascontiguousarray(video))
    return frames.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


# ----------------------------------------------------------------------------- writing


def write_video(path: str | Path, video, fps: float = 8.0, crf: int = 18) -> Path:
    """Write ``video`` (anything ``to_uint8`` accepts) to ``.mp4`` (h264, yuv420p) or ``.gif``.

    The file appears complete or not at all: it is written under a temporary name in the same
    folder and renamed into place.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise KinemaError(f"{path}: can write .mp4 or .gif, not {suffix or 'a file without suffix'!r}")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise KinemaError(f"fps must be a finite number > 0, got {fps}")
    frames = to_uint8(video)
    if len(frames) == 0:
        raise KinemaError(f"{path}: the video to write has no frames")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}",
                                       dir=path.parent)
        os.close(handle)
    except OSError as err:
        raise KinemaError(f"{path}: cannot write ({reason(err)})") from None
    try:
        if suffix == ".mp4":
            _write_mp4(tmp, frames, fps, crf)
        else:
            from kinema.data.gif import write_gif

            write_gif(tmp, frames, fps)
        set_default_mode(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):        # disk full, target is a folder, ...
            raise KinemaError(f"{path}: cannot write ({reason(err)})") from None
        raise
    return path


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` complete or not at all: under a
    temporary name in the same folder, given the default file mode, then renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        set_default_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def set_default_mode(path: str | Path) -> None:
    """Give a file or folder made by ``tempfile`` (private: 0600 / 0700) the mode a plain
    ``open``/``mkdir`` would have given it under the current umask, before it is renamed into
    place: outputs are meant to be read by others on a shared machine."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~mask)


def _write_mp4(tmp: str, frames: np.ndarray, fps: float, crf: int) -> None:
    """h264 in yuv420p, the format every player opens; yuv420p halves chroma resolution, so odd
    sizes are padded to even by repeating the last row/column."""
    from fractions import Fraction

    import av

    _, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    # faststart: the index goes first, so browsers stream the file and truncation is detectable
    with av.open(tmp, mode="w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = w + pad_w, h + pad_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
