"""The shared verbs: which method's handler serves a model folder, and the options' contract."""
from __future__ import annotations

import pytest

from kinema.apps import AnimateOptions, SampleOptions, choose_entry
from kinema.errors import KinemaError
from kinema.registry import MethodEntry


@pytest.fixture
def registry(monkeypatch):
    """A registry of three families: a two-stage image-to-video method whose second stage has
    the verb, a generator with `sample`, and a predictor with no shared verb."""
    from kinema import registry as module

    module._load_builtin()
    entries = [
        MethodEntry(name="wave-vae", model_class="pkg.wave:VAE", recipe="pkg:r", tasks=(),
                    summary="", family="wave"),
        MethodEntry(name="wave-diffusion", model_class="pkg.wave:Diffusion", recipe="pkg:r",
                    tasks=("ImageToVideo",), summary="", family="wave",
                    apps={"animate": "pkg.wave.cli:animate"}),
        MethodEntry(name="gen", model_class="pkg.gen:Generator", recipe="pkg:r",
                    tasks=("Generation",), summary="", apps={"sample": "pkg.gen:sample"}),
        MethodEntry(name="predictor", model_class="pkg.pred:Predictor", recipe="pkg:r",
                    tasks=("Prediction",), summary=""),
    ]
    monkeypatch.setattr(module, "METHODS", {e.name: e for e in entries})
    return module


def _folder(tmp_path, target: str, name: str = "model"):
    import json

    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"class": target, "config": {}}))
    return folder


def test_the_folder_class_chooses_the_entry_or_its_family_stage(registry, tmp_path):
    diffusion = _folder(tmp_path, "pkg.wave:Diffusion", "diffusion")
    assert choose_entry("animate", diffusion).name == "wave-diffusion"
    vae = _folder(tmp_path, "pkg.wave:VAE", "vae")     # the stage without the verb: its family's
    assert choose_entry("animate", vae).name == "wave-diffusion"
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text((diffusion / "config.json").read_text())
    assert choose_entry("animate", run).name == "wave-diffusion"      # a run folder too
    assert choose_entry("sample", _folder(tmp_path, "pkg.gen:Generator", "g")).name == "gen"


def test_method_names_a_family_or_an_entry(registry, tmp_path):
    anything = tmp_path / "not-read"
    assert choose_entry("animate", anything, method="wave").name == "wave-diffusion"
    assert choose_entry("animate", anything, method="wave-vae").name == "wave-diffusion"
    assert choose_entry("sample", anything, method="gen").name == "gen"


@pytest.mark.parametrize("verb, target, method, message", [
    ("animate", "pkg.pred:Predictor", None,
     "holds a predictor model; no stage of predictor has `kinema animate` (methods that have "
     "it: wave, wave-diffusion)"),
    ("animate", "other.pkg:Net", None,
     "holds a other.pkg:Net model, which no registered method trains; pass --method"),
    ("sample", "pkg.wave:Diffusion", None, "no stage of wave has `kinema sample` (methods "
     "that have it: gen)"),
    ("animate", "pkg.gen:Generator", "gen", "gen has no `kinema animate`; methods that have "
     "it: wave, wave-diffusion"),
    ("animate", "pkg.gen:Generator", "wavy", "--method 'wavy' is no registered method"),
])
def test_no_handler_is_one_clear_error(registry, tmp_path, verb, target, method, message):
    with pytest.raises(KinemaError) as caught:
        choose_entry(verb, _folder(tmp_path, target), method=method)
    assert message in str(caught.value)


def test_a_missing_folder_is_a_clear_error(registry, tmp_path):
    with pytest.raises(KinemaError, match="is not a model folder"):
        choose_entry("animate", tmp_path / "nowhere")


def test_refuse_names_every_set_unsupported_option():
    options = AnimateOptions(num=2, loop=True, magnify=3.0)
    options.refuse(unsupported=("slowmo", "control"), method="m")      # not set: no error
    with pytest.raises(KinemaError) as caught:
        options.refuse(unsupported=("loop", "slowmo", "magnify"), method="cinn")
    assert str(caught.value) == ("cinn does not support --loop, --magnify (they cannot be used "
                                 "with this model)")
    with pytest.raises(ValueError, match="no option"):
        options.refuse(unsupported=("identity",))                       # a typo is a bug


def test_with_defaults_fills_only_what_was_not_given():
    options = SampleOptions(num=3, seed=0).with_defaults(num=8, seed=5, frames=16, fps=8.0)
    assert (options.num, options.seed, options.frames, options.fps) == (3, 0, 16, 8.0)
    assert options.identity is None
    assert SampleOptions(fps=4.0).given() == ["fps"]


def test_the_verbs_check_numbers_before_any_model_is_read(tmp_path):
    from typer.testing import CliRunner

    from kinema.cli import app

    for flag, value, message in (("--num", "0", "--num must be an integer >= 1, got 0"),
                                 ("--fps", "nan", "--fps must be a finite number in [0.1, 1000.0], got nan"),
                                 ("--slowmo", "inf", "--slowmo must be a finite number in (0, 1000.0], got inf"),
                                 ("--seed", "-1", "--seed must be an integer in [0, 9223372036854775807], got -1")):
        result = CliRunner().invoke(app, ["animate", "x.png", "--model", str(tmp_path), flag, value])
        assert isinstance(result.exception, KinemaError), flag
        assert str(result.exception) == message
