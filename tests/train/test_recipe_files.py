"""Recipes as files, as a user meets them: `kinema methods` lists presets, `kinema recipe`
prints one, `kinema train --dry-run` prints without training, `kinema train --config FILE`
trains an edited recipe with --set on top."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.commands import run_cli

TOY = "tests.train.toy:recipe"


def test_methods_lists_each_entrys_presets(monkeypatch, capsys):
    from kinema.registry import entries

    code, out, _ = run_cli(["methods"], monkeypatch, capsys)
    assert code == 0
    for entry in entries():
        line = next(l for l in out.splitlines()
                    if l.strip().startswith(entry.name + " ") and "tasks:" in l)
        assert entry.presets, f"{entry.name} lists no presets"
        assert f"presets: {','.join(entry.presets)}" in line


@pytest.mark.parametrize("fmt, parse", [("yaml", yaml.safe_load), ("json", json.loads)])
def test_recipe_prints_the_preset_with_overrides(fmt, parse, monkeypatch, capsys):
    code, out, _ = run_cli(["recipe", "ile", "--preset", "tiny", "--set", "train.lr=0.003",
                            "--format", fmt], monkeypatch, capsys)
    assert code == 0
    from kinema.methods.ile.config import recipe as ile_recipe

    expected = ile_recipe("tiny").to_dict()
    expected["train"]["lr"] = 0.003
    # a stage that draws samples writes them 4 times per run unless its recipe says otherwise
    assert expected["train"]["sample_every"] is None
    expected["train"]["sample_every"] = expected["train"]["steps"] // 4
    printed = parse(out)
    printed["train"]["betas"] = list(printed["train"]["betas"])
    expected["train"]["betas"] = list(expected["train"]["betas"])
    assert printed == json.loads(json.dumps(expected))


def test_dry_run_prints_and_writes_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, text, _ = run_cli(["train", TOY, "--steps", "7", "--set", "model.hidden=5",
                             "--dry-run", "--out", out], monkeypatch, capsys)
    assert code == 0 and not out.exists()
    recipe = yaml.safe_load(text)
    assert recipe["train"]["steps"] == 7 and recipe["model"]["hidden"] == 5


def test_train_from_an_edited_recipe_file_with_set_on_top(tmp_path, monkeypatch, capsys):
    code, text, _ = run_cli(["train", TOY, "--dry-run"], monkeypatch, capsys)
    recipe = yaml.safe_load(text)
    recipe["train"]["steps"] = 4
    recipe["model"]["hidden"] = 6
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "--config", edited, "--set", "train.lr=0.005",
                            "--out", out, "--no-tensorboard"], monkeypatch, capsys)
    assert code == 0, err
    saved = json.loads((out / "recipe.json").read_text())
    assert saved["train"]["steps"] == 4 and saved["train"]["lr"] == 0.005
    assert saved["model"]["hidden"] == 6
    assert saved["data"] == recipe["data"]
    assert json.loads((out / "model" / "config.json").read_text())["config"]["hidden"] == 6
    # the run's own recipe.json trains again as it is (here: 2 more steps, resumed)
    code, _, err = run_cli(["train", "--config", out / "recipe.json", "--steps", "6",
                            "--out", out, "--no-tensorboard"], monkeypatch, capsys)
    assert code == 0, err
    last = (out / "metrics.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["step"] == 6


def test_sections_left_out_keep_the_presets(tmp_path, monkeypatch, capsys):
    from kinema.methods.ile.config import recipe as ile_recipe

    short = tmp_path / "short.json"
    short.write_text(json.dumps({"method": "ile", "preset": "tiny", "train": {"steps": 3}}))
    code, text, err = run_cli(["train", "--config", short, "--set", "model.hidden=4", "--dry-run"],
                              monkeypatch, capsys)
    assert code == 0, err
    printed, preset = yaml.safe_load(text), ile_recipe("tiny").to_dict()
    assert printed["train"]["steps"] == 3 and printed["train"]["lr"] == preset["train"]["lr"]
    assert printed["model"] == {**preset["model"], "hidden": 4}
    assert printed["data"] == json.loads(json.dumps(preset["data"]))
