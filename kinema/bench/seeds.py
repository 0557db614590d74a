"""Benchmark rows trained from several seeds.

A row's runs are its run folder ``RUN`` (seed 0: the recipe's own seed) and ``RUN-seedK``
(K >= 1: the same command with ``--seed K``, which seeds the initial weights and the data
order). A table cell over them is the mean and the sample standard deviation, "mean ± std";
a row with one run shows its value alone and says so in its seeds column.
"""
from __future__ import annotations

import math
import re
from pathlib import Path


def seed_folder(run: Path, seed: int) -> Path:
    """The run folder of ``seed`` for row folder ``run``."""
    run = Path(run)
    return run if seed == 0 else run.with_name(f"{run.name}-seed{seed}")


def seed_runs(run: Path) -> list[Path]:
    """The finished runs of row ``run`` (a ``model/config.json`` inside), seed 0 first, then
    ``RUN-seedK`` by K."""
    run = Path(run)
    pattern = re.compile(re.escape(run.name) + r"-seed(\d+)$")
    extra = sorted(((int(m.group(1)), p) for p in run.parent.glob(f"{run.name}-seed*")
                    if (m := pattern.match(p.name))), key=lambda kv: kv[0])
    return [p for p in [run] + [p for _, p in extra] if (p / "model" / "config.json").is_file()]


def summarise(results: list[dict]) -> dict:
    """Per key with a number in every result: {"mean", "std" (sample; 0 for one run), "n",
    "values"}. Keys missing or non-numeric in any result are left out."""
    if not results:
        return {}
    out = {}
    for key in results[0]:
        values = [r.get(key) for r in results]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        out[key] = {"mean": mean, "std": std, "n": len(values), "values": values}
    return out


def mean_spread(entry: dict | None, digits: int = 3) -> str:
    """'mean ± std' of a ``summarise`` entry ('—' when absent; the value alone for one run)."""
    if entry is None:
        return "—"
    if entry["n"] == 1:
        return f"{entry['mean']:.{digits}g}"
    return f"{entry['mean']:.{digits}g} ± {entry['std']:.2g}"
