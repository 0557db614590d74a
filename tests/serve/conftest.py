"""Tiny trained models for the studio's tests, trained once per session by the real Trainer
(``kinema.train.cli.train_recipe``, the code behind ``kinema train``) in a few seconds."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

STANDIN = {"poke-standin": "tests.serve.standin"}


def train_tiny_cinn(root):
    """The cINN's three tiny-clouds stages (8 px, 4 frames, 5 steps each) and a second flow with
    the control eta (36 direction bins); returns the run folders."""
    from kinema.methods.cinn.config import autoencoder_recipe, flow_recipe, image_encoder_recipe
    from kinema.train.recipes import train_recipe

    quiet = dict(tensorboard=False, progress=False)
    ae = train_recipe(autoencoder_recipe("tiny-clouds"), root / "cinn-autoencoder-tiny", **quiet)
    image = train_recipe(image_encoder_recipe("tiny-clouds"), root / "cinn-image-encoder-tiny", **quiet)
    for preset in ("tiny-clouds", "tiny-clouds-control"):
        recipe = flow_recipe(preset)
        recipe = dataclasses.replace(recipe, model=dataclasses.replace(
            recipe.model, autoencoder_path=str(ae), image_encoder_path=str(image)))
        train_recipe(recipe, root / f"cinn-flow-{preset}", **quiet)
    return root


def train_tiny_generators(root):
    """GenDeF (gendef-image, gendef-video) and the latent temporal GAN (latentgan-image,
    latentgan-embed, latentgan-temporal) at their tiny presets, each stage reading the one before."""
    from kinema.registry import method_entry, resolve
    from kinema.stages import stage_fields
    from kinema.train.recipes import train_recipe

    made = {}
    for stage in ("gendef-image", "gendef-video", "latentgan-image", "latentgan-embed", "latentgan-temporal"):
        recipe = resolve(method_entry(stage).recipe)("tiny")
        earlier = {f: str(made[s]) for f, s in stage_fields(recipe.model).items() if s in made}
        recipe = dataclasses.replace(recipe, model=dataclasses.replace(recipe.model, **earlier))
        if "path" in recipe.data.options and "latentgan-embed" in made:   # the temporal GAN's data
            recipe = dataclasses.replace(recipe, data=dataclasses.replace(
                recipe.data, options={**recipe.data.options, "path": str(made["latentgan-embed"])}))
        made[stage] = train_recipe(recipe, root / f"{stage}-tiny", tensorboard=False, progress=False)
    return made


@contextlib.contextmanager
def standin_registered():
    """The stand-in's registry entry, only while a studio discovers its models (then removed,
    so no other test sees an extra method)."""
    from kinema.registry import METHODS, available_methods
    from tests.serve.standin import ENTRY

    available_methods()
    METHODS[ENTRY.name] = ENTRY
    try:
        yield ENTRY
    finally:
        METHODS.pop(ENTRY.name, None)


def studio_app(models_dir, **settings):
    from kinema.serve.app import StudioSettings, create_app
    from kinema.serve.models import ADAPTERS

    with standin_registered():
        return create_app(models_dir, StudioSettings(**settings), adapters={**ADAPTERS, **STANDIN})


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """runs/-like folder: the cINN's stages, the poke stand-in, a folder that is no model and a
    model of a class no method registers."""
    from tests.serve.standin import ModalStandIn, StandInConfig

    root = tmp_path_factory.mktemp("studio-runs")
    train_tiny_cinn(root)
    ModalStandIn(StandInConfig()).save_pretrained(root / "poke-standin" / "model")
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a model")
    (root / "foreign" / "model").mkdir(parents=True)
    (root / "foreign" / "model" / "config.json").write_text(json.dumps(
        {"class": "somewhere.else:Model", "config": {}}))
    return root


def train_tiny_dynamics(root):
    """Generative Image Dynamics at its tiny preset (16 px): VAE, stage A, stage B, renderer."""
    from kinema.registry import method_entry, resolve
    from kinema.stages import stage_fields
    from kinema.train.recipes import train_recipe

    made = {}
    for stage in ("dynamics-vae", "dynamics-diffusion", "dynamics-attention", "dynamics-render"):
        recipe = resolve(method_entry(stage).recipe)("tiny")
        # only the stage fields the preset uses (the renderer reads stage B, not stage A)
        earlier = {f: str(made[s]) for f, s in stage_fields(recipe.model).items()
                   if s in made and getattr(recipe.model, f)}
        recipe = dataclasses.replace(recipe, model=dataclasses.replace(recipe.model, **earlier))
        recipe = dataclasses.replace(recipe, data=dataclasses.replace(    # caches: not in ./runs
            recipe.data, options={**recipe.data.options, "cache_dir": str(root / ".cache" / stage)}))
        made[stage] = train_recipe(recipe, root / f"{stage}-tiny", tensorboard=False, progress=False)
    return made


@pytest.fixture(scope="session")
def full_models_dir(models_dir, tmp_path_factory):
    """Every method: the cINN folder's runs plus tiny GenDeF, latent-GAN and dynamics runs
    (slow tests: the dynamics stages import diffusers and train four stages)."""
    root = tmp_path_factory.mktemp("studio-all-runs")
    for child in models_dir.iterdir():
        (root / child.name).symlink_to(child)
    train_tiny_generators(root)
    train_tiny_dynamics(root)
    return root


@pytest.fixture(scope="module")
def full_client(full_models_dir):
    with make_client(full_models_dir) as c:
        yield c


def make_client(models_dir, **settings):
    from starlette.testclient import TestClient

    return TestClient(studio_app(models_dir, **settings), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(models_dir):
    with make_client(models_dir) as c:
        yield c


def wait_job(client, job: str, timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = client.get(f"/api/jobs/{job}").json()
        if state["state"] in ("done", "error"):
            return state
        time.sleep(0.02)
    raise AssertionError(f"job {job} did not finish in {timeout} s: {state}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def kinema_studio(bundle, log_path, timeout: float = 120.0):
    """``kinema studio`` without ``--models``, as a user starts it: its own process, serving the
    bundled models (``KINEMA_BUNDLED=bundle``) on a free loopback port; its URL once it answers.
    What it prints goes to ``log_path`` (shown if it fails to start)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "kinema", "studio", "--port", str(port)],
                                   env={**os.environ, "KINEMA_BUNDLED": str(bundle)},
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/api/state", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > end:
                    raise AssertionError(f"kinema studio did not start:\n{open(log_path).read()}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:       # a job still running: it is not waited for
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def bundled_studio(tiny_bundled_models, tmp_path_factory):
    """The URL of ``kinema studio`` on the tiny bundle (one process for the session's browser
    tests, so each bundled model is loaded once)."""
    with kinema_studio(tiny_bundled_models, tmp_path_factory.mktemp("studio-log") / "studio.log") as url:
        yield url


def run_job(client, tab: str, body: dict) -> dict:
    response = client.post(f"/api/run/{tab}", json=body)
    assert response.status_code == 202, response.text
    return wait_job(client, response.json()["job"])
