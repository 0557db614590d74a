"""The one `kinema` command. Each part of the package contributes its commands through a
``register(app)`` function in the module listed below, so this file stays a table of
contents and importing it stays cheap (heavy libraries load inside the commands)."""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="kinema: video synthesis by separating content from motion.",
                  no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False)

# Modules that define ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "kinema.data.cli",
    "kinema.demo",
    "kinema.train.cli",
    "kinema.metrics.cli",
    "kinema.bench.cli",
    "kinema.methods.cinn.cli",
)


@app.callback()
def _root() -> None:
    """kinema: video synthesis by separating content from motion."""


@app.command("methods")
def list_methods() -> None:
    """List the registered methods, the tasks they serve and their presets."""
    from kinema.registry import available_methods, method_entry

    for name in available_methods():
        e = method_entry(name)
        typer.echo(f"{name:24s} {','.join(e.tasks):36s} {e.summary}")


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Entry point: user errors print one clear line (no traceback) and exit with code 2."""
    from kinema.errors import run_user_command

    run_user_command(app)


if __name__ == "__main__":
    main()
