"""Pictures and clips in, videos out of the studio, all in memory (nothing is written to disk).

In: ``decode_upload`` accepts only the raster formats listed in ``FORMATS``, and reads the
header first (PIL's ``Image.open`` does not decode pixels) so an image whose declared size is
over the pixel limit — a decompression bomb — is refused before any pixel is decoded.
``decode_video_upload`` (the Poke tab's clips) accepts only mp4, webm and gif, recognised by their
first bytes and opened with that one demuxer (FFmpeg never probes an upload, nor follows a
reference out of it), refuses a frame size over the limit from the header, and stops decoding
as soon as the clip has more frames than the limit.

Out: a video is sent as one PNG *sprite sheet* (frames left to right, top to bottom in a grid)
that the page draws frame by frame on a canvas; a still as a PNG.
"""
from __future__ import annotations

import io
import math
import warnings

import numpy as np

from kinema.serve.requests import ApiError

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
VIDEO_FORMATS = ("mp4", "webm", "gif")
SPRITE_COLUMNS = 8


def decode_upload(data: bytes, max_bytes: int, max_pixels: int, min_side: int = 8) -> np.ndarray:
    """Upload bytes -> (h w 3) uint8 RGB, or an ApiError (413 too large, 415 not a picture)."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        raise ApiError(413, f"upload of {len(data)} bytes is over the limit of {max_bytes} bytes")
    if not data:
        raise ApiError(400, "the upload is empty: send the picture's bytes as the request body")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)      # the header only
    except Image.DecompressionBombError:   # PIL's own guard (> 2 x MAX_IMAGE_PIXELS) fired first
        raise ApiError(413, f"the picture declares more pixels than the limit of {max_pixels}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ApiError(415, f"the upload is not a picture in a supported format "
                            f"({', '.join(f.lower() for f in FORMATS)})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ApiError(413, f"the picture is {width}x{height} = {width * height} pixels; the "
                            f"limit is {max_pixels} pixels")
    if min(width, height) < min_side:
        raise ApiError(422, f"the picture is {width}x{height}; both sides must be at least {min_side} px")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()                                          # first frame of an animation
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombWarning,
            Image.DecompressionBombError):
        raise ApiError(415, f"the {image.format} picture could not be decoded (damaged or "
                            f"truncated)") from None
    return np.ascontiguousarray(rgb)


def video_format(data: bytes) -> str | None:
    """Which of ``VIDEO_FORMATS`` the bytes are, by their signature (None: none of them): an
    ISO media file's box ``ftyp`` at byte 4, EBML's magic number (Matroska/WebM), GIF's header."""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def decode_video_upload(data: bytes, max_bytes: int, max_pixels: int, max_frames: int,
                        min_side: int = 8) -> np.ndarray:
    """Upload bytes of a clip -> (t h w 3) uint8 RGB frames, or an ApiError: 413 over the byte,
    frame-size or length limit, 415 not an mp4/webm/gif video or not decodable, 422 too small."""
    if len(data) > max_bytes:
        raise ApiError(413, f"upload of {len(data)} bytes is over the limit of {max_bytes} bytes")
    if not data:
        raise ApiError(400, "the upload is empty: send the video's bytes as the request body")
    kind = video_format(data)
    if kind is None:
        raise ApiError(415, f"the upload is not a video in a supported format ({', '.join(VIDEO_FORMATS)})")

    def check_size(width: int, height: int) -> None:
        if width * height > max_pixels:
            raise ApiError(413, f"the video is {width}x{height} = {width * height} pixels a frame; the "
                                f"limit is {max_pixels} pixels (scale it down)")
        if min(width, height) < min_side:
            raise ApiError(422, f"the video is {width}x{height}; both sides must be at least {min_side} px")

    def too_long() -> ApiError:
        return ApiError(413, f"the video has more than {max_frames} frames; the limit is {max_frames} "
                             f"frames (trim it, e.g. ffmpeg -frames:v {max_frames})")

    decode = _decode_gif if kind == "gif" else _decode_av
    frames = decode(data, kind, check_size, too_long, max_frames, max_pixels)
    if len({frame.shape for frame in frames}) > 1:
        raise ApiError(422, "the video's frames change size; every frame of a clip must have the same size")
    return np.stack(frames)


def _decode_gif(data: bytes, kind: str, check_size, too_long, max_frames: int,
                max_pixels: int) -> list[np.ndarray]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data), formats=("GIF",))            # the header only
    except Image.DecompressionBombError:
        raise ApiError(413, f"the gif declares more pixels a frame than the limit of {max_pixels}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ApiError(415, "the gif could not be read (damaged or truncated)") from None
    check_size(*image.size)
    frames = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            for frame in ImageSequence.Iterator(image):
                if len(frames) == max_frames:
                    raise too_long()
                frames.append(np.asarray(frame.convert("RGB")))
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombWarning,
            Image.DecompressionBombError):
        raise ApiError(415, "the gif could not be decoded (damaged or truncated)") from None
    return frames


def _decode_av(data: bytes, kind: str, check_size, too_long, max_frames: int,
               max_pixels: int) -> list[np.ndarray]:
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r", format=kind)   # this demuxer only, no probing
    except (av.FFmpegError, OSError, ValueError):
        raise ApiError(415, f"the {kind} video could not be read (damaged, truncated or not a video)") from None
    frames = []
    with container:
        if not container.streams.video:
            raise ApiError(415, f"the {kind} file holds no video stream")
        stream = container.streams.video[0]
        check_size(stream.codec_context.width, stream.codec_context.height)
        stream.thread_type = "AUTO"
        promised = stream.frames                                # 0 where the header does not say
        try:
            for frame in container.decode(stream):
                if len(frames) == max_frames:
                    raise too_long()
                check_size(frame.width, frame.height)          # a stream may change size mid-way
                frames.append(frame.to_ndarray(format="rgb24"))
        except (av.FFmpegError, OSError, ValueError):
            raise ApiError(415, f"the {kind} video could not be decoded after {len(frames)} frames "
                                f"(damaged or truncated)") from None
    if not frames:
        raise ApiError(415, f"the {kind} video holds no decodable frame")
    if len(frames) < promised:
        raise ApiError(415, f"the {kind} video is truncated: its header promises {promised} frames, "
                            f"{len(frames)} decode")
    return frames


def video_to_uint8(video) -> np.ndarray:
    """(t c h w) float in [-1, 1] (torch or numpy) or (t h w 3) uint8 -> (t h w 3) uint8."""
    from kinema.data.io import to_uint8

    return to_uint8(video)


def sprite_sheet(frames: np.ndarray) -> tuple[bytes, dict]:
    """(t h w 3) uint8 -> PNG bytes of a grid of the frames and its layout for the page."""
    from PIL import Image

    t, h, w, _ = frames.shape
    columns = min(t, SPRITE_COLUMNS)
    rows = math.ceil(t / columns)
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, frame in enumerate(frames):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = frame
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), {"frames": t, "width": w, "height": h, "columns": columns}


def png(image: np.ndarray) -> bytes:
    """(h w 3) or (h w) uint8 -> PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def fit(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre crop to the aspect of (height, width), then area resize: (h w 3) uint8."""
    from kinema.data.folders import fit_frame

    return fit_frame(picture, (height, width))
