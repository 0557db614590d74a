"""How long each preset takes to train, measured, in one place (``train_times.json`` beside this
file), printed by ``kinema methods``.

Two kinds of entries, each with its date, machine and source:

- ``measured``: every registered stage's ``tiny`` preset (and the studio's ``tiny-clouds`` cINN
  runs), timed by ``python -m kinema.train_times`` (``measure``): the wall time of
  ``kinema --threads 1 train STAGE --preset PRESET --no-tensorboard`` in an empty folder, start-up
  included, each stage after the stages it reads. The command rewrites this part of the file.
- ``collected``: larger presets' times quoted from the benchmark notes (``benchmarks/*.md``,
  ``benchmarks/runs.mk`` comments) that measured them: ``source`` the file, ``quote`` its words
  (verbatim, backticks and line breaks aside); ``estimate`` marks a note's timed step multiplied
  by the preset's steps (``note``; shown as ``~``).

A preset found in neither says "not measured"; no time is estimated here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

TIMES_FILE = Path(__file__).with_name("train_times.json")
MACHINE = "shared 2-core CPU, 1 thread"
# presets measured besides each stage's `tiny`: the runs `make studio-tiny` trains (Makefile STUDIO_RUNS)
EXTRA_RUNS = (("cinn-autoencoder", "tiny-clouds"), ("cinn-image-encoder", "tiny-clouds"),
              ("cinn-flow", "tiny-clouds"), ("cinn-flow", "tiny-clouds-control"))


def load_times(file: Path = TIMES_FILE) -> dict[tuple[str, str], dict]:
    """{(stage, preset): {"seconds", "date", "machine", "source", "estimate"}} of both kinds of
    entries (a measured entry wins over a collected one of the same run); ``estimate``: a note's
    timed step times the preset's steps, shown with a ``~``."""
    data = json.loads(Path(file).read_text())
    out = {}
    for kind in ("collected", "measured"):
        for row in data.get(kind, []):
            source = f"{row['source']}: {row['quote']!r}" if "quote" in row else row["source"]
            out[(row["stage"], row["preset"])] = {**{k: row[k] for k in ("seconds", "date", "machine")},
                                                  "source": source, "estimate": bool(row.get("estimate"))}
    return out


def format_seconds(seconds: float) -> str:
    """``3.7 s`` below a minute, ``35 min`` (``1.4 min`` below ten) above it."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"


def preset_times(stage: str, presets: tuple[str, ...], times: dict) -> str:
    """``tiny 3.7 s, small 35 min, paper not measured``: each of ``presets`` and every measured
    variant of it (``small-clouds``), in that order. A variant is listed once, under the longest
    of ``presets`` it extends (``small-real-l1`` under ``small-real`` when both are listed)."""
    def listed_under(variant: str) -> str | None:
        extended = [p for p in presets if variant == p or variant.startswith(p + "-")]
        return max(extended, key=len, default=None)

    parts = []
    for preset in presets:
        variants = [p for (s, p) in times if s == stage and listed_under(p) == preset]
        for variant in sorted(variants, key=lambda p: (p != preset, p)):
            found = times[(stage, variant)]
            parts.append(f"{variant} {'~' if found['estimate'] else ''}{format_seconds(found['seconds'])}")
        if not variants:
            parts.append(f"{preset} not measured")
    return ", ".join(parts)


def runs_to_measure() -> list[tuple[str, str]]:
    """Every registered stage's ``tiny`` preset and ``EXTRA_RUNS``, each after the stages its
    recipe reads (``kinema.stages.stage_fields``)."""
    from kinema.registry import entries, method_entry, resolve
    from kinema.stages import stage_fields

    wanted = [(e.name, "tiny") for e in entries() if "tiny" in e.presets] + list(EXTRA_RUNS)
    needs = {}
    for stage, preset in wanted:
        model = resolve(method_entry(stage).recipe)(preset).model
        needs[(stage, preset)] = set(stage_fields(model).values()) if hasattr(model, "__dataclass_fields__") else set()
    ordered: list[tuple[str, str]] = []
    while len(ordered) < len(wanted):
        done = {s for s, _ in ordered}
        ready = [r for r in wanted if r not in ordered and needs[r] <= done | {r[0]}]
        if not ready:
            raise RuntimeError(f"stages that read each other: {[r for r in wanted if r not in ordered]}")
        ordered.append(ready[0])
    return ordered


def measure(runs: list[tuple[str, str]], folder: Path, kinema: str) -> list[dict]:
    """Train each (stage, preset) with ``kinema`` in ``folder`` (runs/ inside it), one after the
    other; the wall seconds of each command."""
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for stage, preset in runs:
        start = time.perf_counter()
        subprocess.run([kinema, "--threads", "1", "train", stage, "--preset", preset, "--no-tensorboard"],
                       cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = round(time.perf_counter() - start, 1)
        rows.append({"stage": stage, "preset": preset, "seconds": seconds, "date": date.today().isoformat(),
                     "machine": MACHINE, "source": f"kinema --threads 1 train {stage} --preset {preset} "
                                                   f"--no-tensorboard (python -m kinema.train_times)"})
        print(f"{stage:22s} {preset:20s} {seconds:6.1f} s", flush=True)
    return rows


def main() -> None:
    kinema = str(Path(sys.executable).with_name("kinema"))
    with tempfile.TemporaryDirectory(prefix="kinema-train-times-") as folder:
        rows = measure(runs_to_measure(), Path(folder), kinema)
    data = json.loads(TIMES_FILE.read_text()) if TIMES_FILE.exists() else {}
    data["measured"] = rows
    TIMES_FILE.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {TIMES_FILE}")


if __name__ == "__main__":
    main()
