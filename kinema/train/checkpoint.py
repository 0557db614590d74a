"""Checkpoints that are complete or absent, verified when read.

Layout of ``RUN/checkpoints``::

    step-000120/            one complete checkpoint
        model.safetensors   the model's state dict
        ema.safetensors     the EMA weights (when EMA is on)
        state.pt            optimisers, schedulers, RNG states of every rank, data position,
                            counters: tensors and plain containers only (weights_only load)
        recipe.json         the recipe that made the run (when known)
        manifest.json       size and sha256 of every file above; written last
    latest                  text file naming the newest step folder
    .tmp-*                  an unfinished write (a killed run); ignored and removed

A checkpoint is written into a fresh ``.tmp-*`` folder, every file and the folder are fsynced,
and the folder is renamed into place with ``os.replace``; the ``latest`` pointer is replaced
the same way. So a kill at any moment leaves old complete checkpoints plus at most one
temporary folder. Resuming takes the newest step folder whose manifest verifies; a damaged one
is reported with a ``CheckpointWarning`` naming the file and the reason, then the previous one
is used.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from kinema.data.io import set_default_mode
from kinema.errors import KinemaError

LATEST = "latest"
MANIFEST = "manifest.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointWarning(UserWarning):
    """A checkpoint was unusable and an older one is used instead."""


class CorruptCheckpoint(Exception):
    def __init__(self, file: Path, reason: str):
        super().__init__(f"{file}: {reason}")
        self.file, self.reason = file, reason


@dataclass
class Checkpoint:
    path: Path
    step: int
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    state: dict
    recipe: dict | None


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def checkpoint_dirs(root: str | Path) -> list[tuple[int, Path]]:
    """Complete-looking step folders in ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return sorted(found, reverse=True)


# ----------------------------------------------------------------------------- writing


def save_checkpoint(root: str | Path, step: int, *, model: dict[str, torch.Tensor],
                    ema: dict[str, torch.Tensor] | None, state: dict, recipe: dict | None,
                    keep: int | None) -> Path:
    """Write checkpoint ``step`` atomically, point ``latest`` at it, keep the newest ``keep``."""
    from safetensors.torch import save_file

    from kinema.pretrained import _untie

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        save_file(_untie(_cpu(model)), str(tmp / "model.safetensors"))
        if ema is not None:
            save_file(_untie(_cpu(ema)), str(tmp / "ema.safetensors"))
        torch.save(state, tmp / "state.pt")
        if recipe is not None:
            (tmp / "recipe.json").write_text(json.dumps(recipe, indent=2))
        files = {p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
                 for p in sorted(tmp.iterdir())}
        (tmp / MANIFEST).write_text(json.dumps({"format": 1, "step": step, "files": files},
                                               indent=2))
        for p in tmp.iterdir():
            set_default_mode(p)   # safetensors writes its files private (0600)
            _fsync(p)
        _fsync(tmp)
        set_default_mode(tmp)   # mkdtemp's folder is private (0700)
        final = root / step_dir_name(step)
        if final.exists():   # rewriting a step after resuming from an older checkpoint
            os.replace(final, root / f".tmp-replaced-{final.name}-{time.time_ns()}")
        os.replace(tmp, final)   # write_latest's fsync of root makes the rename durable
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_latest(root, final.name)
    prune(root, keep)
    clean_temporary(root)
    return final


def write_latest(root: Path, name: str) -> None:
    handle, tmp = tempfile.mkstemp(prefix=".tmp-latest-", dir=root)
    with os.fdopen(handle, "w") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    set_default_mode(tmp)
    os.replace(tmp, root / LATEST)
    _fsync(root)


def prune(root: Path, keep: int | None) -> None:
    """Remove all but the newest ``keep`` checkpoints (renamed away first, so a kill during
    the removal never leaves a half-deleted folder that looks like a checkpoint)."""
    if not keep or keep < 1:
        return
    for _, path in checkpoint_dirs(root)[keep:]:
        doomed = root / f".tmp-removed-{path.name}-{time.time_ns()}"
        os.replace(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def clean_temporary(root: str | Path) -> None:
    """Remove what killed writes left behind (``.tmp-*``)."""
    root = Path(root)
    if root.is_dir():
        for p in root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def set_aside(path: Path) -> Path:
    """Rename an unusable checkpoint out of the way (kept for inspection, never loaded)."""
    target = path.with_name(f"{path.name}.corrupt")
    if target.exists():
        shutil.rmtree(target, ignore_errors=True)
    os.replace(path, target)
    return target


# ----------------------------------------------------------------------------- reading


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Verify ``path`` against its manifest and load it; raises ``CorruptCheckpoint``."""
    from safetensors.torch import load_file

    path = Path(path)
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise CorruptCheckpoint(manifest_file, "missing, so the checkpoint cannot be verified")
    try:
        manifest = json.loads(manifest_file.read_text())
        files, step = dict(manifest["files"]), int(manifest["step"])
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptCheckpoint(manifest_file, f"unreadable ({type(err).__name__}: {err})") from err
    for required in ("model.safetensors", "state.pt"):
        if required not in files:
            raise CorruptCheckpoint(manifest_file, f"does not list {required}")
    for name, meta in files.items():
        f = path / name
        if not f.is_file():
            raise CorruptCheckpoint(f, "missing")
        size = f.stat().st_size
        if size != meta["bytes"]:
            raise CorruptCheckpoint(f, f"has {size} bytes, the manifest says {meta['bytes']} "
                                       f"(truncated or overwritten)")
        if file_sha256(f) != meta["sha256"]:
            raise CorruptCheckpoint(f, "sha256 differs from the manifest (damaged)")

    def load(name, loader):
        try:
            return loader(str(path / name))
        except Exception as err:
            raise CorruptCheckpoint(path / name,
                                    f"cannot be read ({type(err).__name__}: {err})") from err

    return Checkpoint(
        path=path, step=step,
        model=load("model.safetensors", load_file),
        ema=load("ema.safetensors", load_file) if "ema.safetensors" in files else None,
        state=load("state.pt", lambda f: torch.load(f, map_location="cpu", weights_only=True)),
        recipe=load("recipe.json", lambda f: json.loads(Path(f).read_text()))
        if "recipe.json" in files else None)


def load_latest(root: str | Path, warn: bool = True) -> Checkpoint | None:
    """The newest checkpoint under ``root`` that verifies; ``None`` if there is none at all.

    Each unusable newer one gives a ``CheckpointWarning``; if every one is unusable the run
    cannot resume and a ``KinemaError`` lists why."""
    candidates = checkpoint_dirs(root)
    problems = []
    for i, (_, path) in enumerate(candidates):
        try:
            return read_checkpoint(path)
        except CorruptCheckpoint as err:
            problems.append(str(err))
            if warn:
                fallback = (f"falling back to {candidates[i + 1][1].name}"
                            if i + 1 < len(candidates) else "no older checkpoint is left")
                warnings.warn(f"checkpoint {path.name} is unusable: {err}; {fallback}",
                              CheckpointWarning, stacklevel=2)
    if problems:
        raise KinemaError(f"no usable checkpoint in {root}: " + "; ".join(problems)
                          + ". Start over with --no-resume or use another --out folder.")
    return None


def latest_path(root: str | Path) -> Path | None:
    """The folder the ``latest`` pointer names (for tools that want the newest weights)."""
    pointer = Path(root) / LATEST
    if pointer.is_file():
        target = Path(root) / pointer.read_text().strip()
        if _STEP_DIR.match(target.name) and target.is_dir():
            return target
    dirs = checkpoint_dirs(root)
    return dirs[0][1] if dirs else None


# ----------------------------------------------------------------------------- helpers


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
