"""Every studio result says what made it (``about``: kinema.provenance) and, for a picture
outside the model's training domain, one measured sentence."""
from __future__ import annotations

from tests.serve.conftest import run_job

TINY_CLOUDS = {"model": "cinn-flow (tiny-clouds)", "resolution": "8x8", "data": "clouds (synthetic)",
               "steps": 5}


def test_state_lists_each_models_about(client):
    models = {m["id"]: m for m in client.get("/api/state").json()["models"]}
    about = models["cinn-flow-tiny-clouds"]["about"]
    assert {k: about[k] for k in TINY_CLOUDS} == TINY_CLOUDS and about["domain"] is None
    assert about["caption"] == "cinn-flow (tiny-clouds), 8x8, trained 5 steps on clouds (synthetic)"
    assert models["cinn-autoencoder-tiny"]["about"]["model"] == "cinn-autoencoder (tiny-clouds)"


def test_a_photograph_is_flagged_and_a_clouds_picture_is_not(client):
    body = {"model": "cinn-flow-tiny-clouds", "num": 1, "frames": 4, "seed": 0}
    photo = run_job(client, "animate", {**body, "picture": "photo-astronaut"})["result"]["about"]
    assert {k: photo[k] for k in TINY_CLOUDS} == TINY_CLOUDS
    assert photo["domain"].startswith("This picture is outside the model's training domain")
    assert photo["caption"].endswith(photo["domain"])
    cloud = run_job(client, "animate", {**body, "picture": "clouds-0"})["result"]["about"]
    assert cloud["domain"] is None and cloud["caption"] == photo["caption"].split(". ")[0]


def test_vary_results_carry_the_about_too(client):
    job = run_job(client, "vary", {"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee",
                                   "num": 2, "frames": 4})
    assert job["result"]["about"]["steps"] == 5 and job["result"]["about"]["domain"]
