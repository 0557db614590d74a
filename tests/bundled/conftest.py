"""Tiny trained runs of three bundled models (one per task: cinn image-to-video, gendef generation,
ile prediction), trained once per session by the real Trainer in a few seconds, named as
``kinema.bundled.BUNDLED`` names their runs, and their export by ``kinema.bundled.export``."""
from __future__ import annotations

from pathlib import Path

import pytest

TINY_NAMES = ("cinn", "gendef", "ile")
DOMAIN_PICTURES = (24, 12)     # kinema.domain measures 256 + 256 pictures; a test needs fewer


def train_tiny_runs(runs: Path) -> Path:
    """``runs/cinn-flow-small-clouds`` (and its two earlier stages), ``runs/gendef-video-small``
    (and gendef-image), ``runs/ile-small``: tiny presets, seconds in all."""
    from kinema.train.recipes import build_recipe, train_recipe

    quiet = dict(tensorboard=False, progress=False)
    train_recipe(build_recipe("ile", "tiny"), runs / "ile-small", **quiet)
    image = train_recipe(build_recipe("gendef-image", "tiny"), runs / "gendef-image-tiny", **quiet)
    train_recipe(build_recipe("gendef-video", "tiny", overrides=[f"model.image_path={image}"]),
                 runs / "gendef-video-small", **quiet)
    ae = train_recipe(build_recipe("cinn-autoencoder", "tiny-clouds"),
                      runs / "cinn-autoencoder-tiny-clouds", **quiet)
    encoder = train_recipe(build_recipe("cinn-image-encoder", "tiny-clouds"),
                           runs / "cinn-image-encoder-tiny-clouds", **quiet)
    train_recipe(build_recipe("cinn-flow", "tiny-clouds", overrides=[
        f"model.autoencoder_path={ae.parent}", f"model.image_encoder_path={encoder.parent}"]),
        runs / "cinn-flow-small-clouds", **quiet)
    return runs


def export_quickly(names, runs: Path, to: Path) -> list[dict]:
    """``kinema.bundled.export.export`` with the domain references measured on few pictures."""
    import kinema.domain
    from kinema.bundled.export import export

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kinema.domain, "REFERENCE_PICTURES", DOMAIN_PICTURES[0])
        patch.setattr(kinema.domain, "HELD_OUT_PICTURES", DOMAIN_PICTURES[1])
        cards = export(list(names), runs, to)
    kinema.domain._cache.clear()
    return cards


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> Path:
    return train_tiny_runs(tmp_path_factory.mktemp("bundled-runs") / "runs")


@pytest.fixture(scope="session")
def tiny_bundle(tiny_runs, tmp_path_factory) -> tuple[Path, dict]:
    """(the bundle folder, {name: card}) of the tiny runs' export."""
    to = tmp_path_factory.mktemp("bundled") / "models"
    cards = export_quickly(TINY_NAMES, tiny_runs, to)
    return to, {card["name"]: card for card in cards}
