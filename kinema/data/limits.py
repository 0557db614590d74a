"""The limits the data layer enforces before it decodes anything, so a small hostile file
cannot exhaust memory: a picture's declared pixel count (a decompression bomb) and a zip
member's declared size (a zip bomb), plus the names a zip member may have. The environment
variables raise them (docs/errors.md)."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from kinema.errors import VideoReadError, environment_limit

# Pictures are sized from their header before any pixel is decoded, so a small file that
# declares a huge image (a decompression bomb) is refused instead of exhausting memory.
# KINEMA_MAX_PIXELS raises the limit (docs/errors.md).
MAX_PIXELS = environment_limit("KINEMA_MAX_PIXELS", 1 << 26)       # 67 megapixels
# A zip member is read whole into memory; its declared size is checked first.
MAX_ZIP_MEMBER_BYTES = environment_limit("KINEMA_MAX_ZIP_MEMBER_BYTES", 1 << 30)


def check_zip_members(path: Path, archive: zipfile.ZipFile) -> None:
    """Members are only ever read, never extracted; still, a name that would point outside
    the archive (absolute, a drive, a ``..`` part) is refused, and so is a member whose
    declared size exceeds ``MAX_ZIP_MEMBER_BYTES`` (a zip bomb), before anything is read."""
    for info in archive.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise VideoReadError(f"{path}: unsafe member name {name!r} (absolute or with '..'); "
                                 f"kinema reads only archives whose members stay inside them")
        if info.file_size > MAX_ZIP_MEMBER_BYTES:
            raise VideoReadError(f"{path}:{name}: declares {info.file_size} bytes, more than the "
                                 f"limit of {MAX_ZIP_MEMBER_BYTES} (KINEMA_MAX_ZIP_MEMBER_BYTES)")


def image_size_from_header(label: str, data: bytes) -> tuple[int, int]:
    """(width, height) an encoded picture declares, read from its header alone (Pillow parses
    headers lazily), refused above ``MAX_PIXELS`` before any decoding."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None      # kinema's own limit below, with its own message
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise VideoReadError(f"{label}: not a readable image (corrupt, or not a "
                             f"png/jpg/bmp: {reason(err)})") from None
    if width * height > MAX_PIXELS:
        raise VideoReadError(f"{label}: declares {width}x{height} pixels, more than the limit of "
                             f"{MAX_PIXELS} (KINEMA_MAX_PIXELS); refused before decoding")
    return width, height


def reason(err: BaseException) -> str:
    """The short cause of an OS or library error, for a one-line message."""
    return getattr(err, "strerror", None) or str(err) or type(err).__name__
