"""Pictures in and videos out of the studio, all in memory (nothing is written to disk).

In: ``decode_upload`` accepts only the raster formats listed in ``FORMATS``, and reads the
header first (PIL's ``Image.open`` does not decode pixels) so an image whose declared size is
over the pixel limit — a decompression bomb — is refused before any pixel is decoded.

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
