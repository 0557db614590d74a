"""The studio's API against tiny trained cINNs: discovery, every tab's endpoint by its values,
the "not trained yet" messages, and that bad requests get a 4xx JSON message."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from tests.serve.conftest import run_job


def frames_of(client, job: dict, k: int) -> np.ndarray:
    """A result video's frames (t h w 3) from its sprite sheet."""
    video = job["result"]["videos"][k]
    sheet = np.asarray(Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/media/{video['media']}").content)))
    h, w, cols = video["height"], video["width"], video["columns"]
    return np.stack([sheet[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w]
                     for i in range(video["frames"])])


def load_flow(models_dir, name):
    from kinema.methods.cinn.model import CINN

    return CINN.from_pretrained(models_dir / name / "model").eval()


def model_input(client, model, picture_id):
    from kinema.data.pictures import frames_to_model

    picture = client.app.state.catalogue.picture(picture_id)
    return frames_to_model([picture], model.video_config.channels, model.video_config.image_size)


def as_uint8(video):
    from kinema.data.io import to_uint8

    return to_uint8(video)


def test_discovery_reads_config_class_and_registry(client):
    state = client.get("/api/state").json()
    models = {m["id"]: m for m in state["models"]}
    assert set(models) == {"cinn-autoencoder-tiny", "cinn-image-encoder-tiny", "cinn-flow-tiny-clouds",
                           "cinn-flow-tiny-clouds-control", "poke-standin"}
    flow = models["cinn-flow-tiny-clouds-control"]
    assert flow["class"] == "kinema.methods.cinn.model:CINN" and flow["family"] == "cinn"
    assert flow["tabs"] == ["animate", "vary"]
    assert flow["info"]["control_bins"] == 36 and flow["info"]["shape"] == [8, 8]
    assert models["cinn-flow-tiny-clouds"]["info"]["control_bins"] == 0
    assert models["cinn-autoencoder-tiny"]["tabs"] == []         # a stage, not a sampler
    assert models["poke-standin"]["tabs"] == ["poke"]
    assert any("foreign" in note and "somewhere.else:Model" in note for note in state["skipped"])
    assert all("notes" not in note for note in state["skipped"])  # not a model folder: ignored


def test_models_load_once_and_are_cached(client):
    served = client.app.state.store.models["cinn-flow-tiny-clouds"]
    body = {"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "num": 1}
    run_job(client, "animate", body)
    first = served.load()
    run_job(client, "animate", body)
    assert served.load() is first


def models_dir_empty(client):
    return client.app.state.store.models_dir.parent / "empty-runs"


def test_tabs_without_a_model_name_the_train_commands(client):
    from kinema.registry import METHODS
    from kinema.serve.models import train_commands
    from kinema.serve.train_times import measured_on, studio_runs
    from kinema.train_times import load_times

    tabs = {t["name"]: t for t in client.get("/api/state").json()["tabs"]}
    assert all("missing" not in tabs[name] for name in ("animate", "poke", "vary"))
    # the cINN serves Animate; dynamics has no model here: named beside the working tab
    # times from the one measured table, kinema/train_times.json
    vae = load_times()[("dynamics-vae", "tiny")]["seconds"]
    assert f"`kinema train dynamics-vae --preset tiny` ({vae:.0f} s)" in tabs["animate"]["also"]
    assert "also" not in tabs["vary"]
    image = load_times()[("gendef-image", "tiny")]["seconds"]
    assert f"`kinema train gendef-image --preset tiny` ({image:.0f} s)" in tabs["edit"]["missing"]
    (empty := models_dir_empty(client)).mkdir(exist_ok=True)
    from kinema.serve.models import ModelStore
    bare = {t["name"]: t for t in ModelStore(empty).state()["tabs"]}
    for name, family in (("edit", "gendef"), ("generate", "latentgan"), ("poke", "dynamics"),
                         ("vary", "cinn")):
        stages = [e.name for e in METHODS.values() if e.family == family]
        text = bare[name]["missing"]
        if stages:   # landed: every stage's `kinema train` command, in training order, timed
            runs = studio_runs(stages)
            assert " && ".join(f"`kinema train {s} --preset {p}` ({t:.0f} s)" for s, p, t in runs) in text, text
            assert f"{sum(t for *_, t in runs):.0f} s in all ({measured_on()}" in text, text
        else:
            assert "not in this kinema yet" in text
        assert f"in {empty} (this studio's --models)" in text and "kinema studio --models runs" in text
    assert "not in this kinema yet" in train_commands("no-such-family")
    cinn = train_commands("cinn")
    assert cinn.index("cinn-autoencoder --preset tiny-clouds") < cinn.index("cinn-image-encoder") < cinn.index("cinn-flow")
    assert "tiny-clouds-control" not in cinn                 # one run per stage


def test_animate_returns_the_models_own_samples(client, models_dir):
    from kinema.methods.cinn.apps import animate

    job = run_job(client, "animate", {"model": "cinn-flow-tiny-clouds", "picture": "photo-astronaut",
                                      "num": 2, "frames": 6, "seed": 5})
    assert job["state"] == "done", job
    model = load_flow(models_dir, "cinn-flow-tiny-clouds")
    x0 = model_input(client, model, "photo-astronaut")
    for i in range(2):
        got = frames_of(client, job, i)
        assert got.shape == (6, 8, 8, 3)
        expected = as_uint8(animate(model, x0, 6, 1, seed=5 + i)[0, 0])
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got[0], as_uint8(x0)[0])       # frame 0 is the picture
        assert len({f.tobytes() for f in got}) > 1
    assert not np.array_equal(frames_of(client, job, 0), frames_of(client, job, 1))


def test_vary_control_sweeps_eta(client, models_dir):
    from kinema.methods.cinn.apps import animate

    name = "cinn-flow-tiny-clouds-control"
    job = run_job(client, "vary", {"model": name, "picture": "photo-chelsea", "mode": "control",
                                   "controls": [3, 20], "seed": 1})
    assert [v["label"] for v in job["result"]["videos"]] == ["eta = bin 3 of 36", "eta = bin 20 of 36"]
    model = load_flow(models_dir, name)
    x0 = model_input(client, model, "photo-chelsea")
    for k, bin_ in enumerate((3, 20)):
        np.testing.assert_array_equal(frames_of(client, job, k),
                                      as_uint8(animate(model, x0, 4, 1, control=[bin_], seed=1)[0, 0]))
    default = run_job(client, "vary", {"model": name, "picture": "photo-chelsea", "mode": "control"})
    assert [v["label"] for v in default["result"]["videos"]] == [
        f"eta = bin {b} of 36" for b in (0, 9, 18, 27)]


def test_vary_transfer_uses_the_chosen_clips_motion(client, models_dir):
    from kinema.methods.cinn.apps import transfer_motion
    from kinema.data import load_dataset

    name = "cinn-flow-tiny-clouds-control"
    job = run_job(client, "vary", {"model": name, "picture": "photo-rocket", "mode": "transfer",
                                   "clip": "clip-clouds-1"})
    assert job["state"] == "done", job
    item = load_dataset("clouds", "test", num_videos=2, num_frames=4, size=8)[1]
    np.testing.assert_array_equal(frames_of(client, job, 0), as_uint8(item["video"]))
    model = load_flow(models_dir, name)
    x0 = model_input(client, model, "photo-rocket")
    expected = transfer_motion(model, item["video"][None], x0, source_control=[int(item["eta"])])[0]
    np.testing.assert_array_equal(frames_of(client, job, 1), as_uint8(expected))
    # a digits clip has 16 bins, not the clouds model's 36: refused, naming both
    wrong = run_job(client, "vary", {"model": name, "picture": "photo-rocket", "mode": "transfer",
                                     "clip": "clip-bouncing-digits-0"})
    assert wrong["state"] == "error" and wrong["status"] == 400
    assert "36" in wrong["error"] and "clip-bouncing-digits-0" in wrong["error"]


def test_vary_samples_differ_from_each_other(client):
    job = run_job(client, "vary", {"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee",
                                   "mode": "samples", "num": 3})
    videos = [frames_of(client, job, k) for k in range(3)]
    assert all(np.array_equal(v[0], videos[0][0]) for v in videos)       # same start frame
    assert len({v.tobytes() for v in videos}) == 3


@pytest.mark.parametrize("body, status, words", [
    ({"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "loop": True}, 400, "loop"),
    ({"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "num": 99}, 400, "'num'"),
    ({"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "num": "2"}, 400, "'num'"),
    ({"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "colour": 1}, 400, "'colour'"),
    ({"model": "cinn-flow-tiny-clouds"}, 400, "'picture' is required"),
    ({"model": "../cinn-flow-tiny-clouds", "picture": "photo-coffee"}, 404, "no model"),
    ({"model": "cinn-autoencoder-tiny", "picture": "photo-coffee"}, 400, "intermediate stage"),
    ({"model": "cinn-flow-tiny-clouds", "picture": "../../etc/passwd"}, 404, "no picture"),
    ({"model": "cinn-flow-tiny-clouds", "picture": "/etc/passwd"}, 404, "no picture"),
    ({"model": "poke-standin", "picture": "photo-coffee"}, 400, "does not serve the animate tab"),
])
def test_bad_animate_requests_are_4xx_json(client, body, status, words):
    response = client.post("/api/run/animate", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert "Traceback" not in response.text


def test_errors_found_while_running_are_job_errors(client):
    job = run_job(client, "animate", {"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "control": 3})
    assert job["state"] == "error" and job["status"] == 400 and "without a control eta" in job["error"]
    job = run_job(client, "animate", {"model": "cinn-flow-tiny-clouds-control", "picture": "photo-coffee"})
    assert job["status"] == 400 and "0..35" in job["error"]
    job = run_job(client, "animate", {"model": "cinn-flow-tiny-clouds-control", "picture": "photo-coffee",
                                      "control": 36})
    assert job["status"] == 400 and "0..35" in job["error"]


def test_bad_requests_and_paths_never_show_a_traceback(client):
    cases = [
        (client.post("/api/run/animate", content=b"{not json", headers={"content-type": "application/json"}), 400, "JSON"),
        (client.post("/api/run/animate", content=b"{}"), 415, "Content-Type must be application/json"),
        (client.post("/api/run/animate", json=[1, 2]), 400, "JSON object"),
        (client.post("/api/run/nope", json={}), 404, "no tab"),
        (client.post("/api/run/poke", json={}), 404, "no tab"),
        (client.get("/api/run/animate"), 405, "not allowed"),
        (client.get("/api/pictures/..%2F..%2Fetc%2Fpasswd"), 404, "no such page"),
        (client.get("/api/pictures/..passwd"), 404, "no picture"),
        (client.get("/api/pictures/upload-000000000000"), 404, "no picture"),
        (client.get("/api/clips/..%2Fclip"), 404, "no such page"),
        (client.get("/api/clips/~root"), 404, "no clip"),
        (client.get("/static/..%2F..%2Fpyproject.toml"), 404, ""),
        (client.get("/static/app.py"), 404, "no static file"),
        (client.get("/api/jobs/../../etc"), 404, ""),
        (client.get("/api/jobs/deadbeef"), 404, "no job"),
        (client.get("/api/jobs/deadbeef/media/0"), 404, "no job"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert words in response.json()["error"] and "Traceback" not in response.text


def test_page_and_assets_are_served_from_the_package_without_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"poke-canvas\"" in page.text
    for name, kind in (("studio.js", "javascript"), ("canvas.js", "javascript"), ("studio.css", "css")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert "http://" not in asset.text and "https://" not in asset.text
    assert "http" not in page.text.replace("http-equiv", "")


def test_catalogue_pictures_and_clips(client):
    state = client.get("/api/state").json()
    ids = {p["id"] for p in state["pictures"]}
    assert {"photo-astronaut", "swaying-0", "clouds-0"} <= ids
    image = Image.open(io.BytesIO(client.get("/api/pictures/photo-astronaut").content))
    assert image.size == (256, 160)
    import skimage.data

    from kinema.serve.media import fit
    np.testing.assert_array_equal(np.asarray(image), fit(skimage.data.astronaut(), 160, 256))
    clip = Image.open(io.BytesIO(client.get("/api/clips/clip-clouds-0").content))
    assert clip.size == (64 * 8, 64)                 # 8 frames of 64 px in one row


def test_progress_is_visible_while_a_job_runs(client):
    import threading

    release = threading.Event()

    def work(progress):
        progress(0.4, "half way there")
        release.wait(5)
        from kinema.serve.jobs import Result
        return Result({"videos": []})

    job = client.app.state.jobs.submit("animate", work)
    for _ in range(200):
        state = client.get(f"/api/jobs/{job.id}").json()
        if state["stage"] == "half way there":
            break
        threading.Event().wait(0.01)
    assert state["state"] == "running" and state["progress"] == pytest.approx(0.4)
    release.set()
    assert client.app.state.jobs.wait(job.id).state == "done"


def test_train_times_cover_the_makefiles_studio_runs():
    """The measured times are of exactly the runs `make studio-tiny` trains, in its order."""
    import re
    from pathlib import Path

    from kinema.serve.train_times import STUDIO_RUNS

    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    listed = re.search(r"^STUDIO_RUNS := (.*?)\n\n", makefile, re.S | re.M).group(1)
    runs = [tuple(run.split(":")) for run in listed.replace("\\\n", " ").split()]
    assert runs == list(STUDIO_RUNS)
    from kinema.train_times import load_times

    assert all(run in load_times() for run in STUDIO_RUNS)        # each one measured
