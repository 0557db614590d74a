"""Recipes to trained models, the path every method takes (``kinema train``, the benchmarks'
training of missing runs, the evaluation harness's fitting of closed-form baselines):

- ``build_recipe(method, preset, ...)``: the recipe of a registered method (or of a
  ``module:function``) at a preset, with ``--set`` overrides and flags applied;
- ``model_class_of(recipe)``: the model class the recipe trains;
- ``train_recipe(recipe, out)``: build model and dataset, train with the Trainer (or fit in
  closed form), save into ``out``;
- ``fit_closed_form(model, dataset, ...)``: the fit of methods with ``fit(dataset)`` instead
  of gradient steps, saved like a trained run when ``out`` is given.
"""
from __future__ import annotations

from pathlib import Path

from kinema.errors import KinemaError


def build_recipe(method: str, preset: str, *, data: str | None = None, steps: int | None = None,
                 batch_size: int | None = None, seed: int | None = None,
                 overrides: list[str] | tuple = ()):
    """The recipe of ``method`` at ``preset``, with ``--set`` overrides and then the flags."""
    from kinema.config import Recipe, apply_overrides
    from kinema.registry import method_entry, resolve

    if ":" in method:
        try:
            make = resolve(method)
        except (ImportError, AttributeError) as err:
            raise KinemaError(f"cannot import recipe function {method!r} ({err})") from err
    else:
        try:
            make = resolve(method_entry(method).recipe)
        except KeyError as err:
            raise KinemaError(str(err.args[0])) from err
    try:
        recipe = make(preset)
    except (ValueError, KeyError) as err:
        raise KinemaError(f"{method}: preset {preset!r}: {err}") from err
    if not isinstance(recipe, Recipe):
        raise KinemaError(f"{method} returned {type(recipe).__name__}, not a kinema.config.Recipe")
    try:
        apply_overrides(recipe, list(overrides))
    except ValueError as err:
        raise KinemaError(str(err)) from err
    for section, key, value in (("data", "name", data), ("train", "steps", steps),
                                ("train", "batch_size", batch_size), ("train", "seed", seed)):
        if value is not None:
            setattr(getattr(recipe, section), key, value)
    return recipe


def model_class_of(recipe):
    """The model class a recipe trains: ``recipe.method`` as ``module:Class`` or a registry name."""
    from kinema.registry import method_entry, resolve

    target = recipe.method if ":" in recipe.method else method_entry(recipe.method).model_class
    try:
        return resolve(target)
    except (ImportError, AttributeError) as err:
        raise KinemaError(f"cannot import model class {target!r} ({err})") from err


def train_recipe(recipe, out: str | Path, *, resume: bool | None = None, device: str | None = None,
                 tensorboard: bool = True, progress: bool = True) -> Path | None:
    """Build model and dataset from ``recipe`` and train into ``out``; returns ``out/model``
    (on the process that writes it)."""
    from kinema.data import load_dataset
    from kinema.train.rng import seed_everything
    from kinema.train.trainer import Trainer

    seed_everything(recipe.train.seed)     # the model's initial weights follow the seed
    model = model_class_of(recipe)(recipe.model)
    dataset = load_dataset(recipe.data.name, recipe.data.split, **recipe.data.options)
    if not hasattr(model, "parameter_groups") and hasattr(model, "fit"):
        return fit_closed_form(model, dataset, recipe, out, progress=progress)
    trainer = Trainer(model, dataset, recipe.train, out, recipe=recipe, resume=resume,
                      device=device, tensorboard=tensorboard, progress=progress)
    is_main = trainer.dist.is_main
    trainer.fit()
    return Path(out) / "model" if is_main else None


def fit_closed_form(model, dataset, recipe=None, out: str | Path | None = None, *,
                    max_clips: int | None = None, progress: bool = True) -> Path | None:
    """Methods fitted in closed form (the classical baselines) have ``fit(dataset)`` instead of
    gradient steps: fit once (on at most ``max_clips`` clips, if the method takes that), then,
    with ``out``, save the model and ``recipe`` exactly as a trained run does and return
    ``out/model``."""
    import inspect
    import sys

    from kinema.train.checks import make_run_folder

    if out is not None:
        out = make_run_folder(out)
    taken = inspect.signature(model.fit).parameters
    options = {k: v for k, v in (("progress", progress), ("max_clips", max_clips))
               if k in taken and v is not None}
    model.fit(dataset, **options)
    if out is None:
        return None
    recipe.save(out / "recipe.json")
    print(f"fitted {type(model).__name__} in closed form on {recipe.data.name} "
          f"[{recipe.data.split}, {len(dataset)} items]", file=sys.stderr)
    return model.save_pretrained(out / "model")
