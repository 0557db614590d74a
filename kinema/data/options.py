"""Checks of dataset options, so a wrong value or an unknown option is one clear ``KinemaError``
naming the option (not a ``TypeError`` from deep inside a constructor)."""
from __future__ import annotations

import inspect

import numpy as np

from kinema.errors import KinemaError
from kinema.validate import short_repr


def check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise KinemaError(f"option {name} must be an integer >= {minimum}, got {short_repr(value)}")
    return int(value)


def check_float(name: str, value, minimum: float, maximum: float = float("inf")) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not minimum <= value <= maximum:
        raise KinemaError(f"option {name} must be a number in [{minimum:g}, {maximum:g}], got {short_repr(value)}")
    return float(value)


def check_range(name: str, low, high, minimum: float = 0.0) -> tuple[float, float]:
    low, high = check_float(f"min_{name}", low, minimum), check_float(f"max_{name}", high, minimum)
    if low > high:
        raise KinemaError(f"options for {name} must satisfy {minimum} <= min <= max; got {short_repr(low)}, {short_repr(high)}")
    return low, high


def construct(dataset_class, label: str, split: str, options: dict, *args):
    """``dataset_class(*args, split=split, **options)`` after checking that every option is a
    keyword of its constructor (a class taking ``**kwargs`` checks its own)."""
    reserved = sorted(k for k in options if not isinstance(k, str) or not k.isidentifier()
                      or k in ("self", "split", "cls"))
    if reserved:    # a name Python binds itself: never passed as a keyword
        raise KinemaError(f"{label} has no option {', '.join(short_repr(k, 40) for k in reserved)}")
    try:
        parameters = dict(inspect.signature(dataset_class).parameters)
    except (TypeError, ValueError):     # no introspectable signature: let the class decide
        return check_not_empty(dataset_class(*args, split=split, **options), label, split, options)
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        for name in list(parameters)[:len(args)]:   # filled by position: not an option
            del parameters[name]
        accepted = [name for name, p in parameters.items() if name != "split"
                    and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = [key for key in options if key not in accepted]
        if unknown:
            raise KinemaError(f"{label} has no option {', '.join(short_repr(k, 40) for k in unknown)}; "
                              f"options: {', '.join(accepted)}")
    return check_not_empty(dataset_class(*args, split=split, **options), label, split, options)


def check_not_empty(dataset, label: str, split: str, options: dict):
    """A dataset with no item (or a length that is not a count, e.g. from a negative
    ``num_videos`` a user's class does not check) is refused here, by name."""
    try:
        size = len(dataset)
    except (TypeError, ValueError) as err:
        raise KinemaError(f"{label} [{split}] with options {short_repr(options)} has no valid length ({err})") from None
    if size < 1:
        raise KinemaError(f"{label} [{split}] with options {short_repr(options)} holds no item")
    return dataset
