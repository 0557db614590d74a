"""Help that teaches: -h as well as --help, --version, one example in every command's help,
and the package docstring naming only what exists."""
from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner


def _commands():
    from kinema.cli import app

    names = []
    for info in app.registered_commands:
        names.append([info.name or info.callback.__name__.replace("_", "-")])
    for group in app.registered_groups:
        for info in group.typer_instance.registered_commands:
            names.append([group.name, info.name or info.callback.__name__.replace("_", "-")])
    return names


def test_version():
    import kinema
    from kinema.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"kinema {kinema.__version__}"


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_has_short_help_and_an_example(command):
    from kinema.cli import app

    runner = CliRunner()
    short, long = runner.invoke(app, [*command, "-h"]), runner.invoke(app, [*command, "--help"])
    assert short.exit_code == 0 and short.output == long.output
    text = " ".join(short.output.split())
    assert "Example" in text, command
    example = re.search(r"Examples?: (kinema [^|]*?)(?:\s\||$| \(| or )", text.replace("│", " "))
    assert example and example.group(1).split()[1] == command[0], text


def test_train_help_says_the_default_preset_the_readme_states():
    from pathlib import Path

    from kinema.cli import app

    text = " ".join(CliRunner().invoke(app, ["train", "-h"]).output.split())
    assert "[default: tiny]" in text
    readme = Path(__file__).parents[1].joinpath("README.md").read_text()
    assert "without `--preset` trains `tiny`" in readme


def test_the_package_docstring_names_only_what_exists():
    import importlib

    import kinema

    names = set(re.findall(r"``(kinema(?:\.\w+)+)", kinema.__doc__))
    assert "kinema.pipelines.load" in names
    for dotted in names:
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):     # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
    from kinema.registry import entries

    families = {e.family for e in entries()} | {e.name.split(".")[0] for e in entries()}
    for pattern in re.findall(r"``([a-z]+)[-.]\*``", kinema.__doc__):
        assert pattern in families, pattern


def test_flags_show_no_value_type_and_options_keep_theirs():
    from kinema.cli import app

    text = CliRunner().invoke(app, ["animate", "--help"], terminal_width=120).output
    loop = next(line for line in text.splitlines() if "--loop" in line)
    slowmo = next(line for line in text.splitlines() if "--slowmo" in line)
    assert "<bool>" not in loop and "seamless loop" in loop
    assert "<float>" in slowmo
