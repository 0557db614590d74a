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

from contextlib import contextmanager
from pathlib import Path

from kinema.errors import KinemaError
from kinema.validate import short_repr


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
            raise KinemaError(f"cannot import recipe function {short_repr(method)} ({err})") from err
        check_recipe_function(method, make)
    else:
        try:
            make = resolve(method_entry(method).recipe)
        except KeyError as err:
            raise KinemaError(str(err.args[0])) from err
    try:
        recipe = make(preset)
    except (ValueError, KeyError) as err:
        raise KinemaError(f"{method}: preset {short_repr(preset)}: {err}") from err
    if not isinstance(recipe, Recipe):
        raise KinemaError(f"{method} returned {type(recipe).__name__}, not a kinema.config.Recipe")
    if ":" not in method:
        default_samples(recipe)        # before --set: train.sample_every=null still means none
    try:
        apply_overrides(recipe, list(overrides))
    except ValueError as err:
        raise KinemaError(str(err)) from err
    for section, key, value in (("data", "name", data), ("train", "steps", steps),
                                ("train", "batch_size", batch_size), ("train", "seed", seed)):
        if value is not None:
            setattr(getattr(recipe, section), key, value)
    from kinema.validate import check_config

    check_config(recipe.model, "model")
    return recipe


SAMPLES_PER_RUN = 4


def default_samples(recipe) -> None:
    """A registered stage whose model draws samples (``sample_for_logging``) and whose preset
    leaves ``train.sample_every`` unset writes them ``SAMPLES_PER_RUN`` times per run of the
    preset's steps and at the last step (``--set train.sample_every=null`` turns them off)."""
    if recipe.train.sample_every is not None:
        return
    try:
        cls = model_class_of(recipe)
    except KinemaError:
        return
    if hasattr(cls, "sample_for_logging") and recipe.train.steps:
        recipe.train.sample_every = max(recipe.train.steps // SAMPLES_PER_RUN, 1)


def check_recipe_function(target: str, make) -> None:
    """``kinema train module:function`` calls ``function(preset)``; before it does, the target
    must be a Python function that takes the preset and says it makes a recipe (a parameter
    named ``preset``, or a ``Recipe`` return annotation), so that naming an arbitrary callable
    (``os:getcwd``, ``shutil:rmtree``) never runs it."""
    import inspect

    if not inspect.isfunction(make):
        raise KinemaError(f"{target} is not a recipe function (a Python function "
                          f"`recipe(preset) -> kinema.config.Recipe`), it is a {type(make).__name__}")
    params = list(inspect.signature(make).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    returns = make.__annotations__.get("return")
    says_recipe = (returns is not None and "Recipe" in str(getattr(returns, "__name__", returns)))
    if not positional or len(required) > 1 or not (positional[0].name == "preset" or says_recipe):
        raise KinemaError(f"{target} does not look like a recipe function: kinema calls "
                          f"`function(preset)`, so it needs one parameter named preset or a "
                          f"`-> Recipe` annotation")


def model_class_of(recipe):
    """The model class a recipe trains: ``recipe.method`` as ``module:Class`` or a registry name."""
    from kinema.registry import method_entry, resolve

    import torch

    target = recipe.method if ":" in recipe.method else method_entry(recipe.method).model_class
    try:
        cls = resolve(target)
    except (ImportError, AttributeError) as err:
        raise KinemaError(f"cannot import model class {short_repr(target)} ({err})") from err
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise KinemaError(f"the recipe's method {short_repr(target)} is not a model class (an nn.Module)")
    return cls


def train_recipe(recipe, out: str | Path, *, resume: bool | None = None, device: str | None = None,
                 tensorboard: bool = True, progress: bool = True) -> Path | None:
    """Build model and dataset from ``recipe`` and train into ``out``; returns ``out/model``
    (on the process that writes it)."""
    from kinema.data import load_dataset
    from kinema.train.rng import seed_everything
    from kinema.train.trainer import Trainer

    seed_everything(recipe.train.seed)     # the model's initial weights follow the seed
    cls = model_class_of(recipe)
    try:
        model = cls(recipe.model)
    except (TypeError, ValueError, RuntimeError) as err:
        raise KinemaError(f"the model config cannot build a {cls.__name__} ({err})") from None
    dataset = load_dataset(recipe.data.name, recipe.data.split, **recipe.data.options)
    with removed_on_failure(Path(out)):
        if not hasattr(model, "parameter_groups") and hasattr(model, "fit"):
            return fit_closed_form(model, dataset, recipe, out, progress=progress)
        trainer = Trainer(model, dataset, recipe.train, out, recipe=recipe, resume=resume,
                          device=device, tensorboard=tensorboard, progress=progress)
        is_main = trainer.dist.is_main
        trainer.fit()
    return Path(out) / "model" if is_main else None


@contextmanager
def removed_on_failure(out: Path):
    """A run folder this call creates is removed again if the run fails before its first
    checkpoint: a bad dataset or config leaves nothing behind (a run that got as far as a
    checkpoint keeps it, to resume from)."""
    import shutil

    created = not out.exists()
    try:
        yield
    except BaseException:
        from kinema.train.checkpoint import checkpoint_dirs

        if created and out.is_dir() and not checkpoint_dirs(out / "checkpoints"):
            shutil.rmtree(out, ignore_errors=True)
        raise


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
