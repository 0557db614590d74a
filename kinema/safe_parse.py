"""YAML and JSON from outside (a recipe file, ``--set``, a request body), parsed with bounds,
so that a few hundred hostile bytes cannot take minutes or gigabytes: every problem is one
``KinemaError`` naming where the text came from.

YAML (``load_yaml``) goes through ``BoundedLoader``, a ``yaml.SafeLoader`` that while composing
- counts the nodes the document expands to, aliases counted as often as they are used (an
  "alias bomb" of nine levels of nine aliases is 9**9 nodes from 351 bytes): at most
  ``MAX_NODES``; an alias inside its own anchor (a recursive structure) is refused;
- counts nesting: at most ``MAX_DEPTH`` levels;
- refuses any explicit tag (``!!python/object``, ``!!binary``, ``!custom``): a recipe holds plain
  mappings, lists and scalars, and ``safe_load`` would refuse most of them anyway, as a bug;
- refuses a key given twice in one mapping (YAML keeps the last one silently);
- refuses integers of more than ``MAX_DIGITS`` digits (Python refuses to convert over 4300).

JSON (``load_json``) gets the same depth and digit limits (Python's parser recurses, and
raises RecursionError on deep nesting).
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from kinema.errors import KinemaError

MAX_NODES = 100_000
MAX_DEPTH = 64
MAX_DIGITS = 100


class InputTextError(KinemaError):
    """Text from outside that is not a bounded, plain YAML/JSON document."""


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with the bounds of the module docstring."""

    def __init__(self, stream, label: str = "the input"):
        super().__init__(stream)
        self.label = label
        self._sizes: dict[int, int] = {}        # id(node) -> values it expands to
        self._ancestors: list[int] = []         # ids of the containers being composed

    def _refuse(self, what: str) -> None:
        mark = self.peek_event().start_mark if self.check_event() else None
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InputTextError(f"{self.label}: {what}{where}")

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) in (id(parent), *self._ancestors):
                self._refuse(f"the alias *{event.anchor[:40]} is used inside its own anchor (a "
                             f"recursive structure)")
        elif getattr(event, "tag", None) is not None:
            self._refuse(f"the tag {event.tag[:40]} is not allowed (plain YAML only: mappings, "
                         f"lists, numbers, strings, true/false, null)")
        if len(self._ancestors) >= MAX_DEPTH:
            self._refuse(f"nesting deeper than {MAX_DEPTH} levels")
        # ``parent`` is the container being composed: with every enclosing call's, the chain
        # of nodes an alias must not point back to
        self._ancestors.append(id(parent))
        try:
            node = super().compose_node(parent, index)
        finally:
            self._ancestors.pop()
        self._sizes[id(node)] = size = self._size(node)
        if size > MAX_NODES:
            self._refuse(f"expands to more than {MAX_NODES} values (aliases count each time "
                         f"they are used)")
        return node

    def _size(self, node) -> int:
        if isinstance(node, yaml.SequenceNode):
            return 1 + sum(self._sizes.get(id(child), 1) for child in node.value)
        if isinstance(node, yaml.MappingNode):
            return 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
        return 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:     # an unhashable key: SafeLoader refuses it below
                continue
            if duplicate:
                raise InputTextError(f"{self.label}: the key {str(key)[:40]!r} is given twice "
                                     f"(line {key_node.start_mark.line + 1}); give each key once")
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_DIGITS:
            raise InputTextError(f"{self.label}: an integer of {digits} digits (at most "
                                 f"{MAX_DIGITS}; line {node.start_mark.line + 1})")
        return super().construct_yaml_int(node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def load_yaml(text: str, label: str = "the input") -> Any:
    """The plain value a YAML document holds, within the bounds (module docstring); one
    ``InputTextError`` (a KinemaError) naming ``label`` otherwise, also for invalid YAML."""
    loader = BoundedLoader(text, label)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InputTextError(f"{label} is not valid YAML{where}") from None
    except RecursionError:
        raise InputTextError(f"{label}: nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def load_json(text: str | bytes, label: str = "the input") -> Any:
    """The value a JSON document holds; deep nesting (more than ``MAX_DEPTH`` levels) and
    integers of more than ``MAX_DIGITS`` digits are one ``InputTextError``, as is invalid JSON."""
    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_DIGITS:
            raise InputTextError(f"{label}: an integer of {len(digits.lstrip('-'))} digits "
                                 f"(at most {MAX_DIGITS})")
        return int(digits)

    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise InputTextError(f"{label}: not UTF-8 text (expected JSON)") from None
    if _depth(text) > MAX_DEPTH:
        raise InputTextError(f"{label}: nesting deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_int=integer)
    except json.JSONDecodeError as err:
        raise InputTextError(f"{label} is not valid JSON ({err.msg} at line {err.lineno})") from None
    except (RecursionError, ValueError) as err:
        raise InputTextError(f"{label}: not usable JSON ({str(err)[:80]})") from None


def _depth(text: str) -> int:
    """The deepest bracket nesting of JSON text, strings skipped (a linear scan, before the
    recursive parser sees it)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
