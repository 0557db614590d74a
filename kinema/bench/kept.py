"""Results of a long benchmark's steps kept on disk, so a benchmark stopped part way (a session
that ends, a SIGTERM) goes on where it was instead of starting again.

A step is named by a key that holds everything its result depends on (``content_key``: the
model's weights and the inputs, plus the settings), so a changed model, picture or setting is
computed afresh and never read from an older result. Written by hand: a JSON file rewritten
atomically after each step is all this needs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch


def content_key(*things) -> str:
    """16 hex digits of SHA-256 over modules' state dicts (in order) and tensors' bytes."""
    digest = hashlib.sha256()
    for thing in things:
        tensors = thing.state_dict().values() if isinstance(thing, torch.nn.Module) else [thing]
        for tensor in tensors:
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class KeptResults:
    """{key: JSON value} in ``path`` (nothing kept when ``path`` is None): ``kept[key]``,
    ``key in kept``, and ``kept[key] = value``, which rewrites the file at once. An unreadable
    file is started afresh."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self.done: dict = {}
        if self.path is not None and self.path.is_file():
            try:
                self.done = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.done = {}

    def __contains__(self, key: str) -> bool:
        return key in self.done

    def __getitem__(self, key: str):
        return self.done[key]

    def __setitem__(self, key: str, value) -> None:
        from kinema.data.io import write_atomic

        self.done[key] = value
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self.done, indent=1))
