"""``kinema train METHOD``: build a method from its recipe and train it with the Trainer.

METHOD is a registered name (``kinema methods``) or ``module:function`` returning a
``kinema.config.Recipe`` whose ``method`` field is then the model class as ``module:Class``
(so a user trains a method of their own without registering it). Running the same command
again continues from the newest checkpoint in ``--out`` (what may change between the two runs,
e.g. a larger ``--steps`` or a new ``train.lr``, is said in ``kinema.train.resume``); under
``torchrun --nproc_per_node N -m kinema train ...`` the run is data-parallel.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from kinema.errors import KinemaError


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        method: str = typer.Argument(..., help="registered method name, or module:function "
                                               "returning a Recipe"),
        preset: str = typer.Option("tiny", help="recipe preset (tiny, small, paper, ...)"),
        data: Optional[str] = typer.Option(None, help="dataset name (default: the recipe's)"),
        out: Optional[Path] = typer.Option(None, help="run folder (default runs/METHOD-PRESET)"),
        steps: Optional[int] = typer.Option(None, help="total optimisation steps"),
        batch_size: Optional[int] = typer.Option(None, help="global batch size (all processes)"),
        seed: Optional[int] = typer.Option(None, help="random seed"),
        overrides: List[str] = typer.Option([], "--set", help="section.key=value, repeatable "
                                                              "(train.lr=1e-3, model.hidden=64)"),
        resume: Optional[bool] = typer.Option(None, "--resume/--no-resume",
                                              help="continue from the newest checkpoint "
                                                   "(default: if there is one) / start over"),
        device: Optional[str] = typer.Option(None, help="cpu, cuda (default: cuda if available)"),
        tensorboard: bool = typer.Option(True, "--tensorboard/--no-tensorboard"),
    ) -> None:
        """Train METHOD; checkpoints, metrics.jsonl, samples and the final model go to --out."""
        recipe = build_recipe(method, preset, data=data, steps=steps, batch_size=batch_size,
                              seed=seed, overrides=overrides)
        out = out or Path("runs") / f"{method.replace(':', '-').replace('.', '-')}-{preset}"
        model_dir = train_recipe(recipe, out, resume=resume, device=device,
                                 tensorboard=tensorboard)
        if model_dir is not None:
            typer.echo(f"model saved to {model_dir}")


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


def fit_closed_form(model, dataset, recipe, out: str | Path, progress: bool = True) -> Path:
    """Methods fitted in closed form (the classical baselines) have ``fit(dataset)`` instead of
    gradient steps: fit once, then save the model and recipe exactly as a trained run does."""
    import inspect
    import sys

    from kinema.train.checks import make_run_folder

    out = make_run_folder(out)
    if "progress" in inspect.signature(model.fit).parameters:
        model.fit(dataset, progress=progress)
    else:
        model.fit(dataset)
    recipe.save(out / "recipe.json")
    print(f"fitted {type(model).__name__} in closed form on {recipe.data.name} "
          f"[{recipe.data.split}, {len(dataset)} items]", file=sys.stderr)
    return model.save_pretrained(out / "model")
