"""kinema.stages: the one loader of earlier training stages, and what a model records of them."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from kinema.errors import KinemaError
from kinema.pretrained import Pretrained
from kinema.registry import METHODS, MethodEntry
from kinema.stages import built_from, open_stage, record_sources, stage_fields, stage_path, weights_digest


@dataclass
class EarlyConfig:
    width: int = 3


class Early(nn.Module, Pretrained):
    config_class = EarlyConfig

    def __init__(self, config: EarlyConfig):
        super().__init__()
        self.config = config
        self.net = nn.Linear(config.width, config.width)


@dataclass
class LateConfig:
    early_path: str = stage_path("test-early", "")
    early: dict | None = None
    scale: float = 2.0


class Late(nn.Module, Pretrained):
    config_class = LateConfig

    def __init__(self, config: LateConfig):
        super().__init__()
        self.config = config
        self.net = nn.Linear(2, 2)


@pytest.fixture
def early_entry():
    METHODS["test-early"] = MethodEntry(name="test-early", model_class=f"{__name__}:Early",
                                        recipe=f"{__name__}:EarlyConfig", tasks=(), summary="")
    yield
    METHODS.pop("test-early")


def test_stage_fields_name_the_stage():
    assert stage_fields(LateConfig()) == {"early_path": "test-early"}


def test_open_stage_reads_a_run_folder_and_the_model_folder(tmp_path, early_entry):
    early = Early(EarlyConfig(width=4))
    early.save_pretrained(tmp_path / "run" / "model")
    for path in (tmp_path / "run", tmp_path / "run" / "model"):
        loaded = open_stage(LateConfig(early_path=str(path)), "early_path")
        assert torch.equal(loaded.net.weight, early.net.weight)
        assert loaded.stage_source == {"stage": "test-early", "path": str(tmp_path / "run" / "model"),
                                       "sha256": weights_digest(tmp_path / "run" / "model")}


def test_a_missing_stage_names_field_folder_and_command(tmp_path, early_entry):
    missing = tmp_path / "test-early-small"
    with pytest.raises(KinemaError) as err:
        open_stage(LateConfig(early_path=str(missing)), "early_path")
    message = str(err.value)
    assert "model.early_path" in message and str(missing) in message
    assert f"kinema train test-early --preset small --out {missing}" in message


def test_a_folder_of_another_class_is_refused(tmp_path, early_entry):
    Late(LateConfig()).save_pretrained(tmp_path / "late")
    with pytest.raises(KinemaError, match=f"holds a {__name__}:Late model, not the test-early stage"):
        open_stage(LateConfig(early_path=str(tmp_path / "late")), "early_path")


def test_built_from_survives_save_and_load(tmp_path, early_entry):
    Early(EarlyConfig()).save_pretrained(tmp_path / "early")
    config = LateConfig(early_path=str(tmp_path / "early"))
    late = Late(config)
    record_sources(late, early_path=open_stage(config, "early_path"))
    late.save_pretrained(tmp_path / "late")
    record = built_from(tmp_path / "late")
    assert record["early_path"]["path"] == str(tmp_path / "early")
    assert record["early_path"]["sha256"] == weights_digest(tmp_path / "early")
    # loaded again (no stage folder opened), the record is kept and written on the next save
    again = Late.from_pretrained(tmp_path / "late")
    assert again.built_from == record
    record_sources(again, early_path=None)
    again.save_pretrained(tmp_path / "late2")
    assert json.loads((tmp_path / "late2" / "config.json").read_text())["built_from"] == record
