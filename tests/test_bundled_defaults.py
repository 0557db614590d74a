"""The bundled models are the defaults: every verb without ``--model`` (``sample`` without RUN)
reads its bundled model, ``--method`` chooses among the bundled ones, a bundled model's name
works wherever a model folder is read (``--model``, RUN, ``kinema.pipelines.load``), the about:
line names the bundled model, and a missing bundled model is one error naming the file and the
make target. Against the tiny bundle of ``tests/tiny_bundle.py`` (``KINEMA_BUNDLED``)."""
from __future__ import annotations

import shutil

import pytest

from tests.test_hostile_inputs import _png, run_kinema

MAKE_TARGET = "make -f benchmarks/runs.mk bundled-models"


@pytest.fixture
def bundle(tiny_bundled_models, monkeypatch, tmp_path):
    """The tiny bundle as the bundled models, from a working folder with no folder named like one."""
    monkeypatch.setenv("KINEMA_BUNDLED", str(tiny_bundled_models))
    monkeypatch.chdir(tmp_path)
    return tiny_bundled_models


@pytest.fixture
def picture(tmp_path):
    return _png(tmp_path / "picture.png", 24, 20)


@pytest.fixture
def source(tmp_path):
    """A clip to transfer the motion of: a bright square drifting right."""
    import torch

    from kinema.data.io import write_video

    clip = -torch.ones(8, 3, 16, 16)
    for t in range(8):
        clip[t, :, 5:10, t:t + 5] = 1
    return write_video(tmp_path / "source.mp4", clip)


def about_line(text: str) -> str:
    """The about: line a verb printed (stderr), without its out-of-domain sentence."""
    [line] = [line for line in text.splitlines() if line.startswith("about: ")]
    return line.split(". This picture")[0]


def succeeded(argv) -> str:
    code, text = run_kinema(argv)
    assert code == 0, text
    return text


# ------------------------------------------------------------------------------ each verb

def test_animate_without_a_model_reads_the_bundled_dynamics_model(bundle, picture, tmp_path):
    text = succeeded(["animate", picture, "--frames", "4", "--out", tmp_path / "out"])
    assert about_line(text) == ("about: bundled dynamics: dynamics-render (tiny), 16x16, trained 4 steps "
                                "on swaying (synthetic)")
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["animation.mp4", "preview.gif", "samples.png", "spectral-volume.png"]


@pytest.mark.parametrize("method, extra, name", [
    ("cinn", [], "bundled cinn: cinn-flow (tiny-clouds)"),
    ("cinn-flow", [], "bundled cinn: cinn-flow (tiny-clouds)"),             # an entry: its family's first
    ("cinn-control", ["--control", "3"], "bundled cinn-control: cinn-flow (tiny-clouds-control)"),
    ("dynamics", ["--frames", "4"], "bundled dynamics: dynamics-render (tiny)"),
])
def test_method_chooses_among_the_bundled_models(method, extra, name, bundle, picture, tmp_path):
    text = succeeded(["animate", picture, "--method", method, "--num", "1", *extra,
                      "--out", tmp_path / "out"])
    assert about_line(text).startswith(f"about: {name}, "), text
    assert (tmp_path / "out" / "spectral-volume.png").exists() == (method == "dynamics")


@pytest.mark.parametrize("method, named", [
    ("gendef", "gendef has no `kinema animate`; methods that have it: cinn, cinn-flow, dynamics"),
    ("ile", "ile has no `kinema animate`"),
    ("no-such", "--method 'no-such' is no registered method"),
])
def test_a_method_without_the_verb_is_one_clear_error(method, named, bundle, picture, tmp_path):
    code, text = run_kinema(["animate", picture, "--method", method, "--out", tmp_path / "out"])
    assert code == 2 and text.splitlines() == [text.splitlines()[0]], text
    assert text.startswith("error: ") and named in text, text
    assert not (tmp_path / "out").exists()


GENDEF = "bundled gendef: gendef-video (tiny), 8x8, trained 4 steps on clouds (synthetic)"
# its recipe made standalone by the export: the embedded frames' source, not the embedding run
LATENTGAN = ("bundled latentgan: latentgan-temporal (tiny), 16x16, trained 4 steps on actors (synthetic, "
             "num_identities=1)")


@pytest.mark.parametrize("argv, about, written", [
    (["sample", "--num", "1", "--frames", "4"], GENDEF, "canonical.png"),
    (["sample", "--method", "latentgan", "--frames", "8"], LATENTGAN, "trajectory.svg"),
    (["sample", "latentgan", "--frames", "8"], LATENTGAN, "trajectory.svg"),      # a bundled name as RUN
])
def test_sample_without_a_run_reads_the_bundled_generator(argv, about, written, bundle, tmp_path):
    text = succeeded([*argv, "--out", tmp_path / "out"])
    assert about_line(text) == f"about: {about}", text
    assert (tmp_path / "out" / written).is_file()


def test_poke_edit_track_and_transfer_read_their_bundled_models(bundle, picture, source, tmp_path):
    poke = succeeded(["poke", picture, "--at", "3,4", "--force", "2,0", "--frames", "4",
                      "--out", tmp_path / "poke"])
    assert about_line(poke) == ("about: bundled dynamics: dynamics-render (tiny), 16x16, trained 4 steps "
                                "on swaying (synthetic)")
    gendef = f"about: {GENDEF}"
    edit = succeeded(["edit", "--canonical-edit", picture, "--frames", "4", "--out", tmp_path / "edit"])
    track = succeeded(["track", "--points", "1,2", "--frames", "4", "--out", tmp_path / "track"])
    assert about_line(edit) == about_line(track) == gendef
    assert (tmp_path / "edit" / "edited.mp4").is_file() and (tmp_path / "track" / "tracks.json").is_file()
    transfer = succeeded(["transfer", source, picture, "--out", tmp_path / "transfer"])
    assert about_line(transfer).startswith("about: bundled cinn-control: cinn-flow (tiny-clouds-control), 8x8")
    assert "eta = " in transfer                 # the control model reads eta from the source's motion


@pytest.mark.parametrize("argv", [
    lambda p, s: ["animate", p, "--model", "cinn", "--num", "1"],
    lambda p, s: ["poke", p, "--model", "dynamics", "--at", "1,1", "--force", "1,0", "--frames", "4"],
    lambda p, s: ["edit", "gendef", "--canonical-edit", p, "--frames", "4"],
    lambda p, s: ["transfer", s, p, "--model", "cinn"],
])
def test_a_bundled_name_is_read_wherever_a_model_folder_is(argv, bundle, picture, source, tmp_path):
    args = argv(picture, source)
    name = next(a for a in args if a in ("cinn", "dynamics", "gendef"))
    text = succeeded([*args, "--out", tmp_path / "out"])
    assert about_line(text).startswith(f"about: bundled {name}: "), text


def test_kinema_eval_reads_a_bundled_name(bundle, tmp_path):
    import json

    succeeded(["eval", "cinn", "--data", "clouds", "--task", "image-to-video", "--num-videos", "2",
               "--num-frames", "4", "--option", "size=8", "--metrics", "psnr", "--out", tmp_path / "r.json"])
    record = json.loads((tmp_path / "r.json").read_text())["model"]
    assert record == {"run": str(bundle / "cinn"), "kind": "model folder"}


def test_a_folder_named_like_a_bundled_model_is_the_folder(bundle, picture, tmp_path):
    """`--model cinn` where ./cinn exists reads ./cinn (here a copy of the gendef model: so the
    sample verb serves it), and its about: line names no bundled model."""
    shutil.copytree(bundle / "gendef", tmp_path / "cinn")
    text = succeeded(["sample", "cinn", "--num", "1", "--frames", "4", "--out", tmp_path / "out"])
    assert about_line(text).startswith("about: gendef-video (tiny), 8x8, trained 4 steps"), text


# ----------------------------------------------------------------- a missing bundled model

@pytest.mark.parametrize("argv, name", [
    (lambda p: ["animate", p], "dynamics"),
    (lambda p: ["animate", p, "--method", "cinn"], "cinn"),
    (lambda p: ["sample"], "gendef"),
    (lambda p: ["sample", "--method", "latentgan"], "latentgan"),
    (lambda p: ["poke", p, "--at", "1,1", "--force", "1,0"], "dynamics"),
    (lambda p: ["edit", "--canonical-edit", p], "gendef"),
    (lambda p: ["track", "--points", "1,1"], "gendef"),
    (lambda p: ["transfer", p, p], "cinn-control"),
    (lambda p: ["eval", "gendef", "--data", "clouds"], "gendef"),
])
def test_a_missing_bundled_model_is_one_error_naming_the_file_and_make_target(argv, name, picture, tmp_path,
                                                                              monkeypatch):
    empty = tmp_path / "no-bundle"
    empty.mkdir()
    monkeypatch.setenv("KINEMA_BUNDLED", str(empty))
    monkeypatch.chdir(tmp_path)
    code, text = run_kinema([*argv(picture), "--out", tmp_path / "out"])
    assert code == 2 and len(text.strip().splitlines()) == 1, text
    assert text.startswith(f"error: the bundled model {name!r} is missing {empty / name / 'config.json'}"), text
    assert MAKE_TARGET in text and not (tmp_path / "out").exists()


def test_missing_weights_are_named_as_such(tiny_bundled_models, picture, tmp_path, monkeypatch):
    partial = tmp_path / "partial"
    (partial / "dynamics").mkdir(parents=True)
    shutil.copy2(tiny_bundled_models / "dynamics" / "config.json", partial / "dynamics" / "config.json")
    monkeypatch.setenv("KINEMA_BUNDLED", str(partial))
    code, text = run_kinema(["animate", picture, "--out", tmp_path / "out"])
    assert code == 2 and f"is missing {partial / 'dynamics' / 'model.safetensors'}" in text, text


# ------------------------------------------------------------------------ help and Python

@pytest.mark.parametrize("argv, default", [
    (["animate"], "the bundled dynamics model"), (["sample"], "the bundled gendef model"),
    (["poke"], "the bundled dynamics model"), (["edit"], "the bundled gendef model"),
    (["track"], "the bundled gendef model"), (["transfer"], "the bundled cinn-control model"),
    (["studio"], "bundled models"),
])
def test_help_says_the_default(argv, default):
    import re

    code, text = run_kinema([*argv, "--help"])
    assert code == 0 and default in re.sub(r"[\s│]+", " ", text), text


def test_pipelines_load_a_bundled_name(bundle, picture, tmp_path):
    import kinema.pipelines as pipelines

    pipe = pipelines.load("cinn")
    assert isinstance(pipe, pipelines.ImageToVideoPipeline) and pipe.folder == bundle / "cinn"
    video = pipe(picture, num_frames=4, num_samples=2, seed=0)
    assert video.frames.shape == (2, 4, 8, 8, 3)
    assert video.info["about"]["model"] == "bundled cinn: cinn-flow (tiny-clouds)"
    generator = pipelines.load("gendef")
    assert isinstance(generator, pipelines.GenerationPipeline) and generator.folder == bundle / "gendef"
    assert generator(num_videos=1, num_frames=3).info["about"]["steps"] == 4
    shutil.copytree(bundle / "gendef", tmp_path / "cinn")        # a folder here named like one
    assert isinstance(pipelines.load("cinn"), pipelines.GenerationPipeline)


def test_pipelines_load_says_a_missing_bundled_model(tmp_path, monkeypatch):
    import kinema.pipelines as pipelines
    from kinema.errors import KinemaError

    monkeypatch.setenv("KINEMA_BUNDLED", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KinemaError, match=f"'dynamics' is missing .*config.json.*{MAKE_TARGET}"):
        pipelines.load("dynamics")


def test_the_readme_table_is_kinema_bundled():
    """README's table of bundled models: each BUNDLED entry, its run, and the verbs it is the
    default of (a verb served by an earlier entry is reached through --method)."""
    import re
    from pathlib import Path

    from kinema.bundled import BUNDLED

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `([\w-]+)` \| `runs/([\w-]+)` \| (.*) \|$", readme, re.M)
    assert [(name, run) for name, run, _ in rows] == [(b.name, b.run) for b in BUNDLED]
    for (name, _, defaults), entry in zip(rows, BUNDLED):
        for verb in entry.verbs:
            assert f"`kinema {verb}" in defaults, (name, verb, defaults)


# -------------------------------------------------------- the real bundled models, when made

def real_bundled(name: str):
    """kinema/bundled/models/NAME, or a skip saying it is not made yet."""
    from pathlib import Path

    import kinema.bundled

    folder = Path(kinema.bundled.__file__).parent / "models" / name
    if not (folder / "config.json").is_file():
        pytest.skip(f"kinema/bundled/models/{name} is not made yet (`{MAKE_TARGET}`)")
    return folder


@pytest.mark.parametrize("name", ["dynamics", "cinn", "cinn-control", "gendef", "latentgan", "ile"])
def test_each_real_bundled_model_is_its_verbs_default_and_says_what_it_is(name, monkeypatch):
    """Without KINEMA_BUNDLED the verbs read kinema/bundled/models; each model's about names it,
    the stage and preset of its run (kinema.bundled.BUNDLED), its data and steps."""
    from kinema import bundled
    from kinema.default_models import model_for
    from kinema.pretrained import read_model_class
    from kinema.provenance import describe
    from kinema.registry import entry_for_class

    monkeypatch.delenv("KINEMA_BUNDLED", raising=False)
    folder = real_bundled(name)
    entry = bundled.BY_NAME[name]
    for verb in entry.verbs:
        assert model_for(verb, None, name) == folder
        assert (model_for(verb) == folder) == (name == next(b.name for b in bundled.BUNDLED if verb in b.verbs))
    stage = entry_for_class(read_model_class(folder)).name
    assert entry.run.startswith(f"{stage}-")
    about = describe(folder)
    assert about["model"] == f"bundled {name}: {stage} ({entry.run[len(stage) + 1:]})"
    assert about["data"] and about["resolution"] and isinstance(about["steps"], int), about


@pytest.mark.slow
def test_kinema_animate_picture_on_the_real_bundle(picture, tmp_path, monkeypatch):
    monkeypatch.delenv("KINEMA_BUNDLED", raising=False)
    real_bundled("dynamics")
    text = succeeded(["animate", picture, "--out", tmp_path / "out"])
    assert about_line(text).startswith("about: bundled dynamics: dynamics-render (small150), ")
    assert (tmp_path / "out" / "animation.mp4").is_file()
