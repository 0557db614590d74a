"""Hostile inputs, round three: the verbs added since the first rounds (``poke``, ``edit``,
``track``, ``sample``, ``eval``'s metric list, ``data preview``'s grid, ``train``/``recipe``
numbers), frame counts made by other routes than ``--frames``, the work limit, and outputs
that must be placed all or nothing. Each case: exit code 2, one ``error:`` line naming the
input, no traceback, nothing left where the output would go, within the alarm of
``tests/test_hostile_inputs.py`` (everything runs in this process through ``kinema.cli.main``).
The count of (input, entry point) pairs is printed by ``test_the_round_three_corpus``.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import sys

import pytest
import torch

from tests.test_hostile_inputs import assert_refused, good, run_kinema  # noqa: F401  (fixture)

HUGE_SEED = str(2 ** 64)        # torch.Generator.manual_seed overflows at 2**64


@pytest.fixture(scope="module")
def gendef(tmp_path_factory):
    """An untrained tiny gendef-video model folder (its canonical generator built from the
    tiny preset's config) and a picture to paint as its canonical image."""
    from kinema.methods.gendef.config import canonical_config, video_config
    from kinema.methods.gendef.model import GenDeF
    from tests.test_hostile_inputs import _png

    root = tmp_path_factory.mktemp("gendef")
    torch.manual_seed(0)
    config = dataclasses.replace(video_config("tiny"), image=dataclasses.asdict(canonical_config("tiny")),
                                 image_path="")
    GenDeF(config).save_pretrained(root / "run" / "model")
    return {"model": root / "run", "picture": _png(root / "paint.png")}


# verb -> argv for (good materials, out): the options under test are appended. The numbers are
# checked before any model is read, so a missing --model would do; the real one keeps the
# test honest about the order.
VERBS = {
    "animate": lambda g, out: ["animate", g["image"], "--model", g["model"], "--out", out],
    "sample": lambda g, out: ["sample", g["model"], "--out", out],
    "poke": lambda g, out: ["poke", g["image"], "--model", g["model"], "--at", "1,1", "--force", "1,0",
                            "--out", out],
    "edit": lambda g, out: ["edit", g["model"], "--canonical-edit", g["image"], "--out", out],
    "track": lambda g, out: ["track", g["model"], "--points", "1,1", "--out", out],
}

NUMBERS = {   # verb -> [(flag, value, what the message must name)]
    "animate": [("--seed", HUGE_SEED, "--seed"), ("--seed", "-1", "--seed"),
                ("--slowmo", "1e308", "--slowmo"), ("--slowmo", "inf", "--slowmo"),
                ("--slowmo", "1e9", "--slowmo"), ("--magnify", "1e308", "--magnify"),
                ("--magnify", "-inf", "--magnify"), ("--fps", "1e-9", "--fps"), ("--fps", "1e300", "--fps"),
                ("--control", "9" * 30, "--control"), ("--size", "0", "--size"), ("--size", "99999", "--size"),
                ("--frames", "9" * 40, "KINEMA_MAX_FRAMES"), ("--num", "9" * 40, "KINEMA_MAX_VIDEOS")],
    "sample": [("--seed", HUGE_SEED, "--seed"), ("--fps", "nan", "--fps"), ("--fps", "1e-9", "--fps"),
               ("--frames", "1000000000", "KINEMA_MAX_FRAMES"), ("--num", "0", "--num")],
    "poke": [("--damping", "nan", "--damping"), ("--damping", "inf", "--damping"), ("--damping", "-1", "--damping"),
             ("--stiffness", "nan", "--stiffness"), ("--stiffness", "inf", "--stiffness"),
             ("--stiffness", "1e12", "--stiffness"), ("--stiffness", "0", "--stiffness"),
             ("--force", "nan,0", "--force"), ("--force", "inf,1", "--force"), ("--force", "1e300,0", "--force"),
             ("--force", "1,2,3", "--force"), ("--frames", "1000000000", "KINEMA_MAX_FRAMES"),
             ("--frames", "0", "--frames"), ("--modes", "-1", "--modes"), ("--modes", "1000000000", "--modes"),
             ("--seed", "-1", "--seed"), ("--seed", HUGE_SEED, "--seed"), ("--fps", "0", "--fps"),
             ("--at", "nan,1", "--at")],
    "edit": [("--frames", "1000000000", "KINEMA_MAX_FRAMES"), ("--frames", "0", "--frames"),
             ("--seed", HUGE_SEED, "--seed"), ("--seed", "-1", "--seed"), ("--fps", "nan", "--fps")],
    "track": [("--frames", "1000000000", "KINEMA_MAX_FRAMES"), ("--seed", HUGE_SEED, "--seed"),
              ("--fps", "inf", "--fps"), ("--fps", "-8", "--fps")],
    "transfer": [("--control", "9" * 30, "--control"), ("--control", "-1", "--control")],
    "eval": [("--metrics", ",", "--metrics"), ("--metrics", " , ,", "--metrics"), ("--seed", HUGE_SEED, "--seed"),
             ("--num-videos", "-3", "num_videos"), ("--batch-size", "0", "batch_size")],
    "data preview": [("--frames", "10000", "KINEMA_MAX_WORK"), ("--frames", "1000000000", "KINEMA_MAX_FRAMES"),
                     ("--size", "100000", "--size"), ("--fps", "1e-9", "fps"), ("--option", "self=1", "self"),
                     ("--option", "split=test", "split")],
    "train": [("--seed", HUGE_SEED, "--seed"), ("--steps", "9" * 30, "--steps"),
              ("--set", "train.lr=" + "9" * 5000, "digits"), ("--set", "train.lr=!!python/name:os.system", "tag"),
              ("--set", "data.options=" + "[" * 70 + "1" + "]" * 70, "nesting"), ("--set", "data.options={a: 1, a: 2}", "twice"), ("--set", "train.lr=[1, 2", "YAML")],
    "bench": [("--num-videos", "-4", "--num-videos"), ("--num-videos", "0", "--num-videos")],
    "metrics train-extractor": [("--steps", "-1", "--steps"), ("--size", "-8", "--size"),
                                ("--seed", HUGE_SEED, "--seed")],
    "studio": [("--port", "70000", "--port"), ("--workers", "0", "--workers"), ("--threads", "-1", "--threads")],
    "--threads": [("--threads", "0", "--threads"), ("--threads", "100000", "--threads")],
    "recipe": [("--set", "train.lr=nan", "train.lr"), ("--set", "train.lr=-1", "train.lr"),
               ("--set", "train.batch_size=0", "train.batch_size"), ("--set", "data.options=&a [1, *a]", "recursive"),
               ("--set", "train.seed=!!binary aGk=", "tag")],
}


def _argv(verb, flag, value, good, out):
    if verb in VERBS:
        return VERBS[verb](good, out) + [flag, value]
    if verb == "transfer":
        return ["transfer", good["source"], good["image"], "--model", good["model"], "--out", out, flag, value]
    if verb == "eval":
        return ["eval", good["model"], "--data", "clouds", "--task", "image-to-video", "--num-videos", "2",
                "--num-frames", "4", "--option", "size=8", "--metrics", "psnr", "--out", out, flag, value]
    if verb == "data preview":
        return ["data", "preview", "swaying", "--out", out, "--num", "8", "--size", "64", flag, value]
    if verb == "train":
        return ["train", "tests.train.toy:recipe", "--out", out, "--no-tensorboard", "--dry-run", flag, value]
    if verb == "bench":
        return ["bench", "baselines", "--out-dir", out, flag, value]
    if verb == "metrics train-extractor":
        return ["metrics", "train-extractor", "--data", "clouds", "--out", out, flag, value]
    if verb == "studio":
        return ["studio", "--models", out.parent, flag, value]
    if verb == "--threads":
        return [flag, value, "recipe", "ile"]
    return ["recipe", "ile", flag, value]


@pytest.mark.parametrize("verb, flag, value, named", [(v, *case) for v, cases in NUMBERS.items() for case in cases])
def test_numbers_of_every_verb(verb, flag, value, named, good, tmp_path):
    out = tmp_path / {"eval": "results.json", "data preview": "out.mp4"}.get(verb, "out")
    assert_refused(_argv(verb, flag, value, good, out), named, out)


@pytest.mark.parametrize("verb", ["animate", "sample"])
def test_the_work_limit_refuses_before_sampling(verb, good, gendef, tmp_path, monkeypatch):
    """Within the frame and video limits, 256 videos of 10 000 frames of an 8-px (cINN) or
    tiny GenDeF model are hundreds of millions of pixel-frames: refused before the model makes
    a frame (its sampling is never called)."""
    from kinema.methods.cinn.model import CINN
    from kinema.methods.gendef import apps as gendef_apps

    monkeypatch.setattr(CINN, "sample", lambda *a, **k: pytest.fail("sampled past the work limit"))
    monkeypatch.setattr(gendef_apps, "render_seed", lambda *a, **k: pytest.fail("sampled past the work limit"))
    out = tmp_path / "out"
    argv = VERBS["animate"](good, out) if verb == "animate" else ["sample", gendef["model"], "--out", out]
    assert_refused(argv + ["--num", "256", "--frames", "10000"], "KINEMA_MAX_WORK", out)


def test_a_display_size_past_the_work_limit_writes_nothing(good, tmp_path, monkeypatch):
    """--size 4096 on an 8-px model: the videos are made, then refused before upscaling."""
    import kinema.validate

    monkeypatch.setattr(kinema.validate, "MAX_WORK", 4096 * 4096)
    out = tmp_path / "out"
    assert_refused(VERBS["animate"](good, out) + ["--num", "1", "--size", "4096"], "--size 4096", out)


def test_frames_from_slowmo_are_limited(monkeypatch):
    """animate --method dynamics: the frame count --slowmo makes (one period x slowmo) goes
    through KINEMA_MAX_FRAMES and the work limit before any sampling."""
    from types import SimpleNamespace

    from kinema.apps import AnimateOptions
    from kinema.errors import KinemaError
    from kinema.methods.dynamics.cli import check_animation_work

    renderer = SimpleNamespace(motion=SimpleNamespace(period=50, image_size=(16, 16)))
    options = AnimateOptions(num=1, slowmo=1000.0)
    with pytest.raises(KinemaError, match="KINEMA_MAX_FRAMES") as caught:
        check_animation_work(renderer, options)
    assert "--slowmo 1000" in str(caught.value)
    assert check_animation_work(renderer, AnimateOptions(num=1, slowmo=2.0)) == 100
    with pytest.raises(KinemaError, match="KINEMA_MAX_WORK"):
        check_animation_work(renderer, AnimateOptions(num=256, frames=9000, slowmo=1.0))


@pytest.mark.parametrize("kind", ["nan damping", "inf damping", "nan stiffness", "huge stiffness", "nan force"])
def test_the_modal_simulator_refuses_what_would_crash_or_never_end(kind):
    """NaN passed `damping < 0` and eigvals of a NaN matrix crashed MKL (SIGSEGV); a stiffness
    of 1e12 asked for ~10^6 substeps per frame. The simulator's own entry checks refuse both."""
    from kinema.errors import KinemaError
    from kinema.methods.dynamics.modal import MAX_SUBSTEPS, ModalSimulator, modal_basis

    volume = torch.randn(6, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    basis = modal_basis(volume, period=12)
    options = {"nan damping": dict(damping=float("nan")), "inf damping": dict(damping=float("inf")),
               "nan stiffness": dict(stiffness=float("nan")), "huge stiffness": dict(stiffness=1e12)}
    if kind == "nan force":
        with pytest.raises(KinemaError, match="force"):
            ModalSimulator(basis).poke(2, 2, (float("nan"), 0.0))
        return
    with pytest.raises(KinemaError) as caught:
        ModalSimulator(basis, **options[kind])
    assert ("substeps" in str(caught.value)) == (kind == "huge stiffness")
    assert ModalSimulator(basis, stiffness=100.0).substeps <= MAX_SUBSTEPS


@pytest.mark.parametrize("verb", ["animate", "edit", "track"])
def test_a_folder_named_like_an_output_file_replaces_nothing(verb, good, gendef, tmp_path):
    """OUT holds an older output file and a folder named like another output: the command
    fails before anything is replaced, naming OUT's path (not the hidden staging folder)."""
    out = tmp_path / "out"
    out.mkdir()
    kept, blocker = {"animate": ("animation.mp4", "samples.png"), "edit": ("edited.mp4", "edit.png"),
                     "track": ("tracks.mp4", "tracks.png")}[verb]
    (out / kept).write_text("keep me")      # an output of an earlier run, replaced on success
    (out / blocker).mkdir()
    argv = {"animate": VERBS["animate"](good, out) + ["--num", "1"],
            "edit": ["edit", gendef["model"], "--canonical-edit", gendef["picture"], "--frames", "4", "--out", out],
            "track": ["track", gendef["model"], "--points", "1,1", "--frames", "4", "--out", out]}[verb]
    code, text = run_kinema(argv)
    lines = text.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in text, text
    assert str(out / blocker) in lines[0] and ".staging" not in lines[0] and ".out." not in lines[0], lines[0]
    assert (out / kept).read_text() == "keep me" and (out / blocker).is_dir()
    assert sorted(p.name for p in out.iterdir()) == sorted([kept, blocker])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]          # no staging folder left


def test_edit_and_track_work_within_the_limits(gendef, tmp_path):
    """The same commands, unblocked, write their files (the checks refuse only the hostile)."""
    code, text = run_kinema(["track", gendef["model"], "--points", "1,1;2,3", "--frames", "4", "--out", tmp_path / "t"])
    assert code == 0, text
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["tracks.json", "tracks.mp4", "tracks.png"]


@pytest.mark.parametrize("name", ["a.txt", "notes.json", "clip.avi"])
def test_a_file_like_out_for_a_folder_output(name, good, tmp_path):
    out = tmp_path / name
    assert_refused(VERBS["animate"](good, out), name, out)


def test_the_base_pretrained_class_is_no_model(good, tmp_path):
    """config.json naming ``kinema.pretrained:Pretrained`` (the mixin, no config class)."""
    import json
    import shutil

    from kinema.errors import KinemaError
    from kinema.pretrained import load_pretrained

    folder = tmp_path / "model"
    shutil.copytree(good["model"] / "model", folder)
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**meta, "class": "kinema.pretrained:Pretrained"}))
    with pytest.raises(KinemaError, match="not a kinema model"):
        load_pretrained(folder)
    out = tmp_path / "results.json"
    assert_refused(["eval", folder, "--data", "clouds", "--num-videos", "2", "--out", out],
                   "kinema.pretrained:Pretrained", out)


@pytest.mark.parametrize("where", ["config.json", "recipe.json"])
@pytest.mark.parametrize("text, words", [("[" * 30_000 + "]" * 30_000, "nesting deeper than 64"),
                                         ('{"config": ' + "9" * 5000 + "}", "5000 digits")])
def test_json_files_past_the_parser_bounds(where, text, words, good, tmp_path):
    """Python's JSON parser recursed into a RecursionError (and refused > 4300 digits with a
    ValueError): both took the bug path from a model folder's config.json or a --config file."""
    import shutil

    if where == "config.json":
        folder = tmp_path / "model"
        shutil.copytree(good["model"] / "model", folder)
        (folder / "config.json").write_text(text)
        out = tmp_path / "out"
        assert_refused(VERBS["animate"]({**good, "model": folder}, out), words, out)
    else:
        (tmp_path / "recipe.json").write_text(text)
        out = tmp_path / "run"
        assert_refused(["train", "--config", tmp_path / "recipe.json", "--out", out], words, out)


def test_sigterm_cleans_the_staging_folder(tmp_path):
    """A timeout's SIGTERM mid-command: SystemExit(143) and the staging folder removed, as on
    any error (kinema.errors.terminated_as_exit)."""
    from kinema.errors import TERMINATED_EXIT, run_user_command
    from kinema.outputs import write_staged

    def write(staging):
        (staging / "half.mp4").write_bytes(b"half a video")
        os.kill(os.getpid(), signal.SIGTERM)
        pytest.fail("SIGTERM did not stop the command")

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as caught:
        run_user_command(write_staged, tmp_path / "out", write)
    assert caught.value.code == TERMINATED_EXIT
    assert list(tmp_path.iterdir()) == [] and signal.getsignal(signal.SIGTERM) is previous


def test_recipe_and_dry_run_print_what_they_checked(tmp_path):
    """A 351-byte alias bomb in a recipe file: one short line, in bounded memory."""
    import tracemalloc

    text = "method: tests.train.toy:recipe\ntrain:\n  a: &a [x,x,x,x,x,x,x,x,x]\n"
    for level, name in enumerate("bcdefghi"):
        text += f"  {name}: &{name} [{','.join(['*' + 'abcdefghi'[level]] * 9)}]\n"
    text += "  lr: *i\n"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    tracemalloc.start()
    code, message = run_kinema(["train", "--config", recipe, "--dry-run"])    # under the hang alarm
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2 and len(message) < 300 and "expands to more than" in message, message
    assert peak < 50 * 2 ** 20, peak              # the expanded document would be gigabytes
    code, printed = run_kinema(["recipe", "ile", "--set", "train.lr=0.001", "--format", "json"])
    assert code == 0 and '"lr": 0.001' in printed


def test_the_round_three_corpus():
    """The corpus size docs/errors.md quotes, counted from this module's own cases (each
    parametrised combination one pair), so it follows the tests rather than a typed list."""
    import inspect
    import math

    cases = 0
    for name, test in inspect.getmembers(sys.modules[__name__], inspect.isfunction):
        if not name.startswith("test_") or name == "test_the_round_three_corpus":
            continue
        grids = [len(mark.args[1]) for mark in getattr(test, "pytestmark", [])
                 if mark.name == "parametrize"]
        cases += math.prod(grids)
    print(f"hostile corpus, round three (CLI): {cases} (input, entry point) pairs")
    assert cases >= 105
