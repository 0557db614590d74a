"""Running kinema's command line from tests: in this process (``run_cli``), and as ranks of
``torchrun`` on the CPU (``torchrun_command``, ``torchrun_env``, ``torchrun``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, monkeypatch, capsys) -> tuple[int, str, str]:
    """``kinema ARGS`` in this process: (exit code, stdout, stderr)."""
    from kinema.cli import main

    monkeypatch.setattr(sys, "argv", ["kinema", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def torchrun_command(*args: str, processes: int = 2) -> list[str]:
    """``torchrun --standalone --nproc_per_node PROCESSES -m kinema ARGS`` (gloo on a CPU)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            str(processes), "-m", "kinema", *map(str, args)]


def torchrun_env() -> dict:
    """One torch thread per rank; the repository importable (``tests.train.toy:recipe``)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def torchrun(*args: str, processes: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``torchrun_command(*args)`` to its end from the repository root; output captured."""
    return subprocess.run(torchrun_command(*args, processes=processes), cwd=ROOT,
                          env=torchrun_env(), capture_output=True, text=True, timeout=timeout)
