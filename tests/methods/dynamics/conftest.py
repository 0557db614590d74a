"""Tiny Generative Image Dynamics runs shared by the dynamics tests: the three motion stages
trained for the tiny preset's 4 steps each by the real ``kinema train`` path, once per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """{"cache": dir, "vae": run, "diffusion": run, "attention": run} (run folders hold model/)."""
    from kinema.methods.dynamics.config import attention_recipe, diffusion_recipe, vae_recipe
    from kinema.train.recipes import train_recipe

    root = tmp_path_factory.mktemp("dynamics-runs")
    runs = {"cache": root / "cache"}
    for stage, make in (("vae", vae_recipe), ("diffusion", diffusion_recipe), ("attention", attention_recipe)):
        recipe = make("tiny")
        recipe.data.options["cache_dir"] = str(runs["cache"])
        if stage == "diffusion":
            recipe.model.vae_path = str(runs["vae"])
        if stage == "attention":
            recipe.model.diffusion_path = str(runs["diffusion"])
        runs[stage] = root / stage
        train_recipe(recipe, runs[stage], tensorboard=False, progress=False)
    return runs
