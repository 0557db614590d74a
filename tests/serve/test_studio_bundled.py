"""``kinema studio`` without ``--models`` serves the bundled models (``kinema.bundled.root()``),
each result labelled with the bundled model that made it (a bundled folder holds its
recipe.json and metrics.jsonl beside config.json), and a tab without a model says where the
bundled models are or how to make them. Against the tiny bundle (``tests/tiny_bundle.py``)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve.conftest import make_client, run_job
from tests.test_hostile_inputs import run_kinema

MAKE_TARGET = "make -f benchmarks/runs.mk bundled-models"
NAMES = ["dynamics", "cinn", "cinn-control", "gendef", "latentgan"]
# what made a result of each tiny bundled model (kinema.provenance.describe; the browser tests
# read the same under each result in the page)
ABOUT = {
    "dynamics": {"model": "bundled dynamics: dynamics-render (tiny)", "resolution": "16x16",
                 "data": "swaying (synthetic)", "steps": 4},
    "cinn": {"model": "bundled cinn: cinn-flow (tiny-clouds)", "resolution": "8x8", "data": "clouds (synthetic)",
             "steps": 5},
    "cinn-control": {"model": "bundled cinn-control: cinn-flow (tiny-clouds-control)", "resolution": "8x8",
                     "data": "clouds (synthetic)", "steps": 5},
    "gendef": {"model": "bundled gendef: gendef-video (tiny)", "resolution": "8x8", "data": "clouds (synthetic)",
               "steps": 4},
    "latentgan": {"model": "bundled latentgan: latentgan-temporal (tiny)", "resolution": "16x16",
                  "data": "actors (synthetic, num_identities=1)", "steps": 4},
}


@pytest.fixture
def bundle(tiny_bundled_models, monkeypatch):
    monkeypatch.setenv("KINEMA_BUNDLED", str(tiny_bundled_models))
    return tiny_bundled_models


@pytest.fixture(scope="module")
def bundled_client(tiny_bundled_models):
    """The studio on the tiny bundle, as `kinema studio` serves it (KINEMA_BUNDLED names it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KINEMA_BUNDLED", str(tiny_bundled_models))
        with make_client(tiny_bundled_models) as client:
            yield client


def test_the_models_folder_is_the_bundle_unless_models_is_given(bundle, tmp_path, monkeypatch):
    from kinema.errors import KinemaError
    from kinema.serve.models import models_folder

    assert models_folder(None) == bundle
    assert models_folder(Path("runs")) == Path("runs")
    monkeypatch.setenv("KINEMA_BUNDLED", str(tmp_path))              # a bundle not made yet
    with pytest.raises(KinemaError, match=f"{tmp_path} holds none: make them with `{MAKE_TARGET}`"):
        models_folder(None)
    assert models_folder(tmp_path / "runs") == tmp_path / "runs"


def test_kinema_studio_without_models_starts_on_the_bundle(bundle, monkeypatch):
    """The command itself, up to the server it would start (uvicorn.run, recorded here)."""
    import uvicorn

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.append((app, options)))
    code, text = run_kinema(["studio", "--port", "7999"])
    assert code == 0, text
    [(app, options)] = started
    assert list(app.state.store.models) == NAMES and app.state.store.models_dir == bundle
    assert options["port"] == 7999 and options["host"] == "127.0.0.1"
    assert f"kinema studio: 5 model(s) from {bundle}: dynamics (dynamics-render), cinn (cinn-flow)" in text


def test_kinema_studio_without_a_bundle_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KINEMA_BUNDLED", str(tmp_path / "none"))
    code, text = run_kinema(["studio"])
    assert code == 2 and text.startswith("error: kinema studio without --models serves the bundled models")
    assert MAKE_TARGET in text and "--models runs" in text


def test_the_state_labels_every_bundled_model(bundled_client):
    models = {m["id"]: m for m in bundled_client.get("/api/state").json()["models"]}
    assert list(models) == NAMES
    assert {k: {f: m["about"][f] for f in ABOUT[k]} for k, m in models.items()} == ABOUT
    assert models["cinn"]["tabs"] == ["animate", "vary"] and models["dynamics"]["tabs"] == ["animate", "poke"]
    tabs = bundled_client.get("/api/state").json()["tabs"]
    assert not any("missing" in t or "also" in t for t in tabs)       # every tab has its model


@pytest.mark.parametrize("tab, body", [
    ("animate", {"model": "cinn", "picture": "clouds-0", "num": 1, "frames": 4}),
    ("animate", {"model": "dynamics", "picture": "swaying-0", "frames": 4}),
    ("edit", {"model": "gendef", "action": "render", "seed": 1, "frames": 4}),
    ("generate", {"model": "latentgan", "num": 1, "frames": 8}),
])
def test_each_result_is_labelled_with_its_bundled_model(tab, body, bundled_client):
    about = ABOUT[body["model"]]
    job = run_job(bundled_client, tab, body)
    assert job["state"] == "done", job
    shown = job["result"]["about"]
    assert {k: shown[k] for k in about} == about
    assert shown["caption"].startswith(f"{about['model']}, {about['resolution']}, trained {about['steps']} steps")


def test_a_photo_outside_the_bundled_models_domain_is_flagged(bundled_client):
    job = run_job(bundled_client, "animate", {"model": "cinn", "picture": "photo-astronaut", "num": 1,
                                              "frames": 4})
    domain = job["result"]["about"]["domain"]
    assert domain.startswith("This picture is outside the model's training domain")
    assert job["result"]["about"]["caption"].endswith(domain)


def test_a_tab_without_a_model_names_the_bundle(tiny_bundled_models, tmp_path, monkeypatch):
    """Served the bundle, a missing family's hint gives the make target; served a folder of one's
    own, it says that `kinema studio` without --models serves the bundled model."""
    import shutil

    from kinema.serve.models import ModelStore

    partial = tmp_path / "bundle"
    shutil.copytree(tiny_bundled_models / "cinn", partial / "cinn")
    monkeypatch.setenv("KINEMA_BUNDLED", str(partial))
    tabs = {t["name"]: t for t in ModelStore(partial).state()["tabs"]}
    assert "animate" in tabs and "missing" not in tabs["animate"]
    for name in ("poke", "edit", "generate"):
        text = tabs[name]["missing"]
        assert f"in {partial} (this studio's --models: the bundled models" in text, text
        assert f"make the bundled models with `{MAKE_TARGET}`" in text and "kinema train" in text, text
    monkeypatch.setenv("KINEMA_BUNDLED", str(tiny_bundled_models))
    (own := tmp_path / "runs").mkdir()
    tabs = {t["name"]: t for t in ModelStore(own).state()["tabs"]}
    assert f"without --models serves the bundled gendef model(s) ({tiny_bundled_models})" in tabs["edit"]["missing"]
    assert f"in {own} (this studio's --models)" in tabs["edit"]["missing"]
    assert "bundled cinn, cinn-control model(s)" in tabs["vary"]["missing"]
