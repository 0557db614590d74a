"""The tiny bundle of the demo's tests: ``tests/tiny_bundle.py``'s (every bundled name but ile,
which is no verb's default) copied, with a tiny ILE trained and exported beside it, so that every
section of ``kinema demo`` reads a bundled model. The ILE is 16 px (its tiny preset's 8 px is
below SSIM's 11-px window, and the demo scores ILE's predictions)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

ILE_SIZE = 16


def demo_bundle(tiny_bundle: Path | None, root: Path) -> Path:
    """``tiny_bundle`` copied to ``root/bundled`` (None: no other model) with the tiny ILE
    exported into it; returns it."""
    import pytest

    import kinema.domain
    from kinema.bundled import BY_NAME
    from kinema.bundled.export import export
    from kinema.registry import method_entry, resolve
    from kinema.train.recipes import train_recipe
    from tests.tiny_bundle import DOMAIN_PICTURES

    bundle = root / "bundled"
    if tiny_bundle is not None:
        shutil.copytree(tiny_bundle, bundle)
    recipe = resolve(method_entry("ile").recipe)("tiny")
    recipe = dataclasses.replace(
        recipe, model=dataclasses.replace(recipe.model, image_size=ILE_SIZE),
        data=dataclasses.replace(recipe.data, options={**recipe.data.options, "size": ILE_SIZE}))
    runs = root / "runs"
    train_recipe(recipe, runs / BY_NAME["ile"].run, tensorboard=False, progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kinema.domain, "REFERENCE_PICTURES", DOMAIN_PICTURES[0])
        patch.setattr(kinema.domain, "HELD_OUT_PICTURES", DOMAIN_PICTURES[1])
        export(["ile"], runs, bundle)
    kinema.domain._cache.clear()
    shutil.rmtree(runs)
    return bundle
