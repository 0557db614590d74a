"""One home for multi-stage methods: a later stage names the earlier stages' model folders as
typed config fields, one loader opens them, and the saved model records what it was built from.

    @dataclass
    class FlowConfig:
        autoencoder_path: str = stage_path("cinn-autoencoder", "runs/cinn-autoencoder-small")
        autoencoder: dict | None = None    # filled in once built, so a saved flow loads alone

    autoencoder = open_stage(config, "autoencoder_path")

``open_stage`` accepts a model folder or the run folder that holds it, checks that the folder
holds the class the stage's registry entry trains, and otherwise raises one ``KinemaError``
naming the field, the folder and the ``kinema train`` command that makes it. ``record_sources``
keeps (path, stage, sha256 of the weights) of every opened stage on the model as
``built_from``; ``Pretrained.save_pretrained`` writes it into ``config.json`` and
``from_pretrained`` reads it back.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from kinema.errors import KinemaError

STAGE_KEY = "kinema_stage"


def stage_path(stage: str, default: str = "") -> Any:
    """A config field holding the model folder of the registered stage ``stage``."""
    return dataclasses.field(default=default, metadata={STAGE_KEY: stage})


def stage_fields(config: Any) -> dict[str, str]:
    """{field name: stage name} of every ``stage_path`` field of a config dataclass."""
    return {f.name: f.metadata[STAGE_KEY] for f in dataclasses.fields(config)
            if STAGE_KEY in f.metadata}


def _train_hint(stage: str, folder: Path) -> str:
    run = folder.parent if folder.name == "model" else folder
    preset = run.name.removeprefix(f"{stage}-") if run.name.startswith(f"{stage}-") else "PRESET"
    return f"`kinema train {stage} --preset {preset} --out {run}`"


def open_stage(config: Any, field_name: str, map_location: str = "cpu"):
    """The trained model of the stage named by ``config.<field_name>`` (a model folder or its
    run folder), as the stage's registered class; a ``KinemaError`` if it is missing or is not
    that stage."""
    from kinema.pretrained import load_pretrained, model_folder, read_model_class
    from kinema.registry import method_entry

    stages = stage_fields(config)
    if field_name not in stages:
        raise KeyError(f"{type(config).__name__}.{field_name} is not a stage_path field")
    stage = stages[field_name]
    raw = getattr(config, field_name)
    if not raw:
        raise KinemaError(f"model.{field_name} is empty: it must name the folder of a trained "
                          f"{stage} model (--set model.{field_name}=FOLDER)")
    path = Path(raw)
    try:
        folder = model_folder(path)
    except KinemaError:
        raise KinemaError(
            f"the trained {stage} stage (model.{field_name}) is needed at {path}, which holds "
            f"no model: train it first with {_train_hint(stage, path)}, or point the field at "
            f"another folder with --set model.{field_name}=FOLDER") from None
    expected = method_entry(stage).model_class
    found = read_model_class(folder)
    if found != expected:
        raise KinemaError(f"{folder} holds a {found} model, not the {stage} stage "
                          f"({expected}) that model.{field_name} must name")
    model = load_pretrained(folder, map_location=map_location)
    model.stage_source = {"stage": stage, "path": str(folder),
                          "sha256": weights_digest(folder)}
    return model


def weights_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    with open(Path(folder) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_sources(model: Any, **stages: Any) -> None:
    """Keep on ``model.built_from`` which folders its stages were opened from
    (``record_sources(flow, autoencoder_path=ae, ...)`` with models from ``open_stage``);
    stages given as None (already embedded in the config) keep their earlier record."""
    built = dict(getattr(model, "built_from", None) or {})
    for name, stage_model in stages.items():
        if stage_model is not None:
            built[name] = dict(stage_model.stage_source)
    model.built_from = built


def built_from(folder: str | Path) -> dict:
    """What a saved model records of the stage folders it was built from ({} if nothing)."""
    meta = json.loads((Path(folder) / "config.json").read_text())
    return meta.get("built_from") or {}
