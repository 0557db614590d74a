"""Name -> thing registries. Entries are import strings so that listing names never imports
a heavy method (diffusers, FrEIA) the user is not using.

Each method entry points to a ``recipe(preset: str) -> kinema.config.Recipe`` function and to
the model class; datasets and metrics keep their own registries in ``kinema.data`` and
``kinema.metrics``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MethodEntry:
    name: str
    model_class: str        # "module:Class"
    recipe: str             # "module:function"  (preset name -> Recipe)
    tasks: tuple[str, ...]  # which protocols of kinema.tasks it serves
    summary: str


METHODS: dict[str, MethodEntry] = {}


def register_method(entry: MethodEntry) -> None:
    METHODS[entry.name] = entry


def resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def method_entry(name: str) -> MethodEntry:
    _load_builtin()
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def available_methods() -> list[str]:
    _load_builtin()
    return sorted(METHODS)


def _load_builtin() -> None:
    # The method packages register themselves in their light-weight __init__ modules.
    import kinema.methods  # noqa: F401
