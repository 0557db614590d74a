"""``kinema train METHOD``: build a method from its recipe and train it with the Trainer.

METHOD is a registered name (``kinema methods``) or ``module:function`` returning a
``kinema.config.Recipe`` whose ``method`` field is then the model class as ``module:Class``
(so a user trains a method of their own without registering it). Running the same command
again continues from the newest checkpoint in ``--out`` (what may change between the two runs,
e.g. a larger ``--steps`` or a new ``train.lr``, is said in ``kinema.train.resume``); under
``torchrun --nproc_per_node N -m kinema train ...`` the run is data-parallel. The library
behind it is ``kinema.train.recipes``. ``kinema recipe METHOD`` prints a recipe, and
``kinema train --config FILE`` trains from an edited one (``kinema.train.recipe_files``).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from kinema.devices import device_option


def register(app: typer.Typer) -> None:
    register_recipe(app)

    @app.command("train", epilog=TRAIN_EXAMPLES)
    def train(
        method: Optional[str] = typer.Argument(None, help="registered method name (kinema "
                                               "methods), or module:function returning a "
                                               "Recipe; may be left out with --config"),
        preset: str = typer.Option("tiny", help="recipe preset (tiny: seconds, small: minutes "
                                                "on a CPU, paper; kinema methods lists them)"),
        config: Optional[Path] = typer.Option(None, "--config", help="a recipe file (JSON or "
                                              "YAML, e.g. an edited recipe.json); --set and the "
                                              "flags apply on top"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the recipe (YAML) and "
                                                             "stop without training"),
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
        device: Optional[str] = device_option(),
        tensorboard: bool = typer.Option(True, "--tensorboard/--no-tensorboard"),
    ) -> None:
        """Train METHOD; checkpoints, metrics.jsonl, samples and the final model go to --out."""
        from kinema.errors import KinemaError
        from kinema.train.recipes import build_recipe, train_recipe
        from kinema.validate import check_number, check_seed

        # the lower bounds are train.*'s own (kinema.train.checks); these bound a typo's size
        check_number("--steps (train.steps)", steps, None, MAX_STEPS, integer=True)
        check_number("--batch-size (train.batch_size)", batch_size, None, MAX_BATCH, integer=True)
        check_seed("--seed (train.seed)", seed)
        if device is not None:
            from kinema.devices import resolve_device

            resolve_device(device)     # the one --device parser of every verb

        if config is not None:
            from kinema.train.recipe_files import load_recipe_file

            recipe = load_recipe_file(config, overrides, method=method)
            apply_flags(recipe, data=data, steps=steps, batch_size=batch_size, seed=seed)
            method, preset = method or recipe.method, recipe.preset
        elif method is None:
            raise KinemaError("kinema train needs METHOD (kinema methods lists them) or "
                              "--config FILE")
        else:
            recipe = build_recipe(method, preset, data=data, steps=steps,
                                  batch_size=batch_size, seed=seed, overrides=overrides)
        if dry_run:
            from kinema.train.checks import check_recipe
            from kinema.train.recipe_files import recipe_text

            check_recipe(recipe)

            typer.echo(recipe_text(recipe, "yaml"), nl=False)
            return
        out = out or Path("runs") / f"{method.replace(':', '-').replace('.', '-')}-{preset}"
        model_dir = train_recipe(recipe, out, resume=resume, device=device,
                                 tensorboard=tensorboard)
        if model_dir is not None:
            typer.echo(f"model saved to {model_dir}")


TRAIN_EXAMPLES = ("Examples: kinema train ile --preset small --out runs/ile  |  "
                  "kinema train ile --preset tiny --dry-run > recipe.yaml; edit it; "
                  "kinema train --config recipe.yaml --set train.steps=50")
RECIPE_EXAMPLES = ("Example: kinema recipe cinn-flow --preset small-clouds --set "
                   "train.steps=500 --format json > recipe.json")


# Bounds of --steps and --batch-size far beyond any run: a step counter stays an int64 (the
# checkpoints' step) and a batch a number a data loader can hold
MAX_STEPS = 2 ** 63 - 1
MAX_BATCH = 1 << 20


def apply_flags(recipe, *, data=None, steps=None, batch_size=None, seed=None) -> None:
    """The --data/--steps/--batch-size/--seed flags on a recipe (after --set)."""
    from kinema.validate import check_config

    for section, key, value in (("data", "name", data), ("train", "steps", steps),
                                ("train", "batch_size", batch_size), ("train", "seed", seed)):
        if value is not None:
            setattr(getattr(recipe, section), key, value)
    check_config(recipe.train, "train")


def register_recipe(app: typer.Typer) -> None:
    @app.command("recipe", epilog=RECIPE_EXAMPLES)
    def recipe_command(
        method: str = typer.Argument(..., help="registered method name (kinema methods)"),
        preset: str = typer.Option("tiny", help="recipe preset (kinema methods lists them)"),
        overrides: List[str] = typer.Option([], "--set", help="section.key=value, repeatable"),
        fmt: str = typer.Option("yaml", "--format", help="yaml or json"),
    ) -> None:
        """Print METHOD's recipe at --preset (YAML or JSON); edit it and train it with
        `kinema train --config FILE`."""
        from kinema.train.recipe_files import recipe_text
        from kinema.train.recipes import build_recipe

        if fmt not in ("yaml", "json"):
            from kinema.errors import KinemaError
            from kinema.validate import short_repr

            raise KinemaError(f"--format must be yaml or json, got {short_repr(fmt)}")
        from kinema.train.checks import check_recipe

        recipe = build_recipe(method, preset, overrides=overrides)
        check_recipe(recipe)
        typer.echo(recipe_text(recipe, fmt), nl=False)
