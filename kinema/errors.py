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


def run_user_command(command, *args, **kwargs):
    """Run a command-line entry point: a ``KinemaError`` prints one ``error:`` line on stderr
    and exits with code 2 (no traceback); anything else is a bug and propagates."""
    import sys

    try:
        return command(*args, **kwargs)
    except KinemaError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
