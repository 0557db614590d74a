"""The one `kinema` command. The core parts of the package contribute their commands through a
``register(app)`` function in the modules listed below; every registered method adds its own
through its registry entry's ``commands`` field (``kinema.registry``), so a new method never
edits this file. A command name registered twice is an error naming both owners. Importing
this module stays cheap: heavy libraries load inside the commands.
"""
from __future__ import annotations

import importlib
import sys

import typer

from kinema.errors import KinemaError

# Core modules that define ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "kinema.data.cli",
    "kinema.demo",
    "kinema.train.cli",
    "kinema.metrics.cli",
    "kinema.bench.cli",
    "kinema.apps",            # the verbs methods share: animate, sample
    "kinema.serve.cli",       # kinema studio
    "kinema.bundled.cli",     # kinema bundle export / list
)


class CommandCollision(KinemaError):
    """Two modules register the same command name."""


def _command_names(app: typer.Typer) -> tuple[list[str], list[str]]:
    """(command names, group names) in registration order."""
    return ([info.name or info.callback.__name__.replace("_", "-")
             for info in app.registered_commands],
            [info.name or info.typer_instance.info.name for info in app.registered_groups])


def _register(app: typer.Typer, register, owner: str, owners: dict[str, str]) -> None:
    commands, groups = (len(names) for names in _command_names(app))
    register(app)
    new_commands, new_groups = _command_names(app)
    for name in new_commands[commands:] + new_groups[groups:]:
        if name in owners:
            raise CommandCollision(f"command {name!r} is registered twice: by {owners[name]} "
                                   f"and by {owner}; rename one of them")
        owners[name] = owner


def _flags_show_no_type() -> None:
    """typer 0.29's help prints ``<bool>`` beside every flag (``--help`` included), which reads
    as if ``--loop true`` were wanted; a flag takes no value, so its type column stays empty.
    Applied to typer's option class once, when the app is built."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "kinema_flags_untyped", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.kinema_flags_untyped = True
    TyperOption.display_type_rich = display_type_rich


def build_app() -> typer.Typer:
    """The `kinema` app: the core commands, then every method entry's ``commands`` (each
    distinct register function once)."""
    from kinema.registry import entries, resolve

    _flags_show_no_type()

    app = typer.Typer(help="kinema: video synthesis by separating content from motion.",
                      no_args_is_help=True, pretty_exceptions_enable=False,
                      add_completion=False,
                      context_settings={"help_option_names": ["-h", "--help"]})
    app.callback()(_root)
    app.command("methods", epilog=f"Example: {EXAMPLES['methods']}")(list_methods)
    owners = {name: "kinema.cli" for name in sum(_command_names(app), [])}
    for module in COMMAND_MODULES:
        _register(app, importlib.import_module(module).register, module, owners)
    for target in dict.fromkeys(e.commands for e in entries() if e.commands):
        try:
            register = resolve(target)
        except (ImportError, AttributeError) as err:
            owner = next(e.name for e in entries() if e.commands == target)
            raise ImportError(f"the {owner} method entry names commands={target!r}, which "
                              f"cannot be imported ({err})") from err
        _register(app, register, target, owners)
    add_examples(app)
    return app


# One example per command, shown at the end of its --help (a command whose own help already
# has an "Example" keeps it). Commands of method entries are listed too, by name.
EXAMPLES = {
    "methods": "kinema methods",
    "recipe": "kinema recipe ile --preset small --format json > recipe.json",
    "train": "kinema train ile --preset small --out runs/ile",
    "eval": "kinema eval runs/ile/model --data bouncing-digits --metrics psnr,ssim --out results.json",
    "bench": "kinema bench baselines",
    "demo": "kinema demo --out runs/demo",
    "animate": "kinema animate photo.png --num 4 --size 256",
    "sample": "kinema sample --num 8 --out samples/",
    "studio": "kinema studio   (the bundled models; --models runs: your own trained runs)",
    "transfer": "kinema transfer source.mp4 photo.png --out transfer/",
    "poke": "kinema poke photo.png --at 40,30 --force 3,0   (the bundled dynamics model)",
    "edit": "kinema edit --canonical-edit painted.png --out edit/   (the bundled gendef model)",
    "track": "kinema track --points '10,12;20,8' --out tracks/   (the bundled gendef model)",
    "data list": "kinema data list",
    "data info": "kinema data info folder:",
    "data preview": "kinema data preview swaying --out swaying.mp4",
    "metrics list": "kinema metrics list",
    "metrics train-extractor": "kinema metrics train-extractor --data clouds --out runs/extractors/clouds",
}


def add_examples(app: typer.Typer, prefix: str = "") -> None:
    """Put ``EXAMPLES[name]`` at the end of each command's help (its epilog)."""
    for info in app.registered_commands:
        name = prefix + (info.name or info.callback.__name__.replace("_", "-"))
        own = (info.help or info.callback.__doc__ or "") + (info.epilog or "")
        if name in EXAMPLES and "Example" not in own:
            info.epilog = f"Example: {EXAMPLES[name]}"
    for group in app.registered_groups:
        add_examples(group.typer_instance, f"{prefix}{group.name or group.typer_instance.info.name} ")


THREADS_VARIABLE = "KINEMA_THREADS"
MAX_THREADS = 1024


def _show_version(value: bool) -> None:
    if value:
        import kinema

        typer.echo(f"kinema {kinema.__version__}")
        raise typer.Exit()


def _root(debug: bool = typer.Option(False, "--debug", help="show full tracebacks "
                                                              "(or set KINEMA_DEBUG=1)"),
          version: bool = typer.Option(False, "--version", is_eager=True,
                                       callback=_show_version, help="print the version and exit"),
          threads: int | None = typer.Option(
              None, "--threads", envvar=THREADS_VARIABLE, show_envvar=True,
              help="torch CPU threads for the command (default: torch's own choice; on a "
                   "shared machine 1 can be faster than 2)")) -> None:
    """kinema: video synthesis by separating content from motion."""
    if debug:
        import os

        from kinema.errors import DEBUG_VARIABLE

        os.environ[DEBUG_VARIABLE] = "1"
    if threads is not None:
        set_threads(threads)


def set_threads(threads: int) -> None:
    """torch.set_num_threads(threads) for this process (and its intra-op pool), checked."""
    if not 1 <= threads <= MAX_THREADS:
        raise KinemaError(f"--threads / {THREADS_VARIABLE} must be an integer in "
                          f"1..{MAX_THREADS}, got {threads}")
    import os

    import torch

    torch.set_num_threads(threads)
    os.environ[THREADS_VARIABLE] = str(threads)   # processes it starts (torchrun, benchmarks) too


def list_methods() -> None:
    """List the methods by family: stages, tasks, presets, verbs, benchmarks, and each preset's
    measured train time (``kinema.train_times``)."""
    from kinema.registry import entries
    from kinema.train_times import MACHINE, TIMES_FILE, load_times, preset_times

    times = load_times()

    families: dict[str, list] = {}
    width = max((len(e.name) for e in entries()), default=0)
    tasks_width = max((len(",".join(e.tasks)) for e in entries()), default=1)
    presets_width = max((len(",".join(e.presets)) for e in entries()), default=1)
    for e in entries():
        families.setdefault(e.family, []).append(e)
    for family, stages in families.items():
        extras = []
        verbs = sorted({v for e in stages for v in e.apps})
        benchmarks = sorted({b for e in stages for b in e.benchmarks})
        if verbs:
            extras.append(f"verbs: {', '.join(verbs)}")
        if benchmarks:
            extras.append(f"benchmarks: {', '.join(benchmarks)}")
        if any(e.demo for e in stages):
            extras.append("demo section")
        typer.echo(f"{family}" + (f"  ({'; '.join(extras)})" if extras else ""))
        for e in stages:
            typer.echo(f"  {e.name:{width}s}  tasks: {','.join(e.tasks) or '-':{tasks_width}s}  "
                       f"presets: {','.join(e.presets) or '-':{presets_width}s}  {e.summary}")
            if e.presets:
                typer.echo(f"  {'':{width}s}  train time: {preset_times(e.name, e.presets, times)}")
    typer.echo(f"train times: wall, {MACHINE}; tiny presets timed by `python -m kinema.train_times`, "
               f"larger ones quoted from benchmarks/ (~: a timed step times the steps); {TIMES_FILE.name}")


def _app_or_one_error_line() -> typer.Typer:
    """The app; a bad ``KINEMA_MAX_*`` variable (read while the commands' modules load, before
    ``main``'s error boundary) is the same one ``error:`` line and exit 2 as any user error."""
    from kinema.errors import KinemaError

    try:
        return build_app()
    except KinemaError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


app = _app_or_one_error_line()


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one clear line (no traceback) and exit with code 2
    (kinema.errors.run_user_command)."""
    from kinema.errors import run_user_command

    code = run_user_command(app, args=argv, prog_name="kinema", standalone_mode=False)
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
