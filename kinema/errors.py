"""Errors a user can act on. The CLI prints their message alone (no traceback)."""


class KinemaError(Exception):
    """A problem with the user's input, files or environment, explained in one message."""


class VideoReadError(KinemaError):
    """A video file or frame folder could not be read; the message names the file."""


class MissingWeightsError(KinemaError, FileNotFoundError):
    """Pretrained weights were needed but not found; the message names the file and where
    the field gets it."""


class NotAModelFolder(KinemaError, FileNotFoundError):
    """A path that should hold a saved model (config.json + model.safetensors) does not."""


def environment_limit(name: str, default: int) -> int:
    """A positive integer limit from environment variable ``name`` (``default`` when unset), so a
    typo such as ``KINEMA_MAX_FRAMES=10k`` is one error naming the variable, not a ValueError
    while kinema loads."""
    import os

    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip()) if len(raw) <= 30 else 0
    except ValueError:
        value = 0
    if value < 1:
        raise KinemaError(f"{name} must be a positive integer, got {raw[:30]!r}")
    return value


DEBUG_VARIABLE = "KINEMA_DEBUG"   # set to 1 (or pass --debug) for full tracebacks
_PATH_ERRORS = ((FileNotFoundError, "no such file or folder"),
                (IsADirectoryError, "is a folder, not a file"),
                (NotADirectoryError, "is not a folder"), (FileExistsError, "already exists"),
                (PermissionError, "permission denied"))


def user_message(error: BaseException) -> str | None:
    """The one line a user sees for an error that their input caused, or None for a bug.

    Besides ``KinemaError``, the errors of the libraries kinema reads files with are the
    user's input: a path that is missing, a folder or file in the wrong place, a denied
    permission, bytes that are not JSON, an image, a video or a safetensors file."""
    import json

    if isinstance(error, KinemaError):
        return str(error)
    for kind, what in _PATH_ERRORS:
        if isinstance(error, kind):
            return f"{error.filename or error}: {what}"
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON ({error.msg} at line {error.lineno})"
    name = f"{type(error).__module__}.{type(error).__name__}"
    if name.startswith(("safetensors", "PIL.", "av.", "cv2")) or name == "builtins.UnicodeDecodeError":
        return f"cannot read the input ({type(error).__name__}: {error})"
    return None


def run_user_command(command, *args, **kwargs):
    """Run a command-line entry point behind one error boundary.

    A user's error (``user_message``) prints one ``error:`` line on stderr and exits with code
    2. Anything else is a bug: one line saying so and naming the file that holds the full
    traceback, exit code 1. With ``KINEMA_DEBUG=1`` (or ``--debug``) errors propagate with
    their traceback."""
    import os
    import sys

    try:
        with terminated_as_exit():
            return command(*args, **kwargs)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as error:
        click_error = _click_message(error)
        if click_error is not None:
            if click_error[1]:
                print(click_error[1], file=sys.stderr)
            raise SystemExit(click_error[0]) from None
        if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            raise
        message = user_message(error)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(2) from None
        report = write_traceback(error)
        print(f"error: internal error ({type(error).__name__}: {error}); this is a bug in "
              f"kinema, the full traceback is in {report} (set {DEBUG_VARIABLE}=1 to see it here)",
              file=sys.stderr)
        raise SystemExit(1) from None


TERMINATED_EXIT = 128 + 15     # the shell's code for a process ended by SIGTERM


class terminated_as_exit:
    """While a command runs, SIGTERM (a timeout, ``kill``, a scheduler) raises
    ``SystemExit(143)`` instead of ending the process at once, so every ``finally`` runs: a
    staging folder or a run folder that failed before its first checkpoint is removed as on
    any error. Only in the main thread (where Python delivers signals); the previous handler
    is restored afterwards."""

    def __enter__(self):
        import signal
        import threading

        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._exit)
        return self

    @staticmethod
    def _exit(signum, frame):
        raise SystemExit(TERMINATED_EXIT)

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _click_message(error: BaseException) -> tuple[int, str | None] | None:
    """(exit code, one line or None) for the command-line parser's own errors (a bad option
    value, a missing argument), which it raises when it is not left to exit by itself.
    Typer vendors click, so the classes are recognised by name."""
    names = {cls.__name__ for cls in type(error).__mro__}
    if "NoArgsIsHelpError" in names:
        return 2, None                       # the help was printed already
    if "UsageError" in names:
        ctx = getattr(error, "ctx", None)
        command = ctx.command_path if ctx is not None else "kinema"
        return 2, f"error: {error.format_message()} (see `{command} --help`)"
    if "ClickException" in names:
        return getattr(error, "exit_code", 1), f"error: {error.format_message()}"
    if "Abort" in names:
        return 1, "error: aborted"
    return None


def write_traceback(error: BaseException) -> str:
    """Write the traceback of ``error`` to a new file in the temp folder; returns its path."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="kinema-traceback-", suffix=".txt",
                                     delete=False) as f:
        f.write("".join(traceback.format_exception(error)))
    return f.name
