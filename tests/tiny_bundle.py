"""A folder of tiny bundled models for the tests (``KINEMA_BUNDLED``): every method's tiny preset
but ILE's trained by the real Trainer (``tests/serve/conftest.py``'s ``train_tiny_*``, ~10 s in
all), named as ``kinema.bundled.BUNDLED`` names the runs, and exported by the real export
(``kinema.bundled.export.export``: standalone recipe, last metrics line, 16-bit weights where the
fidelity check allows, domain.json, card), with the domain references measured on fewer
pictures. The runs are deleted afterwards, so a test that reads a bundled model can only have
read the bundle.
"""
from __future__ import annotations

import shutil
from pathlib import Path

# bundled name -> the tiny run it is made from
TINY_RUNS = {"dynamics": "dynamics-render-tiny", "cinn": "cinn-flow-tiny-clouds",
             "cinn-control": "cinn-flow-tiny-clouds-control", "gendef": "gendef-video-tiny",
             "latentgan": "latentgan-temporal-tiny"}
# the domain references are measured on this many pictures (kinema.domain measures 256 + 256;
# the swaying pictures alone take ~7 s at that count)
DOMAIN_PICTURES = (24, 12)


def build_tiny_bundle(root: Path) -> Path:
    """Train the tiny runs under ``root/runs``, export them into ``root/bundled`` and delete
    the runs; returns the bundle folder (for ``KINEMA_BUNDLED``)."""
    import pytest

    import kinema.domain
    from kinema.bundled import BY_NAME
    from kinema.bundled.export import export
    from tests.serve.conftest import train_tiny_cinn, train_tiny_dynamics, train_tiny_generators

    runs = root / "runs"
    train_tiny_cinn(runs)
    train_tiny_generators(runs)
    train_tiny_dynamics(runs)
    for name, run in TINY_RUNS.items():          # where the export looks: runs/<BUNDLED run>
        (runs / run).rename(runs / BY_NAME[name].run)
    bundle = root / "bundled"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kinema.domain, "REFERENCE_PICTURES", DOMAIN_PICTURES[0])
        patch.setattr(kinema.domain, "HELD_OUT_PICTURES", DOMAIN_PICTURES[1])
        export(list(TINY_RUNS), runs, bundle)
    kinema.domain._cache.clear()                 # later readers read domain.json, as a user's do
    shutil.rmtree(runs)
    return bundle
