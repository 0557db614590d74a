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


# ----------------------------------------------------------------- inputs from outside

def test_short_repr_keeps_a_prefix_and_says_the_length():
    from kinema.validate import short_repr

    assert short_repr("abc") == "'abc'" and short_repr(12) == "12"
    long = short_repr("x" * 10_000, 60)
    assert long.startswith("'" + "x" * 60 + "'") and "10000 characters" in long and len(long) < 100
    assert short_repr(10 ** 5000).startswith("an integer of about 500")      # never converted to text
    assert len(short_repr([[1, 2, 3]] * 1000)) <= 63
    nested = []
    for _ in range(5000):
        nested = [nested]
    assert len(short_repr(nested)) <= 63                                    # no RecursionError


@pytest.mark.parametrize("value, kwargs, ok", [
    (3, dict(low=1, high=3, integer=True), True), (4, dict(low=1, high=3, integer=True), False),
    (0, dict(low=0, above=True), False), (1e-300, dict(low=0, above=True), True),
    (2.5, dict(integer=True), False), (True, dict(integer=True), False), (True, {}, False),
    (float("nan"), {}, False), (float("inf"), dict(low=0), False), (-float("inf"), dict(high=0), False),
    (10 ** 400, {}, True), (10 ** 400, dict(high=10 ** 399), False), ("1", {}, False), (None, dict(low=5), True),
])
def test_check_number(value, kwargs, ok):
    from kinema.validate import check_number

    if ok:
        assert check_number("--x", value, **kwargs) is value
    else:
        with pytest.raises(KinemaError, match=r"^--x must be "):
            check_number("--x", value, **kwargs)


def test_seeds_frames_videos_and_work_at_their_limits(monkeypatch):
    import kinema.validate as validate

    assert validate.check_seed("--seed", 2 ** 63 - 1) == 2 ** 63 - 1
    for seed in (2 ** 63, -1, 2 ** 64):
        with pytest.raises(KinemaError, match="--seed"):
            validate.check_seed("--seed", seed)
    monkeypatch.setattr(validate, "MAX_FRAMES", 10)
    monkeypatch.setattr(validate, "MAX_VIDEOS", 3)
    monkeypatch.setattr(validate, "MAX_WORK", 2 * 3 * 10 * 3)
    assert validate.check_frame_count("--frames", 10) == 10 and validate.check_video_count("--num", 3) == 3
    with pytest.raises(KinemaError, match="KINEMA_MAX_FRAMES"):
        validate.check_frame_count("--frames", 11)
    with pytest.raises(KinemaError, match="KINEMA_MAX_VIDEOS"):
        validate.check_video_count("--num", 4)
    assert validate.check_work("w", 2, 3, 10, 3) == 180
    with pytest.raises(KinemaError, match=r"3 video\(s\) x 11 frames x 2x3 px = 198 pixel-frames .*KINEMA_MAX_WORK"):
        validate.check_work("w", 2, 3, 11, 3)


def test_check_config_quotes_a_huge_value_short():
    with pytest.raises(KinemaError) as caught:
        check_config(Config(clamp="n" * 1_000_000))
    assert len(str(caught.value)) < 200 and "1000000 characters" in str(caught.value)
