"""Every registered method entry names things that exist: its recipe builds at every preset it
lists, for the model class it names; its commands, verbs, benchmarks and demo import."""
from __future__ import annotations

import pytest

from kinema.registry import entries, resolve


@pytest.mark.parametrize("entry", entries(), ids=lambda e: e.name)
def test_listed_presets_build_a_recipe_of_the_entry(entry):
    from kinema.config import Recipe

    for preset in entry.presets:
        recipe = resolve(entry.recipe)(preset)
        assert isinstance(recipe, Recipe) and recipe.preset == preset
        assert recipe.method in (entry.name, entry.model_class), (preset, recipe.method)


@pytest.mark.parametrize("entry", entries(), ids=lambda e: e.name)
def test_named_handlers_exist(entry):
    from kinema.apps import VERBS

    assert set(entry.apps) <= set(VERBS), entry.apps
    for target in [entry.commands, entry.demo, *entry.apps.values(), *entry.benchmarks.values()]:
        if target:
            assert callable(resolve(target)), target
