"""kinema.validate: config values checked by their type hints, one message naming the field."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from kinema.errors import KinemaError
from kinema.validate import check_config


@dataclass
class Inner:
    width: int = 4


@dataclass
class Config:
    hidden: int = 8
    clamp: float = 2.0
    dropout: float = field(default=0.1, metadata={"range": (0.0, 1.0)})
    layer: int = field(default=-2, metadata={"range": (None, None)})
    widths: tuple = (8, 16)
    vgg_weights: str | None = None
    use_x0: bool = True
    inner: Inner = field(default_factory=Inner)


def test_defaults_pass():
    assert check_config(Config()) == Config()


@pytest.mark.parametrize("changes, message", [
    ({"hidden": -4}, "model.hidden must be an integer >= 0, got -4"),
    ({"hidden": 2.5}, "model.hidden must be an integer >= 0, got 2.5"),
    ({"hidden": True}, "model.hidden must be an integer >= 0, got True"),
    ({"clamp": float("nan")}, "model.clamp must be a finite number, got nan"),
    ({"clamp": float("inf")}, "model.clamp must be a finite number, got inf"),
    ({"clamp": "2"}, "model.clamp must be a finite number, got '2'"),
    ({"dropout": 1.5}, r"model.dropout must be a number in \[0.0, 1.0\], got 1.5"),
    ({"widths": (8, -1)}, r"model.widths must hold integers >= 0, got \(8, -1\)"),
    ({"widths": (1.0, float("nan"))}, "model.widths must hold finite numbers"),
    ({"use_x0": "yes"}, "model.use_x0 must be true or false, got 'yes'"),
    ({"vgg_weights": 3}, "model.vgg_weights must be a string, got 3"),
    ({"hidden": None}, "model.hidden must be set"),
])
def test_bad_values_are_named(changes, message):
    config = Config()
    for k, v in changes.items():
        setattr(config, k, v)
    with pytest.raises(KinemaError, match=message):
        check_config(config)


def test_signed_fields_take_their_own_range():
    config = Config(layer=-7)
    assert check_config(config).layer == -7


def test_nested_fields_carry_their_path():
    with pytest.raises(KinemaError, match="model.inner.width must be an integer >= 0, got -1"):
        check_config(Config(inner=Inner(width=-1)))


def test_a_saved_model_with_a_negative_width_is_refused_before_building(tmp_path):
    from kinema.methods.baselines.config import RepeatLastConfig
    from kinema.methods.baselines.repeat_last import RepeatLastFrame
    from kinema.pretrained import load_pretrained

    folder = RepeatLastFrame(RepeatLastConfig(bank_size=2, height=4, width=4)).save_pretrained(tmp_path / "m")
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["width"] = -3
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(KinemaError, match=r"config.json: config.width must be an integer >= 0, got -3"):
        load_pretrained(folder)
