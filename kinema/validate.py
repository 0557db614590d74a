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
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from typing import Any

from kinema.errors import KinemaError


def _plain(hint: Any) -> tuple[Any, bool]:
    """(the hint without ``None``, whether None is allowed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else None), type(None) in typing.get_args(hint)
    return hint, False


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


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
                raise KinemaError(f"{name} must be an integer {_range_text(low, high)}, got {value!r}".replace("  ", " "))
            _check_range(name, value, low, high, "an integer")
        elif hint is float:
            if not _is_real(value):
                raise KinemaError(f"{name} must be a finite number, got {value!r}")
            _check_range(name, value, low, high, "a number")
        elif hint is bool and not isinstance(value, bool):
            raise KinemaError(f"{name} must be true or false, got {value!r}")
        elif hint is str and not isinstance(value, str):
            raise KinemaError(f"{name} must be a string, got {value!r}")
        elif hint is tuple or isinstance(value, tuple):
            _check_tuple(name, value)
    return config


def _check_range(name: str, value, low, high, kind: str) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        raise KinemaError(f"{name} must be {kind} {_range_text(low, high)}, got {value!r}")


def _check_tuple(name: str, value) -> None:
    if not isinstance(value, (tuple, list)):
        raise KinemaError(f"{name} must be a list, got {value!r}")
    flat = list(_flatten(value))
    if any(isinstance(v, numbers.Number) and not isinstance(v, bool) and not _is_real(v) for v in flat):
        raise KinemaError(f"{name} must hold finite numbers, got {value!r}")
    if flat and all(_is_int(v) for v in flat) and min(flat) < 0:
        raise KinemaError(f"{name} must hold integers >= 0, got {value!r}")


def _flatten(value):
    for v in value:
        if isinstance(v, (tuple, list)):
            yield from _flatten(v)
        else:
            yield v
