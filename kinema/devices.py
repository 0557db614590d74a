"""``--device`` for every verb: one option definition and one parser.

A verb declares ``device: Optional[str] = device_option()`` and calls ``resolve_device(device)``
before it builds anything, so a bad name is one ``error:`` line before any work or file. The
default is ``cuda`` when torch sees a GPU, else ``cpu``; ``KINEMA_DEVICE`` sets it for a shell
(and for the processes a benchmark starts). Models, their inputs and feature networks move to
the device; videos come back to the CPU before they are written or drawn (the verbs' handlers
call ``.cpu()``; ``kinema.data.io``'s writers accept either). Under torchrun ``rank_device``
gives each process of a node its own GPU.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kinema.errors import KinemaError

if TYPE_CHECKING:   # torch loads inside the functions: the CLI imports this module cheaply
    import torch

DEVICE_VARIABLE = "KINEMA_DEVICE"
DEVICE_KINDS = ("cpu", "cuda", "mps")


def default_device_name() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_option():
    """The ``--device`` option, the same for every verb (a fresh typer.Option per command)."""
    import typer

    return typer.Option(None, "--device", envvar=DEVICE_VARIABLE, show_envvar=True,
                        help="cpu, cuda, cuda:N or mps (default: cuda when a GPU is present, "
                             "else cpu)")


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``name`` (None: ``default_device_name()``) as a torch.device that exists on this
    machine; anything else is a KinemaError naming what is accepted and what is present.
    ``cuda`` becomes ``cuda:<current>`` so that tensors compare equal by ``.device``."""
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    name = (name if name is not None else default_device_name()).strip()
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in DEVICE_KINDS:
        raise KinemaError(f"--device {name!r} is not a device kinema runs on: use cpu, cuda, "
                          f"cuda:N or mps ({present_devices()})")
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise KinemaError(f"--device {name}: this machine or torch build has no MPS (Apple "
                              f"GPU) backend ({present_devices()})")
        return device
    if not torch.cuda.is_available():
        raise KinemaError(f"--device {name}: this machine or torch build has no CUDA GPU "
                          f"({present_devices()})")
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise KinemaError(f"--device {name}: there is no GPU {index} ({present_devices()})")
    return torch.device("cuda", index)


def present_devices() -> str:
    """'present: cpu, cuda:0, cuda:1' for error messages."""
    import torch

    found = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())
                       if torch.cuda.is_available()]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return "present: " + ", ".join(found)


def rank_device(device: torch.device, local_rank: int) -> torch.device:
    """Under torchrun each process of a node takes its own GPU: ``cuda`` (any index) becomes
    ``cuda:<local_rank>``; other devices are shared as they are."""
    import torch

    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise KinemaError(f"local rank {local_rank} has no GPU of its own "
                              f"({present_devices()}): start fewer processes per node")
        return torch.device("cuda", local_rank)
    return device


def module_device(module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module without any)."""
    import torch

    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def move(thing, device: torch.device | str):
    """``thing.to(device)`` (a module, or a feature network that offers ``to``); an object
    without ``to`` can only stay where it is: fine on the CPU, an error elsewhere."""
    if hasattr(thing, "to"):
        return thing.to(device)
    if str(device) != "cpu":
        raise KinemaError(f"{type(thing).__name__} cannot be moved to {device}: it has no .to()")
    return thing


def export_device(device: torch.device) -> None:
    """Make ``device`` the default of the kinema processes this one starts (benchmarks)."""
    os.environ[DEVICE_VARIABLE] = str(device)
