"""The Animate and Poke tabs with Generative Image Dynamics, the Edit tab (GenDeF) and the Generate
tab (latent temporal GAN) against tiny trained models: what they return is the method's own
output, and scribbles and tracks mean what they say."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from kinema.nn.precision import bfloat16_is_fast
from tests.serve.conftest import run_job
from tests.serve.test_studio_api import as_uint8, frames_of

pytestmark = pytest.mark.slow      # trains GenDeF, the latent GAN and dynamics (full_models_dir)


@pytest.fixture(scope="module")
def client(full_client):
    return full_client


@pytest.fixture(scope="module")
def runs(full_models_dir):
    return full_models_dir


def media_image(client, job, k=0) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/media/{job['result']['images'][k]['media']}").content)))


def gendef(runs):
    from kinema.pretrained import load_pretrained

    return load_pretrained(runs / "gendef-video-tiny").eval()


def test_edit_render_is_the_seeds_video_and_canonical_image(client, runs):
    from kinema.methods.gendef.apps import render_seed

    job = run_job(client, "edit", {"model": "gendef-video-tiny", "action": "render", "seed": 3, "frames": 6})
    assert job["state"] == "done", job
    expected = render_seed(gendef(runs), 3, 6)
    np.testing.assert_array_equal(media_image(client, job), as_uint8(expected["canonical"])[0])
    np.testing.assert_array_equal(frames_of(client, job, 0), as_uint8(expected["frames"][0]))


def test_a_scribble_over_everything_turns_every_frame_its_colour(client, runs):
    from kinema.methods.gendef.apps import render_seed

    cover = {"colour": "#ff0000", "width": 0.5, "points": [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0], [1, 1], [1, 0], [0, 1]]}
    job = run_job(client, "edit", {"model": "gendef-video-tiny", "action": "propagate", "seed": 1,
                                   "frames": 5, "strokes": [cover]})
    assert job["state"] == "done", job
    propagated, masked = frames_of(client, job, 1), frames_of(client, job, 2)
    np.testing.assert_array_equal(propagated, np.broadcast_to([255, 0, 0], propagated.shape))
    original = as_uint8(render_seed(gendef(runs), 1, 5)["frames"][0]).astype(np.float64)
    # the mask is 1 everywhere: 0.4 x the frame + 0.6 x red, in [-1, 1] units
    red = np.array([1.0, -1.0, -1.0])
    expected = ((0.4 * (original / 127.5 - 1) + 0.6 * red) + 1) * 127.5
    assert np.abs(masked - expected).max() <= 1.0


def test_a_small_scribble_leaves_the_rest_of_the_video_alone(client, runs):
    from kinema.methods.gendef.apps import render_seed

    dot = {"colour": "#00ff00", "width": 0.1, "points": [[0.5, 0.5]]}
    job = run_job(client, "edit", {"model": "gendef-video-tiny", "action": "propagate", "seed": 2,
                                   "frames": 4, "strokes": [dot]})
    propagated = frames_of(client, job, 1).astype(int)
    original = as_uint8(render_seed(gendef(runs), 2, 4)["frames"][0]).astype(int)
    changed = np.abs(propagated - original).sum(-1) > 2                     # (t h w)
    assert 0 < changed[0].sum() < 0.25 * changed[0].size                   # only near the dot
    ys, xs = np.nonzero(changed[0])
    assert abs(xs.mean() - 3.5) < 1.5 and abs(ys.mean() - 3.5) < 1.5       # centred on it (8 px)


def test_tracked_points_land_where_the_field_sends_them(client, runs):
    from kinema.methods.gendef.apps import _sample_at, render_seed

    points = [[0.5, 0.5], [0.25, 0.75]]
    job = run_job(client, "edit", {"model": "gendef-video-tiny", "action": "track", "seed": 4,
                                   "frames": 6, "points": points})
    assert job["state"] == "done", job
    tracks = torch.tensor(job["result"]["tracks"], dtype=torch.float64)     # (n p 2) px
    model = gendef(runs)
    fields = model.to_pixels(render_seed(model, 4, 6)["fields"][0]).double()
    canonical = torch.tensor([[0.5 * 7, 0.5 * 7], [0.25 * 7, 0.75 * 7]], dtype=torch.float64)
    # Eq. (3): the pixel p of frame t shows canonical p + Delta m_t(p): p lands on the point
    landing = tracks + _sample_at(fields, tracks)
    assert (landing - canonical).norm(dim=-1).max() < 0.5
    video = frames_of(client, job, 1)
    assert video.shape == (6, 256, 256, 3)                                   # drawn at 32x for the page


def test_bad_edit_requests(client):
    for body, words in [
        ({"action": "propagate"}, "'strokes'"),
        ({"action": "propagate", "strokes": [{"colour": "red", "points": [[0, 0]]}]}, "'colour'"),
        ({"action": "propagate", "strokes": [{"points": [[2, 0]]}]}, "'points'"),
        ({"action": "track", "points": []}, "at least one"),
        ({"action": "erase"}, "'action'"),
    ]:
        response = client.post("/api/run/edit", json={"model": "gendef-video-tiny", **body})
        assert response.status_code == 400 and words in response.json()["error"], (body, response.text)


def test_generate_is_the_models_own_sampling(client, runs):
    from kinema.methods.latentgan.apps import load_model, sample_videos

    job = run_job(client, "generate", {"model": "latentgan-temporal-tiny", "num": 2, "frames": 24, "seed": 7})
    assert job["state"] == "done", job
    model = load_model(runs / "latentgan-temporal-tiny")
    videos, _ = sample_videos(model, 2, 24, 7)
    for k in range(2):
        np.testing.assert_array_equal(frames_of(client, job, k), as_uint8(videos[k]))
    plot = client.get(f"/api/jobs/{job['id']}/media/{job['result']['images'][0]['media']}")
    assert plot.headers["content-type"].startswith("image/svg+xml") and b"PC 1" in plot.content
    assert len(job["result"]["loops"]) == 2


def test_generate_with_the_actor_of_a_picture(client, runs):
    from kinema.data.pictures import frames_to_model
    from kinema.methods.latentgan.apps import load_model

    job = run_job(client, "generate", {"model": "latentgan-temporal-tiny", "num": 1, "frames": 8, "seed": 2,
                                       "identity": "picture", "picture": "photo-astronaut"})
    model = load_model(runs / "latentgan-temporal-tiny")
    with torch.no_grad():
        ws, _ = model.trajectory(1, 8, torch.Generator().manual_seed(2))
        image = frames_to_model([client.app.state.catalogue.picture("photo-astronaut")], 3, model.image.resolution)
        expected = model.render(model.transfer(ws, model.identity_of(image)))
    np.testing.assert_array_equal(frames_of(client, job, 0), as_uint8(expected[0]))
    random = run_job(client, "generate", {"model": "latentgan-temporal-tiny", "num": 1, "frames": 8, "seed": 2,
                                          "identity": "random"})
    assert not np.array_equal(frames_of(client, random, 0), frames_of(client, job, 0))
    response = client.post("/api/run/generate", json={"model": "latentgan-temporal-tiny", "identity": "picture"})
    assert response.status_code == 400 and "'picture'" in response.json()["error"]


def dynamics(runs):
    from kinema.methods.dynamics.apps import load_sampler

    return load_sampler(runs / "dynamics-render-tiny")


def test_animate_with_dynamics_loops_slows_and_magnifies(client, runs):
    from kinema.data.pictures import frames_to_model
    from kinema.methods.dynamics.apps import animate, spectral_volume_picture
    from kinema.viz.report import encode_png

    state = {m["id"]: m for m in client.get("/api/state").json()["models"]}
    assert state["dynamics-render-tiny"]["tabs"] == ["animate", "poke"]
    assert all(state[f"dynamics-{s}-tiny"]["tabs"] == [] for s in ("vae", "diffusion", "attention"))
    body = {"model": "dynamics-render-tiny", "picture": "swaying-0", "frames": 10, "seed": 3,
            "loop": True, "slowmo": 2.0, "magnify": 3.0}
    job = run_job(client, "animate", body)
    assert job["state"] == "done", job
    renderer = dynamics(runs)
    image = frames_to_model([client.app.state.catalogue.picture("swaying-0")], 3, tuple(renderer.motion.image_size))
    videos, volumes = animate(renderer, image, num_frames=10, num_samples=1, seed=3, loop=True, slowmo=2.0,
                              magnify=3.0, progress=False)
    np.testing.assert_array_equal(frames_of(client, job, 0), as_uint8(videos[0]))
    np.testing.assert_array_equal(media_image(client, job), np.asarray(Image.open(io.BytesIO(
        encode_png(spectral_volume_picture(volumes[0]), min_size=128)))))
    assert "loop" in job["result"]["videos"][0]["label"] and "x2" in job["result"]["videos"][0]["label"]
    response = client.post("/api/run/animate", json={**body, "control": 2})
    assert response.status_code == 400 and "control" in response.json()["error"]


def test_poke_streams_the_modal_simulation(client, runs):
    from kinema.data.pictures import frames_to_model
    from kinema.methods.dynamics.modal import poke_frames
    from kinema.methods.dynamics.sampling import predict_spectral_volume
    from tests.serve.test_studio_safety import poke_message, receive_poke

    message = poke_message(model="dynamics-render-tiny", picture="swaying-1", point=[0.5, 0.25],
                           drag=[0.2, -0.1], damping=0.1, stiffness=2.0, frames=8)
    with client.websocket_connect("/api/poke") as ws:
        ws.send_json({"type": "prepare", "model": "dynamics-render-tiny", "picture": "swaying-1"})
        ready = ws.receive_json()
        ws.send_json(message)
        start, frames, end = receive_poke(ws)
    assert {k: ready[k] for k in ("type", "picture")} == {"type": "ready", "picture": "swaying-1"}
    assert ready["about"]["model"] == "dynamics-render (tiny)"     # the provenance: stage (preset)
    assert (start["width"], start["height"], end["frames"]) == (16, 16, 8)
    renderer = dynamics(runs)
    image = frames_to_model([client.app.state.catalogue.picture("swaying-1")], 3, (16, 16))
    with torch.no_grad():
        volume = predict_spectral_volume(renderer.motion, image, seed=0, sampler="dpm", progress=False)[0, 0]
    # the drag in px is the poke's force (the most the poked pixel swings)
    expected = torch.stack(list(poke_frames(renderer, image, volume, renderer.motion.period, (0.5 * 15, 0.25 * 15),
                                            (0.2 * 16, -0.1 * 16), 8, stiffness=2.0, damping=0.1,
                                            bfloat16=start["precision"] == "bfloat16 decoder")))
    assert start["precision"] == ("bfloat16 decoder" if bfloat16_is_fast() else "float32")
    np.testing.assert_array_equal(frames[..., :3], as_uint8(expected))
