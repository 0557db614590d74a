"""A bundled model's card (``card.json`` + ``card.md``): what it was trained on, for how long
(its training chain, read from the runs' logs), how it is stored and what it reaches; written by
``kinema bundle export`` (``kinema.bundled.export``) and given its numbers by ``kinema bench
bundled-models``."""
from __future__ import annotations

import json
from pathlib import Path

from kinema.bundled import Bundled
from kinema.train.checkpoint import file_sha256

CARD_JSON, CARD_MD = "card.json", "card.md"
WEIGHTS = "model.safetensors"


# ------------------------------------------------------------------------------ the training chain

def run_of(path: str | Path, runs: Path) -> Path | None:
    """The run folder a recorded stage path names: as recorded (relative to where it was
    trained), else the run of that name under ``runs``; None when neither exists."""
    path = Path(path)
    run = path.parent if path.name == "model" else path
    for candidate in (run, runs / run.name):
        if (candidate / "model" / "config.json").is_file() or (candidate / "metrics.jsonl").is_file():
            return candidate
    return None


def last_logged(run: Path) -> dict | None:
    """The last JSON line of ``run/metrics.jsonl`` (the trainer's last log: step, time)."""
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return None


def training_chain(run: Path, runs: Path) -> list[dict]:
    """Every run the model was built from, earliest first, then ``run`` itself: {"run",
    "stage", "steps", "seconds"} from each run's last logged line (``seconds``: the trainer's
    ``time``, the wall-clock time of its steps; None when the run or its log is not here)."""
    from kinema.pretrained import read_meta
    from kinema.registry import entry_for_class

    chain: list[dict] = []
    seen: set[str] = set()

    def visit(folder: Path | None, recorded: str, stage: str | None) -> None:
        key = str(folder.resolve()) if folder is not None else recorded
        if key in seen:
            return
        seen.add(key)
        meta = None
        if folder is not None and (folder / "model" / "config.json").is_file():
            meta = read_meta(folder / "model")
            for source in (meta.get("built_from") or {}).values():
                if isinstance(source, dict) and isinstance(source.get("path"), str):
                    visit(run_of(source["path"], runs), source["path"], source.get("stage"))
        if stage is None and meta is not None:
            entry = entry_for_class(meta["class"])
            stage = entry.name if entry is not None else meta["class"]
        logged = last_logged(folder) if folder is not None else None
        seconds = logged.get("time") if logged else None
        chain.append({"run": str(folder) if folder is not None else recorded, "stage": stage,
                      "steps": logged.get("step") if logged else None,
                      "seconds": float(seconds) if isinstance(seconds, (int, float)) else None})

    visit(run, str(run), None)
    return chain


# ------------------------------------------------------------------------------ the card

def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def build_card(bundled: Bundled, run: Path, dest: Path, runs: Path, fidelity: dict) -> dict:
    """card.json's fields, every one read from the run or measured here."""
    from kinema.pretrained import read_meta
    from kinema.provenance import data_label, model_size, read_recipe, trained_steps, training_data
    from kinema.registry import entry_for_class

    meta = read_meta(dest)
    entry = entry_for_class(meta["class"])
    recipe = read_recipe(dest) or {}
    data = training_data(recipe) if recipe else None
    size = model_size(meta["config"])
    chain = training_chain(run, runs)
    known = [s["seconds"] for s in chain]
    train = recipe.get("train") if isinstance(recipe.get("train"), dict) else {}
    return {
        "name": bundled.name,
        "family": entry.family if entry is not None else None,
        "stage": entry.name if entry is not None else meta["class"],
        "class": meta["class"],
        "preset": recipe.get("preset"),
        "run": str(run),
        "verbs": list(bundled.verbs),
        "data": {"source": data[0], "options": data[1], "label": data_label(*data)} if data else None,
        "resolution": f"{size[0]}x{size[1]}" if size else None,
        "steps": trained_steps(dest),
        "batch_size": train.get("batch_size"),
        "training_chain": chain,
        "training_seconds": round(sum(known), 1) if known and None not in known else None,
        "storage": fidelity["storage"],
        "fidelity": fidelity,
        "size_mb": round(folder_bytes(dest) / 1e6, 3),
        "weights_mb": round((dest / WEIGHTS).stat().st_size / 1e6, 3),
        "weights_sha256": file_sha256(dest / WEIGHTS),
        "limits": bundled.limits,
        "benchmark": None,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def render_card(card: dict) -> str:
    """card.md: the card as a page a person reads (every number from ``card``)."""
    fidelity = card["fidelity"]
    if fidelity.get("identical"):
        checked = "the two outputs are identical"
    elif fidelity.get("psnr_db") is not None:
        checked = f"PSNR {fidelity['psnr_db']:.1f} dB between the two outputs"
    else:
        checked = f"not run ({fidelity.get('reason', 'unknown')})"
    data = card["data"]
    chain = card["training_chain"]
    lines = [f"# Bundled model `{card['name']}`", "",
             f"- Method: {card['family']}, stage `{card['stage']}`, preset `{card['preset']}` "
             f"(exported from `{card['run']}`)",
             f"- Serves: {', '.join(f'`kinema {v}`' for v in card['verbs']) or 'pipelines and the demo only'}",
             f"- Data: {data['label'] if data else 'unknown (no recipe.json)'}"
             + (f"; options `{json.dumps(data['options'], sort_keys=True)}`" if data else ""),
             f"- Resolution: {card['resolution'] or 'unknown'}",
             f"- Steps: {card['steps'] if card['steps'] is not None else 'unknown'}"
             + (f" at batch {card['batch_size']}" if card.get("batch_size") else ""),
             f"- Training time of the whole chain: {_duration(card['training_seconds'])} "
             f"(the trainer's wall-clock time of the steps at one thread, summed over "
             f"{len(chain)} stage{'s' if len(chain) != 1 else ''}, on the shared machine that "
             f"trained it: indicative; see below)",
             f"- Storage: {card['storage']} (fidelity check: the {fidelity['task']} pipeline "
             f"on {fidelity.get('input') or 'no input'}, float32 against 16-bit-rounded "
             f"weights: {checked}; 16-bit is kept at {fidelity['min_psnr_db']:g} dB or more)",
             f"- Size: {card['size_mb']:.2f} MB on disk ({card['weights_mb']:.2f} MB of weights)",
             "", "## Training chain", "", "| stage | run | steps | time |", "|---|---|---|---|"]
    lines += [f"| {s['stage']} | `{s['run']}` | {s['steps'] if s['steps'] is not None else 'unknown'} "
              f"| {_duration(s['seconds'])} |" for s in chain]
    lines += ["", "## Benchmark", ""]
    lines += benchmark_lines(card.get("benchmark"))
    lines += ["", "## What it cannot do", "", card.get("limits") or "Not written.", "",
              "Written by `kinema bundle export` and `kinema bench bundled-models`; do not edit.", ""]
    return "\n".join(lines)


def benchmark_lines(bench: dict | None) -> list[str]:
    """The card's benchmark section: the numbers ``kinema bench bundled-models`` measured."""
    if not bench:
        return ["Not measured yet: `kinema bench bundled-models` writes the numbers here."]
    model, baseline = bench["motion_fd"], bench["baseline_motion_fd"]
    ratio = bench["speed_ratio"]
    return [f"On {bench['clips']} held-out clips of its training data ({bench['frames']} frames), "
            f"over {len(bench['seeds'])} sampling seeds (benchmarks/bundled-models.md):", "",
            "| | motion-fd (lower is better) | mean flow speed, generated / real |",
            "|---|---|---|",
            f"| this model | {model['mean']:.3f} ± {model['std']:.3f} | "
            f"{ratio['mean']:.3f} ± {ratio['std']:.3f} |",
            f"| {bench['baseline']} (draws nothing at random) | {baseline['mean']:.3f} | "
            f"{bench['baseline_speed_ratio']['mean']:.3f} |"]


def write_card(dest: Path, card: dict) -> None:
    from kinema.data.io import write_atomic

    write_atomic(dest / CARD_JSON, json.dumps(card, indent=2, sort_keys=False) + "\n")
    write_atomic(dest / CARD_MD, render_card(card))


def read_card(dest: Path) -> dict | None:
    try:
        card = json.loads((Path(dest) / CARD_JSON).read_text())
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


