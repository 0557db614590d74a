"""Recipes as files: print a recipe (``kinema recipe``, ``kinema train --dry-run``) and train
from an edited one (``kinema train --config recipe.json|recipe.yaml``, ``--set`` on top).

A recipe file is the ``recipe.json`` a run writes (``kinema.config.Recipe.to_dict``): a
mapping with ``method`` (a registered name or ``module:Class``), ``preset``, and the
``model``, ``train`` and ``data`` sections. Sections left out take the preset's values
(the file's ``preset``, default ``tiny``); fields left out of a section keep the preset's.
"""
from __future__ import annotations

import json
from pathlib import Path

from kinema.errors import KinemaError
from kinema.validate import short_repr

SECTIONS = ("model", "train", "data")
FORMATS = ("yaml", "json")


def recipe_text(recipe, fmt: str = "yaml") -> str:
    """The recipe as YAML or JSON text (loadable by ``load_recipe_file``)."""
    if fmt not in FORMATS:
        raise KinemaError(f"--format must be yaml or json, got {fmt!r}")
    data = recipe.to_dict()
    if fmt == "json":
        return json.dumps(data, indent=2)
    import yaml

    return yaml.safe_dump(_plain(data), sort_keys=False)


def _plain(value):
    """Tuples as lists, so that safe_dump writes plain YAML."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def read_recipe_file(path: Path) -> dict:
    """The mapping in a JSON or YAML file; one KinemaError naming the file otherwise (also
    for a document past the bounds of ``kinema.safe_parse``: alias bombs, deep nesting, tags,
    duplicate keys, huge integers)."""
    from kinema.safe_parse import load_json, load_yaml

    path = Path(path)
    if not path.is_file():
        raise KinemaError(f"--config {path}: no such file" if not path.exists()
                          else f"--config {path}: not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KinemaError(f"--config {path}: not a text file (expected a JSON or YAML recipe)") from None
    label = f"--config {path}"
    data = load_json(text, label) if path.suffix.lower() == ".json" else load_yaml(text, label)
    if not isinstance(data, dict):
        raise KinemaError(f"--config {path}: a recipe is a mapping with method, preset, model, "
                          f"train and data; the file holds a {type(data).__name__}")
    return data


def load_recipe_file(path: Path, overrides=(), method: str | None = None):
    """The recipe in ``path``: the preset's recipe with the file's sections laid over it,
    then ``--set`` overrides; checked like ``kinema train`` checks a preset's."""
    from kinema.config import apply_overrides
    from kinema.pretrained import config_from_dict, config_to_dict
    from kinema.validate import check_config

    data = read_recipe_file(path)
    unknown = sorted(set(data) - {"method", "preset", *SECTIONS})
    if unknown:
        raise KinemaError(f"--config {path}: unknown recipe key(s) {short_repr(unknown)}; a recipe has "
                          f"method, preset, {', '.join(SECTIONS)}")
    named = data.get("method")
    if not isinstance(named, str) or not named:
        raise KinemaError(f"--config {path}: 'method' must name the method (a registered name "
                          f"such as ile, or module:Class), got {short_repr(named)}")
    if method is not None and method != named:
        raise KinemaError(f"kinema train {method} --config {path}: the file trains {short_repr(named)}; "
                          f"leave METHOD out or make them the same")
    preset = data.get("preset", "tiny")
    if not isinstance(preset, str):
        raise KinemaError(f"--config {path}: 'preset' must be a string, got {short_repr(preset)}")
    recipe = _base(named, preset, path)
    for section in SECTIONS:
        given = data.get(section)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise KinemaError(f"--config {path}: '{section}' must be a mapping of fields, got "
                              f"{type(given).__name__}")
        current = getattr(recipe, section)
        cls = type(current)
        try:
            merged = {**config_to_dict(current), **given}
            setattr(recipe, section, config_from_dict(cls, merged))
        except (TypeError, ValueError) as err:
            raise KinemaError(f"--config {path}: {section}: {str(err)[:200]}") from None
    try:
        apply_overrides(recipe, list(overrides))
    except ValueError as err:
        raise KinemaError(str(err)) from None
    check_config(recipe.model, "model")
    check_config(recipe.train, "train")
    check_config(recipe.data, "data")
    return recipe


def _base(method: str, preset: str, path: Path):
    """The preset's recipe of ``method`` (a registry name, a ``module:function``, or the
    ``module:Class`` a saved recipe.json names: then its registry entry's recipe)."""
    from kinema.registry import entry_for_class
    from kinema.train.recipes import build_recipe

    if ":" in method:
        entry = entry_for_class(method)
        if entry is not None:
            recipe = build_recipe(entry.name, preset)
            recipe.method = method
            return recipe
        cls = _model_class(method)
        if cls is not None:     # a saved recipe.json of an unregistered model class
            return _from_class(method, preset, cls, path)
    try:
        return build_recipe(method, preset)
    except KinemaError as err:
        raise KinemaError(f"--config {path}: {err}") from None


def _model_class(target: str):
    """The nn.Module class ``target`` names, or None when it names something else."""
    import inspect

    import torch

    from kinema.registry import resolve

    try:
        obj = resolve(target)
    except (ImportError, AttributeError):
        return None
    return obj if inspect.isclass(obj) and issubclass(obj, torch.nn.Module) else None


def _from_class(method: str, preset: str, cls, path: Path):
    """A recipe with the class's default config (the file's model section goes on top)."""
    from kinema.config import DataConfig, Recipe, TrainConfig

    config_class = getattr(cls, "config_class", None)
    if config_class is None:
        raise KinemaError(f"--config {path}: {method} has no config_class; name a registered "
                          f"method or a recipe function instead")
    try:
        model = config_class()
    except TypeError:
        raise KinemaError(f"--config {path}: {config_class.__name__} needs values: give the "
                          f"whole model section") from None
    return Recipe(method=method, preset=preset, model=model, train=TrainConfig(),
                  data=DataConfig())
