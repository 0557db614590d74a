"""Reading a request safely: bodies with a size cap, JSON payloads whose fields are checked one by
one, and ``ApiError``, the one exception a handler raises to answer 4xx/5xx with a JSON message.

Every message names the field (or header) and what was expected, as ``KinemaError`` does on
the command line; the app turns both into ``{"error": message}`` and never shows a traceback.
"""
from __future__ import annotations

import logging
from typing import Any

from kinema.validate import short_repr

log = logging.getLogger("kinema.studio")


class ApiError(Exception):
    """An answer other than 2xx: ``status`` and a message for the user."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


async def read_body(request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``max_bytes``: by its
    Content-Length header before reading, else while streaming it in."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit() or len(length) > 18:
            raise ApiError(400, f"Content-Length must be a number of bytes, got {short_repr(length)}")
        if int(length) > max_bytes:
            raise ApiError(413, f"upload of {int(length)} bytes is over the limit of {max_bytes} bytes")
    from starlette.requests import ClientDisconnect

    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(413, f"upload is over the limit of {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # the client went away mid-body: nobody reads the answer; one line, no traceback
        log.info("client disconnected during %s %s after %d bytes", request.method,
                 request.url.path, size)
        raise ApiError(400, "the client disconnected before the body was complete") from None
    return b"".join(chunks)


async def read_json(request, max_bytes: int = 64 * 1024) -> dict:
    """A JSON object body (400 if it is not one: also past ``kinema.safe_parse``'s depth and
    digit limits, so a 5000-digit integer or 30000-deep nesting is a 400, not a 500)."""
    return json_object(await read_body(request, max_bytes) or b"{}", "the request body")


def json_object(data: str | bytes, label: str) -> dict:
    """The JSON object ``data`` holds, parsed within bounds; ApiError 400 otherwise."""
    from kinema.safe_parse import InputTextError, load_json

    try:
        payload = load_json(data, label)
    except InputTextError as err:
        raise ApiError(400, f"{str(err)[:200]}; send a JSON object") from None
    if not isinstance(payload, dict):
        raise ApiError(400, f"{label} must be a JSON object, not a {type(payload).__name__}")
    return payload


class Payload:
    """Typed access to a JSON object's fields; each bad or missing field is one 400 naming it.
    ``done()`` refuses the fields nobody asked for (a typo must not pass silently)."""

    def __init__(self, data: dict):
        self.data = data
        self.read: set[str] = set()

    def _get(self, name: str, default: Any, required: bool):
        self.read.add(name)
        if name not in self.data or self.data[name] is None:
            if required:
                raise ApiError(400, f"field {name!r} is required")
            return default, False
        return self.data[name], True

    def text(self, name: str, default: str | None = None, required: bool = False,
             choices: tuple[str, ...] | None = None, max_length: int = 200) -> str | None:
        value, given = self._get(name, default, required)
        if not given:
            return value
        if not isinstance(value, str) or not value or len(value) > max_length:
            raise ApiError(400, f"field {name!r} must be a non-empty string of at most "
                                f"{max_length} characters")
        if choices is not None and value not in choices:
            raise ApiError(400, f"field {name!r} must be one of {', '.join(choices)}; got {short_repr(value)}")
        return value

    def integer(self, name: str, default: int | None = None, low: int = 0, high: int = 2 ** 31,
                required: bool = False) -> int | None:
        value, given = self._get(name, default, required)
        if not given:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ApiError(400, f"field {name!r} must be an integer in {low}..{high}; got {short_repr(value)}")
        return value

    def number(self, name: str, default: float | None = None, low: float = float("-inf"),
               high: float = float("inf"), required: bool = False) -> float | None:
        value, given = self._get(name, default, required)
        if not given:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ApiError(400, f"field {name!r} must be a number in {low:g}..{high:g}; got {short_repr(value)}")
        return float(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value, given = self._get(name, default, False)
        if given and not isinstance(value, bool):
            raise ApiError(400, f"field {name!r} must be true or false; got {short_repr(value)}")
        return value

    def pair(self, name: str, low: float, high: float, required: bool = False) -> tuple[float, float] | None:
        """An [x, y] pair of numbers in low..high."""
        value, given = self._get(name, None, required)
        if not given:
            return value
        if not (isinstance(value, list) and len(value) == 2 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) and low <= c <= high for c in value)):
            raise ApiError(400, f"field {name!r} must be an [x, y] pair of numbers in {low:g}..{high:g}")
        return float(value[0]), float(value[1])

    def points(self, name: str, max_points: int = 64, required: bool = False,
               min_points: int = 0) -> list[tuple[float, float]]:
        """A list of ``min_points``..``max_points`` [x, y] pairs in 0..1 (fractions of the
        picture's width and height)."""
        value, given = self._get(name, [], required)
        if not given:
            if min_points:
                raise ApiError(400, f"field {name!r} must hold at least {min_points} [x, y] pair(s)")
            return value
        if not isinstance(value, list) or not min_points <= len(value) <= max_points or not all(
                isinstance(p, list) and len(p) == 2 and all(
                    isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in p)
                for p in value):
            raise ApiError(400, f"field {name!r} must be a list of {min_points}..{max_points} [x, y] "
                                f"pairs, each coordinate a fraction in 0..1")
        return [(float(x), float(y)) for x, y in value]

    def done(self) -> None:
        extra = sorted(set(self.data) - self.read)
        if extra:
            raise ApiError(400, f"unknown field(s) {short_repr(extra)}; this request "
                                f"takes {', '.join(sorted(self.read))}")
