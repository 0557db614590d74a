"""Name -> thing registries. Entries are import strings so that listing names never imports
a heavy method (diffusers, FrEIA) the user is not using.

A method package registers one ``MethodEntry`` per training stage in its light ``__init__``.
Besides its recipe and model class, the entry names everything the rest of kinema offers for
the method, so adding a method never edits ``kinema/cli.py``, ``kinema/demo.py`` or the
benchmark table:

- ``commands``: ``"module:register"``, where ``register(app)`` adds the method's own commands
  (``kinema poke``, ``kinema edit``); names are checked for collisions when the CLI starts;
- ``apps``: handlers of the verbs several methods share (``animate`` for image-to-video,
  ``sample`` for generation, see ``kinema.apps``), verb -> ``"module:function"``;
- ``benchmarks``: benchmark name -> ``"module:function"`` run by ``kinema bench NAME``;
- ``demo``: ``"module:function"`` adding the method's section to ``kinema demo``, placed by
  ``demo_order``.

Datasets and metrics keep their own registries in ``kinema.data`` and ``kinema.metrics``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MethodEntry:
    name: str
    model_class: str        # "module:Class"
    recipe: str             # "module:function"  (preset name -> Recipe)
    tasks: tuple[str, ...]  # which protocols of kinema.tasks it serves
    summary: str
    family: str = ""        # the method the stage belongs to ("cinn"); default: the name
    commands: str | None = None                        # "module:register"
    apps: dict[str, str] = field(default_factory=dict)        # shared verb -> "module:function"
    benchmarks: dict[str, str] = field(default_factory=dict)  # name -> "module:function"
    demo: str | None = None                            # "module:function" (ctx) -> None
    demo_order: int = 100
    presets: tuple[str, ...] = ()   # the base presets `kinema methods` lists

    def __post_init__(self):
        if not self.family:
            object.__setattr__(self, "family", self.name)


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


def entries() -> list[MethodEntry]:
    """Every registered entry, by name."""
    _load_builtin()
    return [METHODS[name] for name in sorted(METHODS)]


def entry_for_class(target: str) -> MethodEntry | None:
    """The entry whose model class is ``target`` ("module:Class"), if one is registered."""
    return next((e for e in entries() if e.model_class == target), None)


def _load_builtin() -> None:
    # The method packages register themselves in their light-weight __init__ modules.
    import kinema.methods  # noqa: F401
