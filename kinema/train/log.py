"""Where a run reports: ``metrics.jsonl`` (one JSON object per log step) and TensorBoard.

Each record: ``step``, ``time`` (seconds of training so far, summed over resumed sessions),
``wall`` (unix time), ``losses`` (``group/key`` -> mean over the steps since the previous
record, non-finite values left out), ``lr`` (group -> learning rate of the last step),
``nonfinite`` (steps with a non-finite loss so far) and ``steps_per_second``.
On resume the records after the checkpoint's step are dropped, so the file reads as one run.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import torch

from kinema.data.io import set_default_mode


class RunLog:
    def __init__(self, out_dir: Path, resume_step: int | None, tensorboard: bool = True):
        self.path = Path(out_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            self._truncate_after(resume_step)
        elif self.path.exists():
            self.path.unlink()
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:   # tensorboard is optional; metrics.jsonl always works
                SummaryWriter = None
            if SummaryWriter is not None:
                purge = None if resume_step is None else resume_step + 1
                self.writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"),
                                            purge_step=purge)

    def write(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            step = record["step"]
            for key, value in record["losses"].items():
                if value is not None:
                    self.writer.add_scalar(key, value, step)
            for group, lr in record["lr"].items():
                self.writer.add_scalar(f"lr/{group}", lr, step)
            self.writer.add_scalar("nonfinite", record["nonfinite"], step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def _truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue   # a line cut short by a kill
        handle, tmp = tempfile.mkstemp(prefix=".metrics-", dir=self.path.parent)
        with os.fdopen(handle, "w") as f:
            f.write("".join(line + "\n" for line in kept))
        set_default_mode(tmp)
        os.replace(tmp, self.path)


class LossMeter:
    """Sums of each logged scalar since the last record, averaged over ranks on read."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, key: str, value: float) -> None:
        self.sums.setdefault(key, 0.0)
        self.counts.setdefault(key, 0)
        if math.isfinite(value):
            self.sums[key] += value
            self.counts[key] += 1

    def means(self, reduce_sum) -> dict[str, float | None]:
        """``reduce_sum``: sums a 1-D tensor over ranks (identity in one process)."""
        keys = sorted(self.sums)
        packed = torch.tensor([self.sums[k] for k in keys] + [self.counts[k] for k in keys],
                              dtype=torch.float64)
        packed = reduce_sum(packed).cpu()
        n = len(keys)
        out = {k: (packed[i].item() / packed[n + i].item() if packed[n + i] > 0 else None)
               for i, k in enumerate(keys)}
        self.sums, self.counts = {}, {}
        return out
