"""The package's shared core: save format, configs and overrides, registry, CLI errors."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from kinema.config import DataConfig, Recipe, TrainConfig, apply_overrides
from kinema.errors import KinemaError
from kinema.pretrained import Pretrained, config_from_dict, load_pretrained


@dataclass
class _Inner:
    width: int = 4


@dataclass
class _TinyConfig:
    channels: int = 3
    hidden: int = 5
    sizes: tuple = (1, 2)
    inner: _Inner = field(default_factory=_Inner)


class _TinyModel(nn.Module, Pretrained):
    config_class = _TinyConfig

    def __init__(self, config: _TinyConfig):
        super().__init__()
        self.config = config
        self.net = nn.Linear(config.channels, config.hidden)
        self.register_buffer("perm", torch.randperm(config.hidden))


def test_save_load_round_trip(tmp_path):
    model = _TinyModel(_TinyConfig(channels=2, hidden=7, sizes=(3, 4)))
    model.save_pretrained(tmp_path / "m")
    loaded = _TinyModel.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    # saving again over an existing folder replaces it atomically and leaves no temp dirs
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_load_missing_file_names_it(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        _TinyModel.from_pretrained(tmp_path / "m")


def test_load_pretrained_refuses_foreign_classes(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"class": "os:system", "config": {}}))
    with pytest.raises(KinemaError, match="outside kinema"):
        load_pretrained(tmp_path / "m")


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="hiden"):
        config_from_dict(_TinyConfig, {"hiden": 3})
    cfg = config_from_dict(_TinyConfig, {"inner": {"width": 9}, "sizes": [5, 6]})
    assert cfg.inner.width == 9 and cfg.sizes == (5, 6)


@dataclass
class _StagedConfig:
    retired_fields = ("lr",)          # written by older versions, read and dropped
    depth: int = 2
    inner: _Inner | None = None       # an embedded config, filled in once built


def test_config_from_dict_builds_optional_dataclass_fields_and_drops_retired_keys():
    cfg = config_from_dict(_StagedConfig, json.loads(json.dumps(
        {"depth": 3, "inner": {"width": 9}, "lr": 1e-3})))
    assert cfg == _StagedConfig(depth=3, inner=_Inner(width=9))
    assert config_from_dict(_StagedConfig, {"inner": None}).inner is None
    with pytest.raises(ValueError, match="hiden"):        # retired keys are not a loophole
        config_from_dict(_StagedConfig, {"hiden": 3})
    with pytest.raises(ValueError, match="lr"):           # only the class's own retired list
        config_from_dict(_TinyConfig, {"lr": 1e-3})


def test_recipe_overrides_and_round_trip():
    recipe = Recipe(method="x", preset="tiny", model=_TinyConfig(), train=TrainConfig(),
                    data=DataConfig(name="bouncing-digits", options={"size": 32}))
    apply_overrides(recipe, ["train.lr=1e-3", "model.inner.width=11", "data.options.size=64",
                             "train.betas=[0.5, 0.9]"])
    assert recipe.train.lr == 1e-3 and recipe.model.inner.width == 11
    assert recipe.data.options["size"] == 64 and recipe.train.betas == (0.5, 0.9)
    again = Recipe.from_dict(json.loads(json.dumps(recipe.to_dict())), _TinyConfig)
    assert again.to_dict() == recipe.to_dict()
    with pytest.raises(ValueError, match="no such config field"):
        apply_overrides(recipe, ["train.lrr=1"])


def test_unknown_dataset_and_method_are_clear():
    from kinema.data import load_dataset
    from kinema.errors import KinemaError
    from kinema.registry import method_entry

    with pytest.raises(KinemaError, match="unknown dataset 'nope'"):
        load_dataset("nope")
    with pytest.raises(KeyError, match="unknown method"):
        method_entry("nope")


def test_cli_user_error_is_one_line(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c",
                           "import sys; sys.argv=['kinema','methods']; "
                           "from kinema.errors import KinemaError; import kinema.cli as c; "
                           "[cmd for cmd in c.app.registered_commands if cmd.name == 'methods'][0].callback = "
                           "lambda: (_ for _ in ()).throw(KinemaError('bad input x.mp4')); c.main()"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: bad input x.mp4"


def test_saved_files_share_the_folder_mode(tmp_path):
    import os
    import stat

    folder = _TinyModel(_TinyConfig()).save_pretrained(tmp_path / "m")
    modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in folder.iterdir()}
    assert modes["model.safetensors"] == modes["config.json"], modes
