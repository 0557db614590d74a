"""kinema.safe_parse: YAML and JSON from outside, parsed within bounds. Plain documents give
what yaml.safe_load / json.loads give; past a bound, one KinemaError naming the input."""
from __future__ import annotations

import json

import pytest
import yaml

import kinema.safe_parse as safe_parse
from kinema.errors import KinemaError
from kinema.safe_parse import InputTextError, load_json, load_yaml

PLAIN_YAML = [
    "method: ile\ntrain: {lr: 1.0e-3, betas: [0.9, 0.999]}\n",
    "a: &x [1, 2, {b: null}]\nc: *x\nd: *x\n",
    "- yes\n- 'quoted: !!str'\n- 0x1F\n- 1_000\n- .inf\n- ~\n",
    "nested: {a: {b: {c: [1, [2, [3]]]}}}",
    "k: 1\nother: {k: 2}\n",                    # the same key in two mappings
    "",
]


@pytest.mark.parametrize("text", PLAIN_YAML)
def test_plain_yaml_is_what_safe_load_gives(text):
    assert load_yaml(text) == yaml.safe_load(text)


def test_aliases_count_each_time_they_are_used(monkeypatch):
    """root mapping (1) + keys + the 4-value list once per use: 11 values for one alias,
    16 for two. Counting an alias once would let a nine-level bomb (9**9 values) through."""
    monkeypatch.setattr(safe_parse, "MAX_NODES", 11)
    assert load_yaml("a: &a [1, 2, 3]\nb: *a") == {"a": [1, 2, 3], "b": [1, 2, 3]}
    with pytest.raises(InputTextError, match="expands to more than 11 values"):
        load_yaml("a: &a [1, 2, 3]\nb: *a\nc: *a")


def test_a_billion_laughs_is_refused_at_once():
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi"):
        text += f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
    with pytest.raises(InputTextError, match=r"^recipe\.yaml: expands to more than 100000 values"):
        load_yaml(text, "recipe.yaml")


@pytest.mark.parametrize("text", ["a: &a [1, *a]", "a: &a {b: *a}", "a: &a [[[*a]]]"])
def test_an_alias_inside_its_own_anchor_is_refused(text):
    with pytest.raises(InputTextError, match=r"alias \*a is used inside its own anchor"):
        load_yaml(text)


def test_nesting_up_to_the_limit():
    depth = safe_parse.MAX_DEPTH
    assert load_yaml("[" * depth + "]" * depth) == yaml.safe_load("[" * depth + "]" * depth)
    with pytest.raises(InputTextError, match=f"nesting deeper than {depth} levels"):
        load_yaml("[" * (depth + 1) + "]" * (depth + 1))
    assert load_json("[" * depth + "]" * depth) == json.loads("[" * depth + "]" * depth)
    with pytest.raises(InputTextError, match=f"nesting deeper than {depth} levels"):
        load_json("[" * (depth + 1) + "]" * (depth + 1))
    assert load_json('{"a": "' + "[" * 500 + '"}') == {"a": "[" * 500}      # inside a string: text


@pytest.mark.parametrize("text", ["a: !!python/object/apply:os.system [ls]", "a: !!binary aGk=", "a: !custom 1",
                                  "a: !!str 1", "!!set {a, b}", "a: !!python/name:os.system"])
def test_every_tag_is_refused(text):
    with pytest.raises(InputTextError, match="tag .* is not allowed"):
        load_yaml(text)


@pytest.mark.parametrize("text, key", [("a: 1\na: 2", "a"), ("x: {k: 1, k: 1}", "k"), ("- {1: a, 1: b}", "1")])
def test_a_key_given_twice_is_refused(text, key):
    with pytest.raises(InputTextError, match=f"the key '{key}' is given twice"):
        load_yaml(text)


def test_integers_up_to_the_digit_limit():
    digits = safe_parse.MAX_DIGITS
    assert load_yaml("a: " + "9" * digits) == {"a": int("9" * digits)}
    assert load_json('{"a": -' + "9" * digits + "}") == {"a": -int("9" * digits)}
    with pytest.raises(InputTextError, match=f"an integer of {digits + 1} digits"):
        load_yaml("a: " + "9" * (digits + 1))
    with pytest.raises(InputTextError, match=f"an integer of {digits + 1} digits"):
        load_json("[" + "9" * (digits + 1) + "]")


@pytest.mark.parametrize("loader, text, words", [
    (load_yaml, "a: [1, 2", "is not valid YAML"), (load_json, "{a: 1}", "is not valid JSON"),
    (load_json, b"\xff\xfe", "not UTF-8"), (load_json, '"' + "x" * 50, "is not valid JSON"),
])
def test_invalid_text_is_one_line_naming_the_input(loader, text, words):
    with pytest.raises(KinemaError) as caught:
        loader(text, "--set train.lr")
    assert str(caught.value).startswith("--set train.lr") and words in str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200
