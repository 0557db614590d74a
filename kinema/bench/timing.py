"""Timing variants of one step against each other in one run (``kinema bench speed``).

The variants take turns, the order rotating every repetition, so a change in a shared
machine's load hits all of them alike; each call is timed twice: wall time, and the CPU time
of this process (user + system: with one torch thread, the work done, which other jobs do
not stretch). Summaries are medians, min-max spreads and ratios of medians to one reference
variant.
"""
from __future__ import annotations

import statistics
import time


def timed(step) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call of ``step``."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleave(variants: dict, repetitions: int, warmup: int = 1) -> dict[str, dict]:
    """Run every variant's step ``warmup`` times, then ``repetitions`` rounds in which each
    variant runs once (the order rotating). Returns {name: {"wall": [...], "cpu": [...]}}."""
    names = list(variants)
    for name in names:
        for _ in range(warmup):
            variants[name]()
    times = {name: {"wall": [], "cpu": []} for name in names}
    for r in range(repetitions):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            wall, cpu = timed(variants[name])
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    return times


def summarise(times: dict[str, dict], reference: str) -> dict[str, dict]:
    """Medians, spread and the ratio of medians to ``reference`` for wall and CPU time."""
    out = {}
    for name, t in times.items():
        row = {}
        for kind in ("wall", "cpu"):
            values = t[kind]
            row[kind] = {"median": statistics.median(values), "min": min(values),
                         "max": max(values), "values": values,
                         "ratio": statistics.median(values) / statistics.median(times[reference][kind])}
        out[name] = row
    return out


def table(summary: dict[str, dict], unit: str = "ms", scale: float = 1e3) -> list[str]:
    lines = [f"| variant | wall median ({unit}) | wall min-max | CPU median ({unit}) | CPU min-max "
             "| wall ratio | CPU ratio |", "|---|---|---|---|---|---|---|"]
    for name, row in summary.items():
        w, c = row["wall"], row["cpu"]
        lines.append(f"| {name} | {w['median'] * scale:.1f} | {w['min'] * scale:.1f}-{w['max'] * scale:.1f} "
                     f"| {c['median'] * scale:.1f} | {c['min'] * scale:.1f}-{c['max'] * scale:.1f} "
                     f"| {w['ratio']:.2f} | {c['ratio']:.2f} |")
    return lines
