"""``kinema bundle export``, ``domain`` and ``list``: the models kinema ships (``kinema.bundled``)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

bundle_app = typer.Typer(help="The trained models kinema ships: export them from their runs, "
                              "list them.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(bundle_app, name="bundle")


@bundle_app.command("export")
def export_command(
    names: Optional[List[str]] = typer.Argument(None, help="bundled model names (default: all)"),
    runs: Path = typer.Option(Path("runs"), "--runs", help="the folder of trained runs (runs/RUN)"),
    to: Optional[Path] = typer.Option(None, "--to", help="where NAME/ folders are written "
                                      "(default: kinema/bundled/models, or $KINEMA_BUNDLED)"),
) -> None:
    """Copy each bundled model's trained run into a model folder with its card: 16-bit weights
    where a fidelity check shows the output unchanged (PSNR >= 40 dB), float32 otherwise.

    Example: kinema bundle export dynamics --runs runs"""
    from kinema.bundled.export import export

    for card in export(names or None, runs, to):
        psnr = "identical" if card["fidelity"]["identical"] else f"{card['fidelity']['psnr_db']} dB"
        typer.echo(f"{card['name']:14s} {card['storage']:8s} fidelity {psnr:>12s}  "
                   f"{card['size_mb']:7.2f} MB  {card['resolution']}  {card['steps']} steps")


@bundle_app.command("domain")
def domain_command(
    names: Optional[List[str]] = typer.Argument(None, help="bundled model names (default: all)"),
    to: Optional[Path] = typer.Option(None, "--to", help="where the NAME/ folders are "
                                      "(default: kinema/bundled/models, or $KINEMA_BUNDLED)"),
) -> None:
    """Measure each bundled model's domain.json anew on its training data (kinema.domain: the
    statistics a picture is checked against), leaving its weights and card as they are: after
    the domain statistics change.

    Example: kinema bundle domain dynamics"""
    from kinema.bundled.export import remeasure_domains

    for name, path, reference in remeasure_domains(names or None, to):
        typer.echo(f"{name:14s} {len(reference.names)} statistics, threshold "
                   f"{reference.threshold:.2f} ({reference.pictures} training + "
                   f"{reference.held_out} held-out pictures)  {path}")


@bundle_app.command("list")
def list_command() -> None:
    """Every bundled model: its size on disk and the verbs it serves, or the command that
    makes it when it is not there.

    Example: kinema bundle list"""
    from kinema.bundled import BUNDLED, MAKE_TARGET, root
    from kinema.bundled.card import folder_bytes

    here = root()
    for bundled in BUNDLED:
        folder = here / bundled.name
        verbs = ", ".join(bundled.verbs) or "(pipelines, demo)"
        if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
            typer.echo(f"{bundled.name:14s} {folder_bytes(folder) / 1e6:7.2f} MB  {verbs:22s} {folder}")
        else:
            typer.echo(f"{bundled.name:14s} {'missing':>10s}  {verbs:22s} make it: `{MAKE_TARGET}`")
