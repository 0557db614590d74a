"""Generic checks of a config dataclass's values by their type hints, run wherever a config
comes from outside the code (a ``config.json``, ``--set``, ``--config``), so a bad number is
one ``KinemaError`` naming the field and the range, not a tensor error deep in a model.

The rules, for fields whose hint is (optionally ``| None``):
- ``int``: an integer (not a bool, not 2.5), ``>= 0``;
- ``float``: a finite real number (an int is accepted);
- ``bool``: true or false;
- ``str``: a string;
- ``tuple``: its numbers finite and, when they are all integers, ``>= 0`` (layer widths).
A field may state its own closed range with ``metadata={"range": (low, high)}`` (either end
None for unbounded), e.g. a probability ``(0.0, 1.0)`` or a signed layer index ``(None, None)``.
Nested dataclasses are checked with their dotted path.

The second half checks single values from outside the same way for every entry point (the
command line's verbs, the pipelines, the studio): ``check_number`` (finite, integer, in
range), ``check_seed``, ``check_frame_count`` / ``check_video_count`` (KINEMA_MAX_FRAMES /
KINEMA_MAX_VIDEOS), ``check_work`` (pixels x frames x videos, KINEMA_MAX_WORK); and
``short_repr``, the one way a message quotes an input (a short prefix, never the whole).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from typing import Any

from kinema.errors import KinemaError, environment_limit


def _plain(hint: Any) -> tuple[Any, bool]:
    """(the hint without ``None``, whether None is allowed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else None), type(None) in typing.get_args(hint)
    return hint, False


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    # an int is finite however long (math.isfinite would overflow converting it to a float)
    return (isinstance(v, numbers.Real) and not isinstance(v, bool)
            and (isinstance(v, numbers.Integral) or math.isfinite(v)))


def _range_text(low, high) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    return f">= {low}" if low is not None else (f"<= {high}" if high is not None else "")


def check_config(config: Any, prefix: str = "model") -> Any:
    """Check every field of ``config`` (see the module's rules); returns ``config``."""
    if not dataclasses.is_dataclass(config):
        return config
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        name, value = f"{prefix}.{f.name}", getattr(config, f.name)
        hint, optional = _plain(hints.get(f.name))
        if value is None:
            if not optional and hint in (int, float, bool, str):
                raise KinemaError(f"{name} must be set (a {hint.__name__}), got null")
            continue
        if dataclasses.is_dataclass(value):
            check_config(value, name)
            continue
        low, high = f.metadata.get("range", (0, None) if hint is int else (None, None))
        if hint is int:
            if not _is_int(value):
                raise KinemaError(f"{name} must be an integer {_range_text(low, high)}, got {short_repr(value)}".replace("  ", " "))
            _check_range(name, value, low, high, "an integer")
        elif hint is float:
            if not _is_real(value):
                raise KinemaError(f"{name} must be a finite number, got {short_repr(value)}")
            _check_range(name, value, low, high, "a number")
        elif hint is bool and not isinstance(value, bool):
            raise KinemaError(f"{name} must be true or false, got {short_repr(value)}")
        elif hint is str and not isinstance(value, str):
            raise KinemaError(f"{name} must be a string, got {short_repr(value)}")
        elif hint is tuple or isinstance(value, tuple):
            _check_tuple(name, value)
    return config


def _check_range(name: str, value, low, high, kind: str) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        raise KinemaError(f"{name} must be {kind} {_range_text(low, high)}, got {short_repr(value)}")


def _check_tuple(name: str, value) -> None:
    if not isinstance(value, (tuple, list)):
        raise KinemaError(f"{name} must be a list, got {short_repr(value)}")
    flat = list(_flatten(value))
    if any(isinstance(v, numbers.Number) and not isinstance(v, bool) and not _is_real(v) for v in flat):
        raise KinemaError(f"{name} must hold finite numbers, got {short_repr(value)}")
    if flat and all(_is_int(v) for v in flat) and min(flat) < 0:
        raise KinemaError(f"{name} must hold integers >= 0, got {short_repr(value)}")


def _flatten(value):
    for v in value:
        if isinstance(v, (tuple, list)):
            yield from _flatten(v)
        else:
            yield v


# ----------------------------------------------------------------- inputs from outside

# A seed is handed to torch.Generator.manual_seed (which takes 0 .. 2**64 - 1); the top half
# is kept free so that ``seed + i`` of the i-th video of a batch stays in range.
MAX_SEED = 2 ** 63 - 1
# Frames and videos one command makes at most, and the work it may start: pixels x frames x
# videos of everything it holds (at the size it writes). A typo such as --frames 1000000 or
# --size 4096 on a 16-px model is refused before it starts, not left to exhaust memory. The
# environment variables raise them (docs/errors.md).
MAX_FRAMES = environment_limit("KINEMA_MAX_FRAMES", 10_000)
MAX_VIDEOS = environment_limit("KINEMA_MAX_VIDEOS", 256)
MAX_WORK = environment_limit("KINEMA_MAX_WORK", 1 << 27)     # 134 M pixel-frames
SHORT_REPR = 60


def short_repr(value: Any, limit: int = SHORT_REPR) -> str:
    """``repr(value)`` cut to ``limit`` characters (with the full length said), so an error
    that quotes a hostile input stays one short line. Never builds the whole repr of a big
    container: ``reprlib`` stops early."""
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = shortener.maxlong = limit
    shortener.maxlevel, shortener.maxlist, shortener.maxdict, shortener.maxtuple = 3, 6, 6, 6
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = shortener.repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_number(name: str, value, low=None, high=None, *, integer: bool = False,
                 above: bool = False, unit: str = "") -> Any:
    """A number given from outside (a command-line option, a request field): finite, an
    integer where ``integer``, in [low, high] (``above``: strictly greater than ``low``).
    ``None`` passes (not given). Returns ``value``; else one ``KinemaError`` naming ``name``."""
    if value is None:
        return value
    kind = "an integer" if integer else "a finite number"
    bounds = (f" > {low}" if above and high is None else f" in ({low}, {high}]" if above
              else f" {_range_text(low, high)}" if (low, high) != (None, None) else "")
    ok = _is_int(value) if integer else _is_real(value)
    if ok:
        ok = ((low is None or (value > low if above else value >= low))
              and (high is None or value <= high))
    if not ok:
        raise KinemaError(f"{name} must be {kind}{bounds}{unit}, got {short_repr(value)}")
    return value


def check_seed(name: str, seed) -> Any:
    """A random seed: an integer in 0..MAX_SEED (``None`` passes)."""
    return check_number(name, seed, 0, MAX_SEED, integer=True)


def check_frame_count(name: str, frames, what: str = "frames") -> Any:
    """A count of frames a command makes, by any route (``--frames``, ``--slowmo`` x period,
    a loop): an integer 1..MAX_FRAMES (``None`` passes)."""
    if frames is None:
        return frames
    check_number(name, frames, 1, None, integer=True)
    if frames > MAX_FRAMES:
        raise KinemaError(f"{name}: {short_repr(frames)} {what} is more than the limit of {MAX_FRAMES} "
                          f"(KINEMA_MAX_FRAMES)")
    return frames


def check_video_count(name: str, num) -> Any:
    """How many videos a command makes: an integer 1..MAX_VIDEOS (``None`` passes)."""
    if num is None:
        return num
    check_number(name, num, 1, None, integer=True)
    if num > MAX_VIDEOS:
        raise KinemaError(f"{name} {short_repr(num)} is more than the limit of {MAX_VIDEOS} (KINEMA_MAX_VIDEOS)")
    return num


def check_work(what: str, height: int, width: int, frames: int, videos: int = 1) -> int:
    """The work a command may start: ``height x width x frames x videos`` pixel-frames at most
    MAX_WORK, checked before the first frame is made. Returns the work."""
    work = int(height) * int(width) * int(frames) * int(videos)
    if work > MAX_WORK:
        raise KinemaError(f"{what}: {videos} video(s) x {frames} frames x {height}x{width} px = "
                          f"{work} pixel-frames is more than the limit of {MAX_WORK} "
                          f"(KINEMA_MAX_WORK); ask for fewer or smaller videos")
    return work
