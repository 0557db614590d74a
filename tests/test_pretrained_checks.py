"""A model folder is checked before any tensor is built: every broken file is one KinemaError
naming it (no SafetensorError, JSONDecodeError, RuntimeError from a negative width...)."""
from __future__ import annotations

import json

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.baselines.config import RepeatLastConfig
from kinema.methods.baselines.repeat_last import RepeatLastFrame
from kinema.pretrained import load_pretrained


@pytest.fixture
def folder(tmp_path):
    model = RepeatLastFrame(RepeatLastConfig(bank_size=2, channels=1, height=4, width=4))
    return model.save_pretrained(tmp_path / "m")


def _edit_config(folder, edit):
    meta = json.loads((folder / "config.json").read_text())
    edit(meta)
    (folder / "config.json").write_text(json.dumps(meta))


def test_a_good_folder_loads(folder):
    assert isinstance(load_pretrained(folder), RepeatLastFrame)


@pytest.mark.parametrize("text, expected", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"class": 3, "config": {}}', "'class' must name the model"),
    ('{"class": "kinema.methods.baselines.repeat_last:RepeatLastFrame", "config": []}',
     "'config' must be a JSON object"),
    ('{"class": "kinema.nope:Model", "config": {}}', "does not exist"),
    ('{"class": "kinema.errors:KinemaError", "config": {}}', "is not a kinema model"),
])
def test_broken_config_json(folder, text, expected):
    (folder / "config.json").write_text(text)
    with pytest.raises(KinemaError, match=expected):
        load_pretrained(folder)


def test_unknown_field_is_named(folder):
    _edit_config(folder, lambda m: m["config"].update(no_such_field=1))
    with pytest.raises(KinemaError, match="no_such_field"):
        load_pretrained(folder)


@pytest.mark.parametrize("blob", [b"", b"\x00" * 7, b"garbage that is not safetensors at all"])
def test_truncated_or_foreign_weights(folder, blob):
    (folder / "model.safetensors").write_bytes(blob)
    with pytest.raises(KinemaError, match="model.safetensors is not a readable safetensors file"):
        load_pretrained(folder)


def test_half_a_weights_file(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(KinemaError, match="model.safetensors"):
        load_pretrained(folder)


def test_weights_of_another_model(folder, tmp_path):
    from safetensors.torch import save_file

    save_file({"other.weight": torch.zeros(2)}, str(folder / "model.safetensors"))
    with pytest.raises(KinemaError, match=r"2 missing key\(s\) \['bank', 'fitted'\], 1 unexpected \['other.weight'\]"):
        load_pretrained(folder)


def test_nan_weights_are_refused(folder):
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].clone().fill_(float("nan"))
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(KinemaError, match=f"non-finite weights .* e.g. {key}"):
        load_pretrained(folder)


def test_missing_weights_file(folder):
    (folder / "model.safetensors").unlink()
    with pytest.raises(KinemaError, match="model.safetensors is missing"):
        load_pretrained(folder)
