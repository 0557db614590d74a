"""`kinema metrics list` and `kinema metrics train-extractor`."""
from __future__ import annotations

from pathlib import Path

import typer

metrics_app = typer.Typer(help="Metrics: list them; train a domain feature extractor.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")


@metrics_app.command("list")
def list_metrics() -> None:
    """Every registered metric, the features it needs and what it measures."""
    from kinema.metrics import METRICS

    for name, entry in METRICS.items():
        needs = f"[{entry.features}]" if entry.features else ""
        typer.echo(f"{name:20s} {needs:12s} {entry.summary}")


@metrics_app.command("train-extractor")
def train_extractor_command(
    data: str = typer.Option(..., "--data", help="dataset name, e.g. clouds"),
    out: Path = typer.Option(..., "--out", help="folder to save the extractor in"),
    label: str = typer.Option("", "--label",
                              help="comma-separated labels (eta, digit, motion, band, amplitude, frequency, identity); "
                                   "default: the dataset's recipe"),
    steps: int = typer.Option(0, "--steps", help="training steps (default: the recipe's)"),
    train_videos: int = typer.Option(0, "--train-videos", help="training clips (default: recipe)"),
    test_videos: int = typer.Option(0, "--test-videos", help="held-out clips (default: recipe)"),
    size: int = typer.Option(0, "--size", help="frame size (default: recipe)"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train a small video classifier on a dataset's labels (the cINN paper's DTFVD idea),
    save it (config.json + model.safetensors + training.json), print held-out accuracy."""
    import dataclasses
    import json

    from kinema.errors import KinemaError
    from kinema.metrics.features.domain_train import RECIPES, recipe_for, train_extractor

    from kinema.validate import check_number, check_seed

    for flag, value in (("--steps", steps), ("--train-videos", train_videos),
                        ("--test-videos", test_videos), ("--size", size)):
        check_number(flag, value, 0, None, integer=True, unit=" (0: the recipe's)")
    check_seed("--seed", seed)
    if data not in RECIPES and not label.strip():
        raise KinemaError(f"no extractor recipe for {data!r} (recipes: {', '.join(RECIPES)}); "
                          f"pass --label with labels its clips record")
    recipe = recipe_for(data)
    overrides = {k: v for k, v in dict(steps=steps, train_videos=train_videos,
                                       test_videos=test_videos, size=size).items() if v}
    recipe = dataclasses.replace(recipe, **overrides)
    labels = tuple(s.strip() for s in label.split(",") if s.strip()) or None
    record = train_extractor(data, out, labels, recipe, seed=seed)
    typer.echo(json.dumps(record, indent=2))
    for name, acc, chance, majority in zip(record["labels"], record["test_accuracy"],
                                           record["chance"], record["majority_class_rate"]):
        typer.echo(f"held-out accuracy {name}: {acc:.3f} (chance {chance:.3f}, "
                   f"most frequent class {majority:.3f})")
    typer.echo(f"saved to {out}")
