"""`kinema --threads N` (and KINEMA_THREADS) sets torch's thread count for any command and for
the processes it starts; 0 is one error line, exit 2."""
import os

import pytest
import torch

from kinema.cli import THREADS_VARIABLE, main


@pytest.fixture
def restore_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    yield
    torch.set_num_threads(before)
    os.environ.pop(THREADS_VARIABLE, None)


def _run(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def test_the_option_sets_torch_threads_for_the_command_and_its_children(restore_threads, capsys):
    torch.set_num_threads(1)
    assert _run(["--threads", "2", "methods"]) == 0
    assert torch.get_num_threads() == 2
    assert os.environ[THREADS_VARIABLE] == "2"
    assert _run(["--threads", "1", "methods"]) == 0
    assert torch.get_num_threads() == 1


def test_the_environment_variable_is_the_default(restore_threads, monkeypatch, capsys):
    torch.set_num_threads(1)
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    assert _run(["methods"]) == 0
    assert torch.get_num_threads() == 2


def test_zero_threads_is_one_error_line(restore_threads, capsys):
    assert _run(["--threads", "0", "methods"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --threads / KINEMA_THREADS must be an integer in 1..1024, got 0"]
