"""``kinema train METHOD``: build a method from its recipe and train it with the Trainer.

METHOD is a registered name (``kinema methods``) or ``module:function`` returning a
``kinema.config.Recipe`` whose ``method`` field is then the model class as ``module:Class``
(so a user trains a method of their own without registering it). Running the same command
again continues from the newest checkpoint in ``--out`` (what may change between the two runs,
e.g. a larger ``--steps`` or a new ``train.lr``, is said in ``kinema.train.resume``); under
``torchrun --nproc_per_node N -m kinema train ...`` the run is data-parallel. The library
behind it is ``kinema.train.recipes``.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


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
        from kinema.train.recipes import build_recipe, train_recipe

        recipe = build_recipe(method, preset, data=data, steps=steps, batch_size=batch_size,
                              seed=seed, overrides=overrides)
        out = out or Path("runs") / f"{method.replace(':', '-').replace('.', '-')}-{preset}"
        model_dir = train_recipe(recipe, out, resume=resume, device=device,
                                 tensorboard=tensorboard)
        if model_dir is not None:
            typer.echo(f"model saved to {model_dir}")
