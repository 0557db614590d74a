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
    for argv, line in ((["animate", "x.png"], "error: Missing option '--model'. (see `kinema animate --help`)\n"),
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
