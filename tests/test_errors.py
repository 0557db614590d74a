"""The one error boundary of every command: a user's error is one line and exit code 2; a bug
is one line naming the traceback file and exit code 1; KINEMA_DEBUG=1 shows tracebacks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kinema.errors import KinemaError, run_user_command, user_message


def _run(error, capsys):
    def command():
        raise error
    with pytest.raises(SystemExit) as exit_info:
        run_user_command(command)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("error, line", [
    (KinemaError("--frames must be >= 1, got 0"), "error: --frames must be >= 1, got 0\n"),
    (FileNotFoundError(2, "No such file", "x.png"), "error: x.png: no such file or folder\n"),
    (IsADirectoryError(21, "Is a directory", "out.mp4"), "error: out.mp4: is a folder, not a file\n"),
    (FileExistsError(17, "File exists", "runs/a"), "error: runs/a: already exists\n"),
])
def test_user_errors_are_one_line_and_code_2(error, line, capsys, monkeypatch):
    monkeypatch.delenv("KINEMA_DEBUG", raising=False)
    code, err = _run(error, capsys)
    assert (code, err) == (2, line)


def test_json_errors_are_user_errors():
    try:
        json.loads("{oops")
    except json.JSONDecodeError as error:
        assert user_message(error) == "not valid JSON (Expecting property name enclosed in double quotes at line 1)"


def test_a_bug_is_one_line_with_the_traceback_file(capsys, monkeypatch):
    monkeypatch.delenv("KINEMA_DEBUG", raising=False)
    code, err = _run(ZeroDivisionError("division by zero"), capsys)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    report = Path(err.rsplit("traceback is in ", 1)[1].split(" ")[0])
    text = report.read_text()
    assert text.startswith("Traceback") and "ZeroDivisionError: division by zero" in text
    report.unlink()


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("KINEMA_DEBUG", "1")
    with pytest.raises(KinemaError, match="boom"):
        run_user_command(lambda: (_ for _ in ()).throw(KinemaError("boom")))


def test_parser_errors_are_one_line_too(capsys, monkeypatch):
    from kinema.cli import main

    monkeypatch.delenv("KINEMA_DEBUG", raising=False)
    for argv, line in ((["poke", "x.png"], "error: Missing option '--at'. (see `kinema poke --help`)\n"),
                       (["animate", "x.png", "--model", "m", "--frames", "abc"],
                        "error: Invalid value for '--frames': Input should be a valid integer, unable to parse "
                        "string as an integer (see `kinema animate --help`)\n")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert (exit_info.value.code, capsys.readouterr().err) == (2, line)


def test_debug_flag_sets_the_variable(monkeypatch, tmp_path):
    import os

    from kinema.cli import main

    monkeypatch.delenv("KINEMA_DEBUG", raising=False)
    with pytest.raises(KinemaError, match="is not a model folder"):
        main(["--debug", "animate", "x.png", "--model", str(tmp_path / "none")])
    assert os.environ.pop("KINEMA_DEBUG") == "1"


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "1e9", "9" * 40])
def test_a_bad_limit_variable_is_one_error_naming_it(raw, monkeypatch):
    from kinema.errors import environment_limit

    monkeypatch.setenv("KINEMA_MAX_FRAMES", raw)
    with pytest.raises(KinemaError, match="KINEMA_MAX_FRAMES must be a positive integer") as info:
        environment_limit("KINEMA_MAX_FRAMES", 10)
    assert len(str(info.value)) < 100
    monkeypatch.setenv("KINEMA_MAX_FRAMES", " 12 ")
    assert environment_limit("KINEMA_MAX_FRAMES", 10) == 12
    monkeypatch.delenv("KINEMA_MAX_FRAMES")
    assert environment_limit("KINEMA_MAX_FRAMES", 10) == 10


def test_a_bad_limit_variable_at_startup_is_one_line_and_exit_2():
    import os
    import subprocess
    import sys

    env = dict(os.environ, KINEMA_MAX_FRAMES="10k")
    done = subprocess.run([sys.executable, "-m", "kinema", "methods"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "error: KINEMA_MAX_FRAMES must be a positive integer, got '10k'\n"
